"""Model folders in ComfyUI's layout, plus `extra_model_paths.yaml`: listing and safe lookup.

Listings are re-read on every call so files dropped into a folder appear without a restart.
This module stays torch free (it feeds combo lists in /object_info).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

MODEL_EXTENSIONS = frozenset(
    {".ckpt", ".pt", ".pt2", ".bin", ".pth", ".safetensors", ".pkl", ".sft"}
)

FOLDERS: dict[str, tuple[str, ...]] = {
    "checkpoints": ("checkpoints",),
    "configs": ("configs",),
    "loras": ("loras",),
    "vae": ("vae",),
    "text_encoders": ("text_encoders", "clip"),
    "diffusion_models": ("unet", "diffusion_models"),
    "clip_vision": ("clip_vision",),
    "style_models": ("style_models",),
    "embeddings": ("embeddings",),
    "diffusers": ("diffusers",),
    "vae_approx": ("vae_approx",),
    "controlnet": ("controlnet", "t2i_adapter"),
    "gligen": ("gligen",),
    "upscale_models": ("upscale_models",),
    "hypernetworks": ("hypernetworks",),
}
"""Folder name -> sub-directories of the models dir (ComfyUI's folder_paths defaults)."""

BUNDLED_DIR = Path(__file__).resolve().parent / "demo" / "models"
"""The demo model family shipped inside the package, in ComfyUI's layout. It is searched last
for every folder, so its files are listed by default and a user's file of the same name wins."""

LEGACY = {"clip": "text_encoders", "unet": "diffusion_models", "t2i_adapter": "controlnet"}
EXTENSIONS: dict[str, frozenset[str]] = {"configs": frozenset({".yaml"})}


class ModelPathsError(ValueError):
    """extra_model_paths.yaml is malformed; the message names the file and the key."""


def folder_name(name: str) -> str:
    """Map legacy names (`clip`, `unet`) to current ones."""
    return LEGACY.get(name, name)


def folder_dirs(settings: Any, name: str) -> list[Path]:
    """Every directory searched for folder `name`, in priority order."""
    name = folder_name(name)
    models = Path(settings.models_dir)
    dirs = [models / sub for sub in FOLDERS.get(name, (name,))]
    for config in extra_model_paths_files(settings):
        for folder, paths, is_default in read_extra_model_paths(config):
            if folder_name(folder) == name:
                dirs = [*paths, *dirs] if is_default else [*dirs, *paths]
    dirs.append(BUNDLED_DIR / name)
    seen: set[Path] = set()
    unique = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            unique.append(d)
    return unique


def extra_model_paths_files(settings: Any) -> list[Path]:
    """`extra_model_paths.yaml` beside the base dir, then any configured with the settings."""
    found = []
    default = Path(settings.base_dir) / "extra_model_paths.yaml"
    if default.is_file():
        found.append(default)
    found.extend(Path(p) for p in getattr(settings, "extra_model_paths", ()) or ())
    return found


def read_extra_model_paths(config: Path) -> list[tuple[str, list[Path], bool]]:
    """Parse one extra_model_paths.yaml into (folder, paths, is_default) triples."""
    import yaml

    try:
        data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as ex:
        raise ModelPathsError(f"{config}: cannot read extra model paths: {ex}") from ex
    if not isinstance(data, dict):
        raise ModelPathsError(f"{config}: expected a mapping of sections at the top level")
    result = []
    for section, entries in data.items():
        if entries is None:
            continue
        if not isinstance(entries, dict):
            raise ModelPathsError(f"{config}: section {section!r} must be a mapping")
        base = entries.get("base_path")
        root = (
            Path(os.path.expandvars(os.path.expanduser(str(base))))
            if base
            else config.resolve().parent
        )
        if not root.is_absolute():
            root = config.resolve().parent / root
        is_default = bool(entries.get("is_default", False))
        for key, value in entries.items():
            if key in ("base_path", "is_default") or value is None:
                continue
            lines = [line.strip() for line in str(value).splitlines() if line.strip()]
            paths = [root / os.path.expandvars(os.path.expanduser(line)) for line in lines]
            result.append((str(key), paths, is_default))
    return result


def _walk(settings: Any, name: str) -> Iterator[tuple[Path, str, list[str], list[str]]]:
    """(root, dirpath, dirnames, filenames) over every directory of folder `name`, following
    links and skipping .git; callers may prune `dirnames` in place, as with os.walk."""
    for root in folder_dirs(settings, name):
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            yield root, dirpath, dirnames, filenames


def list_files(settings: Any, name: str, extensions: Iterable[str] | None = None) -> list[str]:
    """Sorted relative paths (OS separator) of model files in every directory of `name`."""
    name = folder_name(name)
    exts = (
        frozenset(extensions) if extensions is not None else EXTENSIONS.get(name, MODEL_EXTENSIONS)
    )
    names: set[str] = set()
    for root, dirpath, _, filenames in _walk(settings, name):
        for f in filenames:
            if not exts or Path(f).suffix.lower() in exts:
                names.add(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(names)


def list_dirs(settings: Any, name: str, marker: str) -> list[str]:
    """Sub-directories (relative names) of `name`'s folders that contain file `marker`
    (e.g. diffusers model folders with model_index.json)."""
    found: set[str] = set()
    for root, dirpath, dirnames, filenames in _walk(settings, name):
        if marker in filenames and Path(dirpath) != root:
            found.add(os.path.relpath(dirpath, root))
            dirnames[:] = []
    return sorted(found)


def full_path(settings: Any, name: str, filename: str) -> Path | None:
    """The file `filename` in folder `name`, or None; names escaping the folder never match."""
    relative = os.path.normpath(filename.replace("\\", "/"))
    if os.path.isabs(relative) or relative == ".." or relative.startswith(".." + os.sep):
        return None
    for root in folder_dirs(settings, name):
        candidate = root / relative
        if candidate.exists() and _inside(candidate, root):
            return candidate
    return None


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        # a symlinked file inside the folder may point elsewhere: allow links placed there
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    return True


def require(settings: Any, name: str, filename: str, node: str, input_name: str) -> Path:
    """Like full_path, but a missing file raises an error naming the node, input and folder."""
    path = full_path(settings, name, filename)
    if path is None:
        dirs = ", ".join(str(d) for d in folder_dirs(settings, name))
        raise FileNotFoundError(
            f"{node}: {input_name} {filename!r} was not found in the {name} folder ({dirs})"
        )
    return path


SERVICE = "folders"


class ModelFolders:
    """The `folders` service: the model folder names and listings the server's /models and
    /embeddings routes show."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def names(self) -> list[str]:
        extra = [
            folder_name(folder)
            for config in extra_model_paths_files(self.settings)
            for folder, _, _ in read_extra_model_paths(config)
        ]
        return list(dict.fromkeys([*FOLDERS, *extra]))

    def files(self, name: str) -> list[str] | None:
        if folder_name(name) not in self.names():
            return None
        return list_files(self.settings, name)
