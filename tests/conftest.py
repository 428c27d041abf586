"""Shared fixtures: the tiny SD1.x model family, written once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder in ComfyUI's layout holding the tiny family (`make-tiny-models`)."""
    from nodes.sd.tiny import make_tiny_models

    root = tmp_path_factory.mktemp("models")
    make_tiny_models(root, seed=0)
    return root
