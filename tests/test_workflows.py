"""Every bundled workflow is a product file and a fixture: it validates and runs, here against
the tiny model family, and writes real images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from nodegraph.engine import Engine
from nodegraph.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_workflow_validates_and_runs(path: Path, tmp_path: Path, tiny_models: Path) -> None:
    settings = Settings(
        base_dir=tmp_path, models_dir=tiny_models, input_dir=ROOT / "workflows/input"
    )
    engine = Engine(settings)  # node libraries found via entry points
    workflow = engine.to_api(json.loads(path.read_text()))
    validation = engine.validate(workflow)
    assert validation.ok and not validation.node_errors, validation.to_json()
    result = engine.run(workflow)
    assert result.status == "success", result.error
    assert set(result.outputs) == set(validation.outputs)
    for ui in result.outputs.values():
        for image in ui.get("images", []):
            with Image.open(settings.output_dir / image["subfolder"] / image["filename"]) as png:
                assert png.size[0] >= 64 and png.info["prompt"]
                pixels = png.convert("RGB").getextrema()
                assert any(lo < hi for lo, hi in pixels), "image is a flat colour"
    again = engine.run(workflow)
    assert again.executed == [] and sorted(again.cached) == sorted(result.executed)


def test_ui_workflow_converts_to_the_api_workflow() -> None:
    engine = Engine(Settings())
    ui = json.loads((ROOT / "workflows/txt2img.ui.json").read_text())
    api = json.loads((ROOT / "workflows/txt2img.json").read_text())

    def strip(prompt: dict[str, dict]) -> dict[str, tuple]:
        return {k: (v["class_type"], v["inputs"]) for k, v in prompt.items()}

    assert strip(engine.to_api(ui)) == strip(api)
