"""Load `.ckpt/.pt/.pth/.bin` pickles without running their code: tensors, containers, metadata.

`torch.load(weights_only=True)` is tried first. Training checkpoints saved by PyTorch Lightning
(SD1.x `.ckpt` files among them) also pickle Lightning classes, which that loader refuses; for
those files a second pass uses a restricted unpickler in which Lightning classes become inert
placeholders and every other global outside a short allowlist raises `UnsafeCheckpointError`
before anything is called.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
import pickletools
import zipfile
from collections import OrderedDict
from pathlib import Path
from types import ModuleType
from typing import Any, BinaryIO

import torch

PLACEHOLDER_MODULES = ("pytorch_lightning", "lightning", "lightning_fabric")
"""Classes from these packages load as inert placeholders (training metadata, never weights)."""

_LEGACY_PICKLES = 5
"""The legacy (pre-zip) format is magic, protocol, sys info, object, storage keys, raw data."""


class UnsafeCheckpointError(ValueError):
    """The pickle asks for a global outside the allowlist (it could run code); nothing was run."""


class CheckpointFormatError(ValueError):
    """The file is not a checkpoint we can read (empty, truncated, junk or of an unknown format)."""


class LightningPlaceholder(dict[Any, Any]):
    """Stands in for a Lightning class or object; accepts any construction and keeps no state
    beyond plain items, so nothing from the checkpoint's training code is imported or run."""

    original_name = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def __setstate__(self, state: Any) -> None:
        """Drop the object's state: it is training metadata that loading never needs."""

    def __repr__(self) -> str:
        return f"<placeholder for {self.original_name}>"


_PLACEHOLDERS: dict[str, type[LightningPlaceholder]] = {}


def placeholder_for(qualified_name: str) -> type[LightningPlaceholder]:
    """The placeholder class standing in for `qualified_name` (one class per name, cached)."""
    cls = _PLACEHOLDERS.get(qualified_name)
    if cls is None:
        short = qualified_name.rsplit(".", 1)[-1]
        cls = type(short, (LightningPlaceholder,), {"original_name": qualified_name})
        _PLACEHOLDERS[qualified_name] = cls
    return cls


def load_torch_file(path: Path | str) -> dict[str, Any]:
    """Load a torch pickle checkpoint as a dict without executing code from the file."""
    path = Path(path)
    _require_file(path)
    is_zip = zipfile.is_zipfile(path)
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=is_zip)
    except pickle.UnpicklingError:
        loaded = _load_restricted(path, is_zip)
    except Exception as ex:  # torch raises many types for junk input; all mean "unreadable"
        raise CheckpointFormatError(f"{path}: not a readable PyTorch checkpoint ({ex!r})") from ex
    if not isinstance(loaded, dict):
        raise CheckpointFormatError(
            f"{path}: expected a checkpoint dict, but the file holds a {type(loaded).__name__}"
        )
    return loaded


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointFormatError(f"{path}: the file is empty")


def _load_restricted(path: Path, is_zip: bool) -> Any:
    """Second pass for pickles weights_only refused: check every global statically, then load
    with an unpickler that resolves only allowlisted globals and placeholders."""
    try:
        names = pickle_globals(path, is_zip)
    except (ValueError, EOFError, KeyError, pickle.UnpicklingError, zipfile.BadZipFile) as ex:
        raise CheckpointFormatError(f"{path}: not a readable PyTorch checkpoint ({ex})") from ex
    refused = sorted(n for n in names if _resolve(*_split(n)) is None)
    if refused:
        raise UnsafeCheckpointError(_refusal(path, refused))
    try:
        return torch.load(
            path, map_location="cpu", weights_only=False, pickle_module=_PICKLE_MODULE, mmap=is_zip
        )
    except UnsafeCheckpointError as ex:
        raise UnsafeCheckpointError(f"{path}: {ex}") from None
    except Exception as ex:
        raise CheckpointFormatError(f"{path}: not a readable PyTorch checkpoint ({ex!r})") from ex


