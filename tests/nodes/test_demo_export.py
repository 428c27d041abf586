"""The whole demo pipeline in miniature: one VAE step, one UNet step, export; the exported
file is a real SD1 checkpoint that our CheckpointLoaderSimple path loads and samples with."""

from __future__ import annotations

from pathlib import Path

from nodes.demo.cli import main


def test_train_export_and_load(tmp_path: Path) -> None:
    state, out = tmp_path / "state", tmp_path / "models" / "checkpoints"
    common = ["--state-dir", str(state), "--steps", "1", "--batch", "2", "--device", "cpu"]
    assert main(["vae", *common]) == 0
    assert main(["unet", *common]) == 0
    assert main(["export", "--state-dir", str(state), "--out", str(out)]) == 0
    path = out / "nodegraph-demo-sd1.safetensors"
    assert 10e6 < path.stat().st_size < 40e6

    from nodegraph.engine import Engine
    from nodegraph.settings import Settings

    engine = Engine(Settings(base_dir=tmp_path, models_dir=tmp_path / "models"))
    workflow = {
        "1": {
            "class_type": "CheckpointLoaderSimple",
            "inputs": {"ckpt_name": "nodegraph-demo-sd1.safetensors"},
        },
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red circle", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": 64, "height": 64, "batch_size": 1},
        },
        "5": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["1", 0],
                "positive": ["2", 0],
                "negative": ["3", 0],
                "latent_image": ["4", 0],
                "seed": 1,
                "steps": 2,
                "cfg": 5.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1.0,
            },
        },
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "demo"}},
    }
    result = engine.run(workflow)
    assert result.status == "success", result.error
    image = result.outputs["7"]["images"][0]
    assert (tmp_path / "output" / image["filename"]).is_file()
