"""A tiny textual-inversion embedding in A1111 `.pt` format for the tiny family (width 64)."""

from __future__ import annotations

from pathlib import Path

import torch

TINY_WIDTH = 64
"""Hidden width of the tiny CLIP text encoder (sd1_configs.TINY_CLIP)."""

VECTORS = 2


def write_tiny_embedding(path: Path, seed: int = 0) -> Path:
    """Write `VECTORS` seeded vectors the way A1111 saves an embedding (string_to_param '*'),
    scaled well above CLIP's token-embedding init so prompts using it change visibly."""
    generator = torch.Generator().manual_seed(seed)
    vectors = torch.randn(VECTORS, TINY_WIDTH, generator=generator) * 0.2
    path = Path(path)
    data = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": vectors},
        "name": path.stem,
        "step": 1000,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(data, path)
    return path
