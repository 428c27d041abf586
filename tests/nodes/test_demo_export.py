"""The whole demo pipeline in miniature: a step or two of every stage, then export; the
exported files are a real SD1 checkpoint, a lllyasviel ControlNet and an A1111 hypernetwork
that the ordinary loaders read, and a workflow using all three runs on them."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from nodes.demo.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_train_every_stage_export_and_run(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "models"
    common = ["--state-dir", str(state), "--batch", "2", "--device", "cpu"]
    assert main(["vae", *common, "--steps", "2", "--encoder-steps", "1"]) == 0
    for stage in ("unet", "controlnet", "hypernetwork"):
        assert main([stage, *common, "--steps", "1"]) == 0
    assert main(["export", "--state-dir", str(state), "--out", str(out)]) == 0
    checkpoint = out / "checkpoints" / "nodegraph-demo-sd1.safetensors"
    controlnet = out / "controlnet" / "nodegraph-demo-canny.safetensors"
    hypernetwork = out / "hypernetworks" / "nodegraph-demo-bw.pt"
    assert 10e6 < checkpoint.stat().st_size < 40e6
    assert 1e6 < controlnet.stat().st_size < 20e6
    data = torch.load(hypernetwork, weights_only=True)
    assert {k for k in data if isinstance(k, int)} == {32, 64, 128}
    assert data["activation_func"] == "relu" and data["layer_structure"] == [1.0, 2.0, 1.0]

    from nodegraph.engine import Engine
    from nodegraph.settings import Settings

    engine = Engine(
        Settings(base_dir=tmp_path, models_dir=out, input_dir=ROOT / "workflows" / "input")
    )
    workflow = json.loads((ROOT / "workflows" / "controlnet_canny.json").read_text())
    workflow["30"] = {
        "class_type": "HypernetworkLoader",
        "inputs": {"model": ["4", 0], "hypernetwork_name": hypernetwork.name, "strength": 1.0},
    }
    workflow["3"]["inputs"].update(model=["30", 0], steps=2)
    result = engine.run(workflow)
    assert result.status == "success", result.error
    image = result.outputs["9"]["images"][0]
    assert (tmp_path / "output" / image["filename"]).is_file()
