"""Engine settings: folders, cache limits and preview mode, with sensible defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

CacheMode = Literal["lru", "none"]


@dataclass
class CacheSettings:
    """Output cache policy: LRU bounded by entry count and bytes, or no caching at all."""

    mode: CacheMode = "lru"
    max_entries: int = 10_000
    max_bytes: int | None = 4 * 1024**3


@dataclass
class Settings:
    """Where files live and how the engine behaves; passed explicitly, never global."""

    base_dir: Path = field(default_factory=Path.cwd)
    output_dir: Path = Path()
    input_dir: Path = Path()
    temp_dir: Path = Path()
    models_dir: Path = Path()
    extra_model_paths: list[Path] = field(default_factory=list)
    """ComfyUI extra_model_paths.yaml files adding model folders."""
    cache: CacheSettings = field(default_factory=CacheSettings)
    previews: Literal["none", "latent"] = "none"

    def __post_init__(self) -> None:
        base = Path(self.base_dir)
        self.base_dir = base
        for name, default in (
            ("output_dir", "output"),
            ("input_dir", "input"),
            ("temp_dir", "temp"),
            ("models_dir", "models"),
        ):
            value = Path(getattr(self, name))
            setattr(self, name, base / default if value == Path() else value)