def _refusal(path: Path, names: list[str]) -> str:
    return (
        f"{path}: refused to load: its pickle asks for {', '.join(names)}, which "
        "is not a tensor, a container or known checkpoint metadata (the file may be malicious; "
        "nothing from it was run). Convert it to .safetensors with a tool you trust."
    )


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come only from the allowlist or the Lightning placeholders."""

    def find_class(self, module: str, name: str) -> Any:
        found = _resolve(module, name)
        if found is None:
            raise UnsafeCheckpointError(
                f"refused global {module}.{name}: not a tensor, container or checkpoint metadata"
            )
        return found


def _restricted_load(file: BinaryIO, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


_PICKLE_MODULE = ModuleType(f"{__name__}.restricted")
"""What torch.load expects as `pickle_module`: an Unpickler class and a load function."""
_PICKLE_MODULE.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
_PICKLE_MODULE.load = _restricted_load  # type: ignore[attr-defined]


_TORCH_FUNCTIONS = {
    "torch._utils": frozenset(
        {
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
        }
    ),
    "torch._tensor": frozenset({"_rebuild_from_type_v2"}),
    "torch.nn.parameter": frozenset({"Parameter"}),
    "torch.storage": frozenset({"UntypedStorage", "TypedStorage"}),
}
_PLAIN = {
    ("collections", "OrderedDict"): OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "bytearray"): bytearray,
    ("builtins", "complex"): complex,
    ("builtins", "slice"): slice,
    ("torch", "Size"): torch.Size,
    ("torch", "device"): torch.device,
    ("torch", "Tensor"): torch.Tensor,
}


def _resolve(module: str, name: str) -> Any:
    """The object an allowlisted global names, a placeholder, or None when it is refused."""
    if module == "__builtin__":  # protocol 2 pickles name builtins the Python 2 way
        module = "builtins"
    if module.split(".", 1)[0] in PLACEHOLDER_MODULES:
        return placeholder_for(f"{module}.{name}")
    if (module, name) in _PLAIN:
        return _PLAIN[(module, name)]
    if module == "_codecs" and name == "encode":
        return codecs.encode
    if name in _TORCH_FUNCTIONS.get(module, ()):
        return getattr(importlib.import_module(module), name)
    if module == "torch":
        value = getattr(torch, name, None)
        storage = isinstance(value, type) and name.endswith("Storage")
        if isinstance(value, torch.dtype) or storage:
            return value
        return None
    if module.startswith("numpy"):
        return _numpy_global(module, name)
    return None


def _numpy_global(module: str, name: str) -> Any:
    """numpy scalars and dtypes (step counters saved as numpy values): data, never code."""
    import numpy

    if module in ("numpy.core.multiarray", "numpy._core.multiarray") and name == "scalar":
        from numpy._core import multiarray

        return multiarray.scalar
    if module == "numpy" and name == "dtype":
        return numpy.dtype
    if module == "numpy.dtypes" and name.endswith("DType"):
        value = getattr(numpy.dtypes, name, None)
        if isinstance(value, type) and issubclass(value, numpy.dtype):
            return value
    return None


def _split(qualified: str) -> tuple[str, str]:
    module, _, name = qualified.rpartition(".")
    return module, name


def pickle_globals(path: Path, is_zip: bool) -> set[str]:
    """Every `module.name` global the checkpoint's pickles import, found without unpickling."""
    if is_zip:
        with zipfile.ZipFile(path) as archive:
            member = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
            if member is None:
                raise KeyError("no data.pkl in the zip archive (not a torch.save file)")
            return _globals_in(io.BytesIO(archive.read(member)), pickles=1)
    with path.open("rb") as stream:
        return _globals_in(stream, pickles=_LEGACY_PICKLES)


def _globals_in(stream: BinaryIO, *, pickles: int) -> set[str]:
    found: set[str] = set()
    for index in range(pickles):
        strings: list[str] = []
        try:
            for opcode, arg, _ in pickletools.genops(stream):
                if opcode.name in ("GLOBAL", "INST"):
                    found.add(str(arg).replace(" ", "."))
                elif isinstance(arg, str):
                    strings = [*strings[-1:], arg]
                elif opcode.name == "STACK_GLOBAL":
                    found.add(".".join(strings) if len(strings) == 2 else "<dynamic global>")
        except ValueError:
            if index == 0:
                raise
            break  # the legacy format's raw storage bytes follow its pickles
    return found
