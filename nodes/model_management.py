"""Loaded-model cache: each file loaded once and shared, LRU under a memory budget, device and
dtype chosen per device, weights moved to the GPU only while used and off it when memory is short.

One ModelManager lives per Engine (registered as the "models" service), never as a global.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

SERVICE = "models"


def module_bytes(module: Any) -> int:
    """Bytes of a module's parameters and buffers (0 for anything else)."""
    if not isinstance(module, torch.nn.Module):
        return 0
    tensors = [*module.parameters(), *module.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def pick_device(name: str | None = None) -> torch.device:
    """`NODEGRAPH_DEVICE` (cpu, cuda, cuda:1, mps) or the best available device."""
    name = name or os.environ.get("NODEGRAPH_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


@dataclass(frozen=True)
class Dtypes:
    """Weight dtypes per model part for one device."""

    unet: torch.dtype
    text: torch.dtype
    vae: torch.dtype

    @staticmethod
    def for_device(device: torch.device) -> Dtypes:
        """fp32 on CPU (no fast half-precision units here); fp16 UNet and text encoder on CUDA,
        and a bf16 VAE where supported (SD VAEs can overflow in fp16)."""
        if device.type == "cuda":
            vae = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32
            return Dtypes(unet=torch.float16, text=torch.float16, vae=vae)
        if device.type == "mps":
            return Dtypes(unet=torch.float16, text=torch.float16, vae=torch.float32)
        return Dtypes(unet=torch.float32, text=torch.float32, vae=torch.float32)


def default_budget() -> int:
    """Half the machine's RAM, for models kept loaded between prompts."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        total = 16 * 1024**3
    return int(total * 0.5)


@dataclass
class _Entry:
    value: Any
    size: int


class ModelManager:
    """Loads model files once (keyed by path, size and mtime) and shares them between prompts."""

    def __init__(
        self,
        settings: Any = None,
        *,
        device: torch.device | str | None = None,
        budget_bytes: int | None = None,
    ) -> None:
        self.settings = settings
        self.device = pick_device(str(device) if device is not None else None)
        self.dtypes = Dtypes.for_device(self.device)
        self.budget = budget_bytes if budget_bytes is not None else default_budget()
        self._entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()
        self._on_device: OrderedDict[int, torch.nn.Module] = OrderedDict()
        self._lock = threading.RLock()
        self.loads = 0
        """How many times a loader actually ran (tests and stats read it)."""

    # -- loading -------------------------------------------------------------------------------

    def load(
        self,
        kind: str,
        path: Path,
        loader: Callable[[], Any],
        size_of: Callable[[Any], int] | None = None,
    ) -> Any:
        """The object `loader()` builds from `path`, built once while the file is unchanged."""
        key = (kind, *file_identity(path))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry.value
            log.info("loading %s %s", kind, path)
            value = loader()
            self.loads += 1
            size = (size_of or _value_bytes)(value)
            self._entries[key] = _Entry(value, size)
            self._evict(keep=key)
            return value

    def loaded(self) -> list[tuple[str, str, int]]:
        """(kind, path, bytes) of everything loaded, least recently used first."""
        with self._lock:
            return [(k[0], str(k[1]), e.size) for k, e in self._entries.items()]

    def _evict(self, keep: tuple[Any, ...]) -> None:
        total = sum(e.size for e in self._entries.values())
        for key in list(self._entries):
            if total <= self.budget:
                break
            if key == keep:
                continue
            total -= self._entries.pop(key).size
            log.info("unloading %s %s (memory budget)", key[0], key[1])

    def free(self) -> None:
        """Forget every loaded model (ComfyUI's /free unload_models); shared weights go once the
        last workflow output that points at them is gone."""
        with self._lock:
            for module in self._on_device.values():
                module.to("cpu")
            self._on_device.clear()
            self._entries.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    # -- placement -----------------------------------------------------------------------------

    @contextmanager
    def use(self, *modules: torch.nn.Module) -> Iterator[torch.device]:
        """Run with `modules` on the compute device; on a GPU they stay there afterwards until
        memory is needed for others (least recently used leave first)."""
        if self.device.type == "cpu":
            yield self.device
            return
        with self._lock:
            for module in modules:
                self._to_device(module)
        yield self.device

    def _to_device(self, module: torch.nn.Module) -> None:
        key = id(module)
        if key in self._on_device:
            self._on_device.move_to_end(key)
            return
        need = module_bytes(module)
        while self._on_device and not self._fits(need):
            _, old = self._on_device.popitem(last=False)
            old.to("cpu")
            log.info("moved %s off %s to make room", type(old).__name__, self.device)
        module.to(self.device)
        self._on_device[key] = module

    def _fits(self, need: int) -> bool:
        if self.device.type != "cuda":
            return True
        free, _ = torch.cuda.mem_get_info(self.device)
        return free - need > 1024**3  # keep 1 GiB for activations


def file_identity(path: Path) -> tuple[str, int, int]:
    """Path, size and mtime: a replaced file is loaded again."""
    stat = path.stat()
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns


def _value_bytes(value: Any) -> int:
    if isinstance(value, torch.nn.Module):
        return module_bytes(value)
    if isinstance(value, tuple | list):
        return sum(_value_bytes(v) for v in value)
    if hasattr(value, "__dict__"):
        return sum(_value_bytes(v) for v in vars(value).values())
    return 0


def manager(ctx: Any) -> ModelManager:
    """The engine's model manager, from a node's Context (a private one when run bare)."""
    services = getattr(ctx, "services", None) or {}
    try:
        found = services[SERVICE]
    except KeyError:
        found = None
    if isinstance(found, ModelManager):
        return found
    raise RuntimeError("no model manager: run nodes through an Engine (services['models'])")
