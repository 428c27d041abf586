"""Every bundled workflow is a product file and a fixture: it validates and runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nodegraph.engine import Engine
from nodegraph.settings import Settings

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_validates_and_runs(path: Path, tmp_path: Path) -> None:
    engine = Engine(Settings(base_dir=tmp_path))  # node libraries found via entry points
    workflow = json.loads(path.read_text())
    validation = engine.validate(workflow)
    assert validation.ok and not validation.node_errors, validation.to_json()
    result = engine.run(workflow)
    assert result.status == "success", result.error
    assert set(result.outputs) == set(validation.outputs)
    again = engine.run(workflow)
    assert again.executed == [] and sorted(again.cached) == sorted(result.executed)
