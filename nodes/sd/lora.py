"""LoRA files (kohya/A1111, LoCon, diffusers/PEFT): parsing, mapping keys onto our UNet and CLIP
modules, and a patch that adds the low-rank deltas only while it is applied."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from nodes.sd.convert_ldm import TEXT_MODEL, unet_diffusers_to_ldm
from nodes.sd.state_dict import load_state_dict

log = logging.getLogger(__name__)

UNET = "lora_unet_"
TEXT = "lora_te_"

_SUFFIXES: dict[str, str] = {
    ".lora_up.weight": "up",
    ".lora_down.weight": "down",
    ".lora_mid.weight": "mid",
    ".alpha": "alpha",
    ".lora_B.weight": "up",
    ".lora_A.weight": "down",
    ".lora.up.weight": "up",
    ".lora.down.weight": "down",
    ".lora_linear_layer.up.weight": "up",
    ".lora_linear_layer.down.weight": "down",
}
"""Key endings of the supported formats -> the part of the low-rank product they hold."""

_PREFIXES: tuple[tuple[str, str], ...] = (
    ("lora_te1_", TEXT),
    ("model.diffusion_model.", UNET),
    ("diffusion_model.", UNET),
    ("unet.", UNET),
    ("text_encoder.", TEXT),
)
"""Other spellings of the two targets, rewritten to kohya's prefixes."""

LAYERS = (torch.nn.Linear, torch.nn.Conv2d)


@dataclass(frozen=True)
class LoraWeights:
    """One adapted layer: delta = up @ (mid) @ down * alpha / rank."""

    up: torch.Tensor
    down: torch.Tensor
    alpha: float | None = None
    mid: torch.Tensor | None = None

    @property
    def rank(self) -> int:
        return int(self.down.shape[0])

    def delta(self, shape: torch.Size, strength: float) -> torch.Tensor:
        """The float32 weight change for a layer whose weight has `shape`."""
        up = self.up.float().flatten(start_dim=1)
        down = self.down.float()
        scale = strength * (self.alpha / self.rank if self.alpha is not None else 1.0)
        if self.mid is not None:
            # Tucker (LoCon "cp"): 1x1 down, k x k core, 1x1 up
            full = torch.einsum("oa,abhw,bi->oihw", up, self.mid.float(), down.flatten(1))
        else:
            full = up @ down.flatten(start_dim=1)
        return full.reshape(shape) * scale

    def numel(self, shape: torch.Size) -> int:
        """How many weight values this adapter produces (to check it fits the layer)."""
        if self.mid is not None:
            return int(self.up.shape[0] * self.down.shape[1] * self.mid[0, 0].numel())
        return int(self.up.shape[0] * self.down.flatten(start_dim=1).shape[1])


@dataclass(frozen=True)
class LoraFile:
    """A parsed LoRA file: adapted layers by kohya name, plus keys of no supported format."""

    layers: Mapping[str, LoraWeights]
    unknown: tuple[str, ...] = ()

    def nbytes(self) -> int:
        tensors = [t for w in self.layers.values() for t in (w.up, w.down, w.mid) if t is not None]
        return sum(t.numel() * t.element_size() for t in tensors)


def kohya_name(base: str) -> str:
    """Any supported spelling of a layer name -> `lora_unet_...` / `lora_te_...` with `_`."""
    for prefix, target in _PREFIXES:
        if base.startswith(prefix):
            rest = base[len(prefix) :]
            if target == TEXT and "." in rest and not rest.startswith(TEXT_MODEL):
                rest = TEXT_MODEL + rest
            return target + rest.replace(".", "_")
    return base.replace(".", "_")


def parse_lora(tensors: Mapping[str, torch.Tensor]) -> LoraFile:
    """Group a LoRA state dict into layers; raises when a layer lacks its up or down weight."""
    parts: dict[str, dict[str, torch.Tensor]] = {}
    unknown = []
    for key, value in tensors.items():
        for suffix, part in _SUFFIXES.items():
            if key.endswith(suffix):
                parts.setdefault(kohya_name(key[: -len(suffix)]), {})[part] = value
                break
        else:
            unknown.append(key)
    layers = {}
    for name, found in parts.items():
        if "up" not in found or "down" not in found:
            missing = "up" if "up" not in found else "down"
            raise ValueError(f"LoRA layer {name!r} has no {missing} weight")
        alpha = found.get("alpha")
        layers[name] = LoraWeights(
            up=found["up"],
            down=found["down"],
            alpha=float(alpha.float().item()) if alpha is not None else None,
            mid=found.get("mid"),
        )
    return LoraFile(layers=layers, unknown=tuple(unknown))


def load_lora(path: Path | str) -> LoraFile:
    """Read and parse a LoRA file (.safetensors, or a pickled .pt/.ckpt through the safe loader)."""
    path = Path(path)
    try:
        return parse_lora(load_state_dict(path))
    except ValueError as ex:
        raise ValueError(f"{path.name}: not a LoRA file: {ex}") from ex


# --- name tables -----------------------------------------------------------------------------

_TABLES: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, str]] = weakref.WeakKeyDictionary()


def name_table(module: torch.nn.Module) -> dict[str, str]:
    """kohya names -> weight parameter names of `module` (a UNet2DConditionModel or a
    CLIPTextModel), in every spelling we accept: diffusers and LDM UNet paths, and
    `text_model.`-rooted CLIP paths whether or not transformers flattens that level."""
    table = _TABLES.get(module)
    if table is None:
        table = _build_table(module)
        _TABLES[module] = table
    return table


