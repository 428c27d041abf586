"""The engine imports neither torch nor the node library (DESIGN.md §1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_AND_IMPORT = """
import importlib, pkgutil, sys

class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "nodes", "diffusers", "transformers"}:
            raise ImportError(f"blocked import of {name}")
        return None

sys.meta_path.insert(0, Blocker())
import nodegraph
for info in pkgutil.walk_packages(nodegraph.__path__, "nodegraph."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.split(".")[0] in {"torch", "nodes"}))
"""


def test_every_engine_module_imports_with_torch_and_nodes_blocked() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_AND_IMPORT],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
