"""End to end: a real ComfyUI client from PyPI (comfy-api-simplified) against a live
`nodegraph serve` process running workflows/txt2img.json on the bundled demo model."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.live_server import nodegraph_serve

REPO = Path(__file__).resolve().parents[2]
comfy = pytest.importorskip("comfy_api_simplified")


@pytest.fixture
def live_server(tiny_models: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    out = tmp_path / "output"
    inputs = tmp_path / "input"  # uploads land here, never in the repository
    shutil.copytree(REPO / "workflows" / "input", inputs)
    args = ["--models-dir", str(tiny_models), "--output-dir", str(out), "--input-dir", str(inputs)]
    args += ["--data-dir", str(tmp_path / "data")]
    with nodegraph_serve(args, tmp_path / "server.log", cwd=tmp_path) as served:
        yield served.url, out


def test_txt2img_through_a_pypi_comfyui_client(live_server: tuple[str, Path]) -> None:
    url, out = live_server
    api = comfy.ComfyApiWrapper(url)
    info = api.get_object_info("KSampler")
    assert "euler" in info["KSampler"]["input"]["required"]["sampler_name"][0]
    wf = comfy.ComfyWorkflowWrapper(str(REPO / "workflows" / "txt2img.json"))
    wf.set_node_param("KSampler", "steps", 3)
    wf.set_node_param("KSampler", "seed", 7)
    images = api.queue_and_wait_images(wf, "Save Image")
    assert len(images) == 1
    ((name, data),) = images.items()
    assert name.startswith("txt2img_") and name.endswith("_.png")
    image = Image.open(io.BytesIO(data))
    assert image.size == (256, 256)  # 64x64, upscaled by the workflow's ImageScale
    assert (out / name).read_bytes() == data
    assert "prompt" in image.info  # the workflow travels in the PNG

    uploaded = api.upload_image(str(REPO / "workflows" / "input" / "example.png"))
    assert uploaded["name"].startswith("example") and uploaded["type"] == "input"
    assert api.get_system_stats()["system"]["python_version"]


def test_queue_prompt_and_wait_gets_no_binary_frames(live_server: tuple[str, Path]) -> None:
    """This client treats every binary frame as an image: previews must not reach it."""
    url, _ = live_server
    api = comfy.ComfyApiWrapper(url)
    workflow = json.loads((REPO / "workflows" / "txt2img.json").read_text())
    workflow["3"]["inputs"]["steps"] = 2
    prompt_id, frames = asyncio.run(api.queue_prompt_and_wait(workflow))
    assert frames == []
    history = api.get_history(prompt_id)
    assert history[prompt_id]["status"]["status_str"] == "success"