def _build_table(module: torch.nn.Module) -> dict[str, str]:
    names = [n for n, m in module.named_modules() if isinstance(m, LAYERS)]
    table: dict[str, str] = {}
    if _is_text_model(module):
        for name in names:
            rooted = name if name.startswith(TEXT_MODEL) else TEXT_MODEL + name
            table[TEXT + rooted.replace(".", "_")] = name + ".weight"
        return table
    for name in names:
        table[UNET + name.replace(".", "_")] = name + ".weight"
    weights = {n + ".weight": n for n in names}
    try:
        ldm = unet_diffusers_to_ldm(weights)
    except ValueError:
        return table  # not a diffusers SD UNet layout: diffusers-style names only
    for ldm_key, name in ldm.items():
        table[UNET + ldm_key.removesuffix(".weight").replace(".", "_")] = name + ".weight"
    return table


def _is_text_model(module: torch.nn.Module) -> bool:
    return hasattr(module, "config") and hasattr(module.config, "vocab_size")


# --- the patch -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Match:
    """Which layers of a LoRA apply to one module, and which keys did not fit it."""

    weights: dict[str, LoraWeights]
    """Parameter name -> adapter."""
    unmatched: tuple[str, ...]


def match(lora: LoraFile, module: torch.nn.Module, prefix: str) -> Match:
    """The layers of `lora` under `prefix` (UNET or TEXT) that name a weight of `module` of a
    fitting size; the rest are reported as unmatched."""
    table = name_table(module)
    params = dict(module.named_parameters())
    weights: dict[str, LoraWeights] = {}
    unmatched = []
    for name, lora_weights in lora.layers.items():
        if not name.startswith(prefix):
            continue
        param = table.get(name)
        if param is None:
            unmatched.append(name)
            continue
        shape = params[param].shape
        if lora_weights.numel(shape) != shape.numel():
            log.warning("lora %s: shape does not fit weight %s %s", name, param, tuple(shape))
            unmatched.append(name)
            continue
        weights[param] = lora_weights
    return Match(weights=weights, unmatched=tuple(unmatched))


def warn_unmatched(keys: list[str], source: str) -> None:
    """Say which LoRA keys were not applied (ComfyUI logs `lora key not loaded`)."""
    if keys:
        shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
        log.warning("lora key not loaded (%s): %d keys: %s", source, len(keys), shown)


@dataclass(frozen=True, eq=False)
class LoraPatch:
    """A LoRA at one strength for one module kind; `applied` changes the shared weights only
    inside its `with`, restoring them bit-exactly afterwards."""

    name: str
    weights: dict[str, LoraWeights]
    strength: float

    @contextmanager
    def applied(self, module: torch.nn.Module) -> Iterator[torch.nn.Module]:
        """Add each delta (computed in float32, cast to the weight's dtype and device) in place;
        the original values are kept and copied back on exit, also on exceptions."""
        originals: list[tuple[torch.Tensor, torch.Tensor]] = []
        try:
            with torch.inference_mode():
                for param_name, lora_weights in self.weights.items():
                    param = module.get_parameter(param_name)
                    original = param.detach().clone()
                    originals.append((param, original))
                    delta = lora_weights.delta(param.shape, self.strength).to(param.device)
                    param.data.copy_((original.float() + delta).to(param.dtype))
            yield module
        finally:
            with torch.inference_mode():
                for param, original in reversed(originals):
                    param.data.copy_(original)


# --- tiny test file --------------------------------------------------------------------------

TINY_RANK = 4
TINY_ALPHA = 2.0
TINY_CONV = "down_blocks.0.resnets.0.conv1"
"""The LoCon layer of the tiny LoRA: a 3x3 convolution (3x3 down, 1x1 up)."""


def tiny_lora_tensors(seed: int = 0) -> dict[str, torch.Tensor]:
    """kohya-format tensors for the tiny family: every UNet attention to_q/k/v/out, one LoCon
    convolution and every CLIP q/k/v/out_proj; rank 4, alpha 2, fp16 like real files."""
    from nodes.sd.tiny import tiny_components

    unet, text_model, _ = tiny_components(0)
    targets: list[tuple[str, torch.nn.Module]] = []
    for name, layer in unet.named_modules():
        if name.rsplit(".", 1)[-1] in ("to_q", "to_k", "to_v") or name.endswith("to_out.0"):
            targets.append((UNET + name.replace(".", "_"), layer))
    targets.append((UNET + TINY_CONV.replace(".", "_"), unet.get_submodule(TINY_CONV)))
    for name, layer in text_model.named_modules():
        if name.rsplit(".", 1)[-1] in ("q_proj", "k_proj", "v_proj", "out_proj"):
            targets.append((TEXT + (TEXT_MODEL + name).replace(".", "_"), layer))
    generator = torch.Generator().manual_seed(seed)
    tensors: dict[str, torch.Tensor] = {}
    for key, layer in targets:
        weight = layer.weight
        if weight.ndim == 4:
            down_shape = (TINY_RANK, weight.shape[1], *weight.shape[2:])
            up_shape = (weight.shape[0], TINY_RANK, 1, 1)
        else:
            down_shape, up_shape = (TINY_RANK, weight.shape[1]), (weight.shape[0], TINY_RANK)
        # large enough that the effect on an image is plain to see
        down = torch.randn(down_shape, generator=generator) * 0.5
        up = torch.randn(up_shape, generator=generator) * 0.5
        tensors[f"{key}.lora_down.weight"] = down.half()
        tensors[f"{key}.lora_up.weight"] = up.half()
        tensors[f"{key}.alpha"] = torch.tensor(TINY_ALPHA, dtype=torch.float16)
    return tensors


def write_tiny_lora(path: Path, seed: int = 0) -> Path:
    """Write `loras/tiny-lora.safetensors`-style kohya LoRA for the tiny family (deterministic
    per seed; no metadata so the bytes are identical)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tiny_lora_tensors(seed), str(path))
    return path
