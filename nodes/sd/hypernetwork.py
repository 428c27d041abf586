"""Hypernetworks (A1111/NovelAI files): read them and build their networks as ComfyUI does.

A file maps attention input widths (320, 640, 768, 1280 for SD1.5) to two small MLPs, one for
the key input and one for the value input; `hypernetwork_attention` applies them to the UNet.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

ACTIVATIONS: dict[str, Callable[[], torch.nn.Module]] = {
    "linear": torch.nn.Identity,
    "relu": torch.nn.ReLU,
    "leakyrelu": torch.nn.LeakyReLU,
    "elu": torch.nn.ELU,
    "swish": torch.nn.Hardswish,  # ComfyUI maps swish to Hardswish; kept for identical output
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
    "softsign": torch.nn.Softsign,
    "mish": torch.nn.Mish,
}
"""The activations ComfyUI's HypernetworkLoader accepts (others make it skip the file)."""

OPTION_DEFAULTS: dict[str, Any] = {
    "activation_func": "linear",
    "is_layer_norm": False,
    "use_dropout": False,
    "activate_output": False,
    "last_layer_dropout": False,
}
"""ComfyUI's defaults for files lacking these keys (A1111 defaults activate_output to True)."""


class HypernetworkFormatError(ValueError):
    """The file is not a hypernetwork we can read; the message says what is wrong."""


class UnsupportedHypernetworkError(ValueError):
    """A readable hypernetwork that ComfyUI refuses too (an activation it does not know)."""


class Hypernetwork(torch.nn.Module):
    """Per attention width, the (key, value) MLPs of one hypernetwork file."""

    def __init__(self, layers: Mapping[int, tuple[torch.nn.Module, torch.nn.Module]]) -> None:
        super().__init__()
        self.nets = torch.nn.ModuleDict(
            {str(dim): torch.nn.ModuleList(pair) for dim, pair in sorted(layers.items())}
        )
        self.eval().requires_grad_(False)

    @property
    def dims(self) -> list[int]:
        return [int(d) for d in self.nets]

    def pair(self, dim: int) -> torch.nn.ModuleList | None:
        """The (key, value) MLPs for contexts of width `dim`, or None when the file has none."""
        key = str(dim)
        return self.nets[key] if key in self.nets else None  # type: ignore[return-value]  # noqa: SIM401


# -- reading files -------------------------------------------------------------------------------


def read_hypernetwork_file(path: Path) -> dict[Any, Any]:
    """The raw dict of a `.pt`/`.ckpt` pickle (weights-only) or a flat `.safetensors` file."""
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        return _read_safetensors(path)
    from nodes.sd.safe_pickle import load_torch_file

    return load_torch_file(path)


def _read_safetensors(path: Path) -> dict[Any, Any]:
    """Flat `"<dim>.<0|1>.<param>"` tensors plus string metadata, regrouped like the .pt dict."""
    from safetensors import safe_open

    data: dict[Any, Any] = {}
    with safe_open(str(path), framework="pt", device="cpu") as file:
        for name, value in (file.metadata() or {}).items():
            data[name] = _metadata_value(value)
        grouped: dict[int, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}
        for key in sorted(file.keys(), key=_natural):
            match = re.fullmatch(r"(\d+)\.([01])\.(.+)", key)
            if match is None:
                continue
            dim, index, param = int(match[1]), int(match[2]), match[3]
            grouped.setdefault(dim, ({}, {}))[index][param] = file.get_tensor(key)
    data.update(grouped)
    return data


def _metadata_value(text: str) -> Any:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    return text


