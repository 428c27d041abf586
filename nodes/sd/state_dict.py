"""Read a model file (.safetensors or a torch pickle) into a flat name -> tensor dict."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from nodes.sd.safe_pickle import CheckpointFormatError, load_torch_file

__all__ = ["CheckpointFormatError", "file_format", "load_folder_state_dict", "load_state_dict"]

_ZIP_MAGIC = b"PK\x03\x04"
_PICKLE_PROTO = 0x80
_MAX_HEADER = 100 * 1024 * 1024


def file_format(path: Path) -> str:
    """'safetensors' or 'pickle', judged by the file's first bytes (the suffix can lie)."""
    size = path.stat().st_size
    if size == 0:
        raise CheckpointFormatError(f"{path}: the file is empty")
    with path.open("rb") as f:
        head = f.read(9)
    if head.startswith(_ZIP_MAGIC) or head[0] == _PICKLE_PROTO:
        return "pickle"
    if len(head) == 9:
        (header_len,) = struct.unpack("<Q", head[:8])
        if 2 <= header_len <= min(size - 8, _MAX_HEADER) and head[8:9] == b"{":
            return "safetensors"
    raise CheckpointFormatError(
        f"{path}: neither a safetensors file nor a PyTorch checkpoint "
        f"(it starts with {head[:8]!r}); is it a model file at all?"
    )


def load_state_dict(path: Path | str) -> dict[str, torch.Tensor]:
    """All tensors of a model file, keyed by name; a checkpoint's top-level "state_dict" is
    unwrapped and non-tensor entries (training metadata) are dropped."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointFormatError(f"{path}: is a folder, not a model file")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such model file")
    if file_format(path) == "safetensors":
        return _load_safetensors(path)
    loaded = load_torch_file(path)
    inner = loaded.get("state_dict")
    if isinstance(inner, dict):
        loaded = inner
    tensors = {k: v.detach() for k, v in loaded.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise CheckpointFormatError(f"{path}: the checkpoint holds no tensors")
    if not all(isinstance(k, str) for k in tensors):
        raise CheckpointFormatError(f"{path}: tensors are keyed by non-string names")
    return tensors


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        tensors = load_file(path, device="cpu")
    except (SafetensorError, json.JSONDecodeError, OSError, ValueError) as ex:
        raise CheckpointFormatError(f"{path}: not a valid safetensors file ({ex})") from ex
    if not tensors:
        raise CheckpointFormatError(f"{path}: the safetensors file holds no tensors")
    return tensors


_WEIGHT_STEMS = ("diffusion_pytorch_model", "model", "pytorch_model")
"""diffusers and transformers weight file names, in the order they are preferred."""
_WEIGHT_SUFFIXES = (".safetensors", ".fp16.safetensors", ".bin", ".fp16.bin")


def load_folder_state_dict(folder: Path | str) -> dict[str, torch.Tensor]:
    """The weights of one diffusers/transformers component folder (`unet/`, `text_encoder/`):
    a single weights file or the shards listed by an `*.index.json`."""
    folder = Path(folder)
    for stem in _WEIGHT_STEMS:
        for suffix in _WEIGHT_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return load_state_dict(folder / f"{stem}{suffix}")
            index = folder / f"{stem}{suffix}.index.json"
            if index.is_file():
                return _sharded(folder, index)
    raise FileNotFoundError(f"{folder}: no weights file (e.g. diffusion_pytorch_model.safetensors)")


def _sharded(folder: Path, index: Path) -> dict[str, torch.Tensor]:
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as ex:
        raise CheckpointFormatError(f"{index}: unreadable weight index ({ex!r})") from ex
    merged: dict[str, torch.Tensor] = {}
    for name in shards:
        shard = folder / str(name)
        if shard.resolve().parent != folder.resolve():
            raise CheckpointFormatError(f"{index}: shard {name!r} is outside the folder")
        merged.update(load_state_dict(shard))
    return merged
