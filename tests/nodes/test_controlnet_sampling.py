"""ControlNet inside the sampling loop: which steps it runs on (ComfyUI's percent -> sigma
windows), and that it works with img2img, area conditioning and batches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from nodegraph.engine import Engine
from nodegraph.settings import Settings
from nodes.sd.model_sampling import ModelSampling
from nodes.sd.schedules import ksampler_sigmas
from nodes.types import ControlLink

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("scheduler", "steps"),
    [("normal", [2, 3, 4, 5, 6, 7]), ("karras", [3, 4, 5])],
)
def test_percent_window_selects_comfyui_steps(scheduler: str, steps: list[int]) -> None:
    """start 0.2 / end 0.8 over 10 steps: ComfyUI compares each step's sigma with the sigmas of
    the percents, so karras's front-loaded schedule gets fewer steps than a step-fraction rule."""
    sampling = ModelSampling.sd1()
    sigmas = ksampler_sigmas(sampling, scheduler, "euler", 10, 1.0)
    link = ControlLink(
        net=None, hint=torch.zeros(1), strength=1.0, start_percent=0.2, end_percent=0.8
    )
    active = [i for i in range(10) if link.active(float(sigmas[i]), sampling.percent_to_sigma)]
    assert active == steps


def controlnet_prompt(scheduler: str, start: float, end: float) -> dict[str, Any]:
    prompt: dict[str, Any] = json.loads((ROOT / "workflows/controlnet_canny.json").read_text())
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "KSampler":
            inputs.update(steps=10, scheduler=scheduler, sampler_name="euler")
        if node["class_type"] == "ControlNetApplyAdvanced":
            inputs.update(start_percent=start, end_percent=end)
        if node["class_type"] == "EmptyLatentImage":
            inputs.update(width=64, height=64)
    return prompt


def engine_for(tmp_path: Path, tiny_models: Path) -> Engine:
    settings = Settings(
        base_dir=tmp_path, models_dir=tiny_models, input_dir=ROOT / "workflows" / "input"
    )
    return Engine(settings)


def test_controlnet_runs_on_exactly_the_window_steps(
    tmp_path: Path, tiny_models: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import nodes.sd.controlnet as module

    engine = engine_for(tmp_path, tiny_models)
    calls: list[int] = []
    real = module.load_controlnet

    def counting(*args: Any, **kw: Any) -> Any:
        net = real(*args, **kw)
        net.register_forward_hook(lambda m, inputs, out: calls.append(inputs[0].shape[0]))
        return net

    monkeypatch.setattr(module, "load_controlnet", counting)
    result = engine.run(controlnet_prompt("karras", 0.2, 0.8))
    assert result.status == "success", result.error
    # positive and negative share one link: one ControlNet call per active step (batch 2)
    assert calls == [2, 2, 2]


def test_controlnet_with_img2img_area_conditioning_and_a_batch(
    tmp_path: Path, tiny_models: Path
) -> None:
    engine = engine_for(tmp_path, tiny_models)
    prompt = controlnet_prompt("normal", 0.0, 1.0)
    sampler = next(k for k, n in prompt.items() if n["class_type"] == "KSampler")
    apply = next(k for k, n in prompt.items() if n["class_type"] == "ControlNetApplyAdvanced")
    load = next(k for k, n in prompt.items() if n["class_type"] == "LoadImage")
    checkpoint = prompt[sampler]["inputs"]["model"][0]
    prompt["encode"] = {
        "class_type": "VAEEncode",
        "inputs": {"pixels": [load, 0], "vae": [checkpoint, 2]},
    }
    latent = ["encode", 0]
    prompt["area"] = {
        "class_type": "ConditioningSetArea",
        "inputs": {
            "conditioning": [apply, 0],
            "width": 64,
            "height": 64,
            "x": 0,
            "y": 0,
            "strength": 1.0,
        },
    }
    prompt["repeat"] = {
        "class_type": "RepeatLatentBatch",
        "inputs": {"samples": latent, "amount": 2},
    }
    prompt[sampler]["inputs"].update(
        positive=["area", 0], latent_image=["repeat", 0], denoise=0.6, steps=4
    )
    result = engine.run(prompt)
    assert result.status == "success", result.error
    images = next(iter(result.outputs.values()))["images"]
    assert len(images) == 2