def _natural(key: str) -> list[Any]:
    """Sort key putting `linear.10` after `linear.2`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


# -- building modules ----------------------------------------------------------------------------


def build_hypernetwork(data: Mapping[Any, Any], source: str = "hypernetwork") -> Hypernetwork:
    """Build the MLPs exactly as ComfyUI does (including its layer-norm quirk, see `_mlp`)."""
    options = {key: data.get(key, default) for key, default in OPTION_DEFAULTS.items()}
    activation = options["activation_func"]
    if activation not in ACTIVATIONS:
        raise UnsupportedHypernetworkError(
            f"{source}: unsupported activation_func {activation!r} "
            f"(supported: {', '.join(ACTIVATIONS)}); the hypernetwork is not applied"
        )
    layers: dict[int, tuple[torch.nn.Module, torch.nn.Module]] = {}
    for key, value in data.items():
        dim = _width(key)
        if dim is None:
            continue
        if not isinstance(value, list | tuple) or len(value) < 2:
            raise HypernetworkFormatError(
                f"{source}: entry {key!r} must hold two state dicts (key and value networks)"
            )
        nets = (_mlp(value[0], options, f"{source}[{key}][0]"),)
        nets += (_mlp(value[1], options, f"{source}[{key}][1]"),)
        layers[dim] = nets  # type: ignore[assignment]
    if not layers:
        raise HypernetworkFormatError(f"{source}: no attention widths (integer keys) found")
    return Hypernetwork(layers)


def _width(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _mlp(state: Any, options: Mapping[str, Any], where: str) -> torch.nn.Sequential:
    """One MLP from `linear.N.*` (or old `linear1/linear2`) tensors in dict order.

    Every `.weight` is a Linear, followed by a LayerNorm from the next pair when layer norm is
    on. ComfyUI's "last layer" test counts those LayerNorm entries too, so with layer norm the
    activation also follows the final Linear (A1111 omits it); we keep ComfyUI's behaviour.
    Dropout does nothing at inference and is left out.
    """
    if not isinstance(state, Mapping):
        raise HypernetworkFormatError(f"{where}: expected a state dict, got {type(state).__name__}")
    names = [key[: -len(".weight")] for key in state if str(key).endswith(".weight")]
    if not names:
        raise HypernetworkFormatError(f"{where}: no layer weights found")
    activation = options["activation_func"]
    layers: list[torch.nn.Module] = []
    i = 0
    while i < len(names):
        last = i == len(names) - 1
        layers.append(_linear(state, names[i], where))
        if activation != "linear" and (not last or options["activate_output"]):
            layers.append(ACTIVATIONS[activation]())
        if options["is_layer_norm"]:
            i += 1
            if i >= len(names):
                raise HypernetworkFormatError(
                    f"{where}: is_layer_norm is set but {names[i - 1]} has no layer norm after it"
                )
            layers.append(_layer_norm(state, names[i], where))
        i += 1
    return torch.nn.Sequential(*layers)


def _pair(state: Mapping[str, Any], name: str, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    weight, bias = state.get(f"{name}.weight"), state.get(f"{name}.bias")
    if not isinstance(weight, torch.Tensor) or not isinstance(bias, torch.Tensor):
        raise HypernetworkFormatError(f"{where}: {name} needs both a weight and a bias tensor")
    return weight.detach().float(), bias.detach().float()


def _linear(state: Mapping[str, Any], name: str, where: str) -> torch.nn.Linear:
    weight, bias = _pair(state, name, where)
    if weight.ndim != 2 or bias.shape != weight.shape[:1]:
        raise HypernetworkFormatError(
            f"{where}: {name} is not a linear layer (weight {tuple(weight.shape)}, "
            f"bias {tuple(bias.shape)})"
        )
    layer = torch.nn.Linear(weight.shape[1], weight.shape[0])
    layer.load_state_dict({"weight": weight, "bias": bias})
    return layer


def _layer_norm(state: Mapping[str, Any], name: str, where: str) -> torch.nn.LayerNorm:
    weight, bias = _pair(state, name, where)
    if weight.ndim != 1 or bias.shape != weight.shape:
        raise HypernetworkFormatError(
            f"{where}: {name} is not a layer norm (weight {tuple(weight.shape)})"
        )
    norm = torch.nn.LayerNorm(weight.shape[0])
    norm.load_state_dict({"weight": weight, "bias": bias})
    return norm


def load_hypernetwork(path: Path) -> Hypernetwork:
    """Read and build the hypernetwork in `path` (CPU, float32)."""
    return build_hypernetwork(read_hypernetwork_file(path), source=Path(path).name)


# -- tiny test file ------------------------------------------------------------------------------

TINY_WIDTHS = (32, 64)
"""Attention k/v input widths of the tiny UNet: self-attention 32 and 64, cross-attention 64."""


def write_tiny_hypernetwork(path: Path, seed: int = 0) -> Path:
    """An A1111-format `.pt` for the tiny family (see write_hypernetwork)."""
    return write_hypernetwork(path, TINY_WIDTHS, seed)


def write_hypernetwork(
    path: Path,
    widths: tuple[int, ...],
    seed: int = 0,
    layer_structure: tuple[float, ...] = (1, 2, 1),
    activation: str = "relu",
    layer_norm: bool = True,
) -> Path:
    """A random A1111-format `.pt` for attention inputs of `widths` (SD1.5: 320, 640, 768,
    1280), modules numbered as A1111 does (Linear, activation, LayerNorm per layer, no
    activation after the last: relu + layer norm [1, 2, 1] -> indices 0, 2, 3, 4), weights
    strong enough to change images visibly. A1111's own defaults are activation "linear"
    without layer norm."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}")
    generator = torch.Generator().manual_seed(seed)

    def normal(*shape: int, std: float, mean: float = 0.0) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * std + mean

    def net(dim: int) -> dict[str, torch.Tensor]:
        tensors: dict[str, torch.Tensor] = {}
        index = 0
        sizes = [int(dim * m) for m in layer_structure]
        for layer, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            tensors[f"linear.{index}.weight"] = normal(fan_out, fan_in, std=fan_in**-0.5)
            tensors[f"linear.{index}.bias"] = normal(fan_out, std=0.1)
            index += 1
            if activation != "linear" and layer < len(sizes) - 2:
                index += 1  # the activation module takes an index
            if layer_norm:
                tensors[f"linear.{index}.weight"] = normal(fan_out, std=0.1, mean=1.0)
                tensors[f"linear.{index}.bias"] = normal(fan_out, std=0.1)
                index += 1
        return tensors

    data: dict[Any, Any] = {dim: [net(dim), net(dim)] for dim in widths}
    data.update(a1111_options(Path(path).stem, layer_structure, activation, layer_norm, 1000))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path


def a1111_options(
    name: str,
    layer_structure: tuple[float, ...],
    activation: str,
    layer_norm: bool,
    step: int,
) -> dict[str, Any]:
    """The non-weight entries of an A1111 hypernetwork file."""
    return {
        "step": step,
        "name": name,
        "layer_structure": list(layer_structure),
        "activation_func": activation,
        "is_layer_norm": layer_norm,
        "weight_initialization": "Normal",
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
        "activate_output": False,
        "use_dropout": False,
        "dropout_structure": [0] * len(layer_structure),
        "last_layer_dropout": False,
        "optional_info": None,
    }
