"""Run the web editor's JavaScript unit tests (node's built-in runner) as part of pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="node is not on PATH: the web unit tests need node >= 20")
def test_node_unit_tests_pass() -> None:
    assert NODE is not None
    result = subprocess.run(
        [NODE, "--test", "tests/web/"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"node --test tests/web/ failed:\n{output[-12000:]}"
    assert "# fail 0" in output, output[-4000:]
