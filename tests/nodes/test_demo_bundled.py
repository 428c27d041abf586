"""The demo family shipped inside the package: present, within the size budget, listed by
default (a user's file of the same name wins), and good enough that the README's workflow
draws what its prompt says for several seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodegraph.settings import Settings
from nodes import folders
from nodes.demo.analyse import mask_iou, read_scene
from nodes.demo.configs import SIZE_BUDGET
from nodes.demo.evaluate import WorkflowRunner, ink_contrast, unguided
from nodes.demo.export import CHECKPOINT_NAME, CONTROLNET_NAME, HYPERNETWORK_FILE

BUNDLED = {
    "checkpoints": CHECKPOINT_NAME,
    "controlnet": CONTROLNET_NAME,
    "hypernetworks": HYPERNETWORK_FILE,
}
IOU_GUIDED = 0.5
README_PROMPT = "a white square in the top right on a black background"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> WorkflowRunner:
    """An engine over an empty models folder: only the bundled files are there."""
    return WorkflowRunner(work_dir=tmp_path_factory.mktemp("demo"))


def test_bundled_files_ship_within_the_budget() -> None:
    sizes = [(folders.BUNDLED_DIR / sub / name).stat().st_size for sub, name in BUNDLED.items()]
    assert sum(sizes) <= SIZE_BUDGET


def test_bundled_files_are_listed_and_a_users_file_wins(tmp_path: Path) -> None:
    settings = Settings(base_dir=tmp_path)
    for sub, name in BUNDLED.items():
        assert name in folders.list_files(settings, sub)
        assert folders.full_path(settings, sub, name) == folders.BUNDLED_DIR / sub / name
    mine = settings.models_dir / "checkpoints" / CHECKPOINT_NAME
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"mine")
    assert folders.list_files(settings, "checkpoints").count(CHECKPOINT_NAME) == 1
    assert folders.full_path(settings, "checkpoints", CHECKPOINT_NAME) == mine


def test_readme_workflow_matches_its_prompt(runner: WorkflowRunner) -> None:
    workflow = runner.workflow("txt2img.json")
    assert workflow["6"]["inputs"]["text"] == README_PROMPT
    for seed in (0, 4, 5):
        reading = read_scene(runner.txt2img(README_PROMPT, seed))
        assert (reading.background, reading.color, reading.position) == (
            "black",
            "white",
            "in the top right",
        ), seed


def test_hypernetwork_draws_dark_ink_on_light_paper(runner: WorkflowRunner) -> None:
    workflow = runner.workflow("hypernetwork.json")  # a light yellow circle on blue
    prompt, seed = workflow["6"]["inputs"]["text"], workflow["3"]["inputs"]["seed"]
    plain = runner.txt2img(prompt, seed)
    assert np.array_equal(runner.hypernetwork(0.0, prompt, seed), plain)
    assert ink_contrast(plain) < 0 and ink_contrast(runner.hypernetwork(1.0, prompt, seed)) > 0.3


def test_controlnet_puts_the_shape_where_the_edges_are(runner: WorkflowRunner) -> None:
    workflow = runner.workflow("controlnet_canny.json")  # the prompt names no position
    with Image.open(runner.input_dir / workflow["10"]["inputs"]["image"]) as picture:
        target = read_scene(np.asarray(picture.convert("RGB"))).mask
    guided = read_scene(runner.run(workflow)[0]).mask
    plain = read_scene(runner.run(unguided(workflow))[0]).mask
    assert mask_iou(guided, target) >= IOU_GUIDED > mask_iou(plain, target)
