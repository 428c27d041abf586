"""Textual-inversion embeddings: find `embedding:<name>` files and load them as [n, width] rows.

Lookup and formats follow ComfyUI (`comfy/sd1_clip.py` load_embed): every embeddings folder and
its subfolders are searched; the name is tried as is, then with .safetensors/.pt/.bin; names
that leave the folder never match. Pickles are only read with torch's weights-only loader.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

EXTENSIONS = (".safetensors", ".pt", ".bin")
"""Tried in this order when the name has no file of its own."""

DEFAULT_KEY = "clip_l"
"""The entry of a multi-encoder embedding dict that SD1.x uses."""


class EmbeddingFormatError(ValueError):
    """An embedding file cannot be read or holds no vectors; the message names the file."""


def search_dirs(roots: Iterable[Path]) -> list[Path]:
    """Every folder searched for embeddings: each root, then its subfolders (sorted)."""
    found: list[Path] = []
    seen: set[str] = set()
    for root in roots:
        root_path = Path(root)
        if not root_path.is_dir():
            continue
        for dirpath, dirnames, _ in os.walk(root_path, followlinks=True):
            dirnames.sort()
            key = os.path.abspath(dirpath)
            if key not in seen:
                seen.add(key)
                found.append(Path(dirpath))
    return found


def find_embedding(name: str, roots: Iterable[Path]) -> Path | None:
    """The file for `embedding:<name>`, or None; a name escaping a folder is skipped there."""
    if not name:
        return None
    for folder in search_dirs(roots):
        base = os.path.abspath(folder)
        candidate = os.path.abspath(os.path.join(base, name))
        try:
            if os.path.commonpath((base, candidate)) != base:
                continue
        except ValueError:
            continue
        if os.path.isfile(candidate):
            return Path(candidate)
        for ext in EXTENSIONS:
            if os.path.isfile(candidate + ext):
                return Path(candidate + ext)
    return None


def load_embedding(path: Path, width: int | None = None, key: str = DEFAULT_KEY) -> torch.Tensor:
    """Read an embedding file into a float32 [n_vectors, width] tensor on the CPU.

    Accepts A1111 `.pt` files (string_to_param), lists of dicts, dicts keyed by encoder
    (`clip_l`), embeddings bundled in a LoRA (`bundle_emb.*`), a single tensor (`emb_params`)
    and, when torch refuses the pickle, the legacy zip layout read as raw float32 values.
    `width` is the text encoder's width; it filters list entries and sizes raw zip data.
    """
    path = Path(path)
    if path.suffix.lower() == ".safetensors":
        import safetensors.torch

        data: Any = safetensors.torch.load_file(str(path), device="cpu")
    else:
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as ex:
            raw = _raw_zip_vectors(path, width)
            if raw is None:
                raise EmbeddingFormatError(f"{path}: not a loadable embedding ({ex})") from ex
            return raw
    tensor = _pick_tensor(data, width, key)
    if not isinstance(tensor, torch.Tensor) or tensor.ndim == 0:
        raise EmbeddingFormatError(f"{path}: no embedding vectors found in the file")
    return tensor.detach().reshape(-1, tensor.shape[-1]).to(torch.float32)


def _pick_tensor(data: Any, width: int | None, key: str) -> Any:
    if isinstance(data, dict) and "string_to_param" in data:
        return _first(data["string_to_param"].values())
    if isinstance(data, list):
        rows = [
            value.reshape(-1, value.shape[-1])
            for entry in data
            if isinstance(entry, dict)
            for value in entry.values()
            if isinstance(value, torch.Tensor) and (width is None or value.shape[-1] == width)
        ]
        return torch.cat(rows, dim=0) if rows else None
    if isinstance(data, dict):
        if key in data:
            return data[key]
        bundled = _bundled(data, ".string_to_param.*")
        if bundled is None:
            bundled = _bundled(data, f".{key}")
        if bundled is not None:
            return bundled
        return _first(data.values())
    return data


def _bundled(data: dict[str, Any], suffix: str) -> torch.Tensor | None:
    """Embeddings saved inside a LoRA as `bundle_emb.<name>.string_to_param.*` or `.<key>`."""
    found = [
        value
        for name, value in data.items()
        if isinstance(name, str)
        and name.startswith("bundle_emb.")
        and name.endswith(suffix)
        and isinstance(value, torch.Tensor)
    ]
    return torch.cat(found, dim=0) if found else None


def _first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)


def _raw_zip_vectors(path: Path, width: int | None) -> torch.Tensor | None:
    """Legacy pickles torch will not load safely: take a data record as raw float32 rows.

    ComfyUI guesses 768 (SD1) or 1024 (SD2) per row; the encoder width is tried first.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile):
        return None
    with archive:
        names = [n for n in archive.namelist() if "data/" in n]
        for name in reversed(names):
            data = archive.read(name)
            count = len(data) // 4
            if count < 768:
                continue
            size = _row_width(count, width)
            if count % size:
                return None
            values = torch.frombuffer(bytearray(data[: count * 4]), dtype=torch.float32)
            return values.reshape(-1, size).clone()
    return None


def _row_width(count: int, width: int | None) -> int:
    if width and count % width == 0:
        return width
    return 768 if count % 768 == 0 else 1024
