"""Measure the demo family through the shipped workflows: prompt following on the held-out
grid, ControlNet shape overlap, hypernetwork style strength.

Everything runs through the real engine and the real workflow files (only prompts, seeds,
images and strengths are changed), so what is measured is what a user gets.
"""

from __future__ import annotations

import copy
import json
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nodes.demo.analyse import mask_iou, read_scene
from nodes.demo.scenes import HELD_OUT, article, for_attributes, render

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
SAVE, SAMPLER, POSITIVE, NEGATIVE, LOADER = "9", "3", "6", "7", "10"
"""Node ids shared by the demo workflows (LOADER: LoadImage or HypernetworkLoader)."""


class WorkflowRunner:
    """One engine (models and outputs cached across runs) running workflow files with
    changed inputs; returns the saved images as uint8 arrays at the generated size."""

    def __init__(self, models_dir: Path | None = None, work_dir: Path | None = None) -> None:
        from nodegraph.engine import Engine
        from nodegraph.settings import Settings

        self._tmp = tempfile.TemporaryDirectory() if work_dir is None else None  # kept alive
        base = Path(self._tmp.name) if self._tmp is not None else Path(str(work_dir))
        self.input_dir = base / "input"  # the workflows' pictures, and evaluation scenes
        shutil.copytree(WORKFLOWS / "input", self.input_dir, dirs_exist_ok=True)
        settings = Settings(
            base_dir=base, models_dir=models_dir or base / "models", input_dir=self.input_dir
        )
        self.settings = settings
        self.engine = Engine(settings)

    def workflow(self, name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((WORKFLOWS / name).read_text())
        return data

    def run(self, workflow: dict[str, Any]) -> list[np.ndarray]:
        result = self.engine.run(workflow)
        if result.status != "success":
            raise RuntimeError(f"workflow failed: {result.error}")
        images = []
        for entry in result.outputs[SAVE]["images"]:
            path = self.settings.output_dir / entry["subfolder"] / entry["filename"]
            with Image.open(path) as png:
                images.append(np.asarray(png.convert("RGB")))
        latent = workflow["5"]["inputs"]
        return [_generated_size(image, latent["width"], latent["height"]) for image in images]

    def txt2img(self, prompt: str, seed: int) -> np.ndarray:
        return self.run(with_prompt(self.workflow("txt2img.json"), prompt, seed))[0]

    def hypernetwork(self, strength: float, prompt: str, seed: int) -> np.ndarray:
        """hypernetwork.json at `strength` with this prompt and seed."""
        workflow = with_prompt(self.workflow("hypernetwork.json"), prompt, seed)
        workflow[LOADER]["inputs"]["strength"] = strength
        return self.run(workflow)[0]


def with_prompt(workflow: dict[str, Any], prompt: str, seed: int) -> dict[str, Any]:
    """The workflow with its positive prompt and sampler seed replaced."""
    workflow[POSITIVE]["inputs"]["text"] = prompt
    workflow[SAMPLER]["inputs"]["seed"] = seed
    return workflow


def unguided(workflow: dict[str, Any]) -> dict[str, Any]:
    """A copy of controlnet_canny.json whose sampler takes the plain prompts, bypassing the
    ControlNet: the same picture without its guidance."""
    plain = copy.deepcopy(workflow)
    plain[SAMPLER]["inputs"].update(positive=[POSITIVE, 0], negative=[NEGATIVE, 0])
    return plain


def _generated_size(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Undo the workflows' nearest-exact upscale (an integer factor): every k-th pixel."""
    ky, kx = image.shape[0] // height, image.shape[1] // width
    return image[::ky, ::kx] if ky >= 1 and kx >= 1 else image


@dataclass
class GridResult:
    """Per held-out prompt and seed: what was asked, what was read."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)

    def accuracy(self) -> dict[str, float]:
        keys = ("color", "shape", "position", "background")
        return {k: float(np.mean([row[k + "_ok"] for row in self.rows])) for k in keys}


def held_out_grid(runner: WorkflowRunner, seeds: Iterable[int]) -> GridResult:
    """txt2img.json on every held-out (colour, shape, background, position) x seed."""
    result = GridResult()
    for color, shape, background, position in sorted(HELD_OUT):
        prompt = for_attributes(color, shape, background, position).caption
        for seed in seeds:
            image = runner.txt2img(prompt, seed)
            reading = read_scene(image)
            result.images.append(image)
            result.rows.append(
                {
                    "prompt": prompt,
                    "seed": seed,
                    "read": [reading.color, reading.shape, reading.background, reading.position],
                    "color_ok": reading.color == color,
                    "shape_ok": reading.shape == shape,
                    "position_ok": reading.position == position,
                    "background_ok": reading.background == background,
                }
            )
    return result


CONTROL_CASES = [
    (color, shape, background, position, size)
    for (color, shape, background, position), size in zip(
        sorted(HELD_OUT)[:12], ["large", "medium", "small"] * 4, strict=True
    )
]
"""Twelve scenes whose edge maps guide the ControlNet: held-out combinations, three sizes."""


def controlnet_overlap(runner: WorkflowRunner, seed: int = 0) -> list[dict[str, Any]]:
    """controlnet_canny.json on each case's rendered scene, with a prompt that names colours
    and shape but not the position; IoU of the generated shape with the scene's, with the
    ControlNet and without it (the sampler fed the plain prompts)."""
    rows = []
    for color, shape, background, position, size in CONTROL_CASES:
        scene = for_attributes(color, shape, background, position, size)
        image, mask = render(scene)
        name = f"case_{color}_{shape}_{size}.png"
        image.save(runner.input_dir / name)
        prompt = f"{article(color)} {shape} on {article(background)} background"
        workflow = with_prompt(runner.workflow("controlnet_canny.json"), prompt, seed)
        workflow[LOADER]["inputs"]["image"] = name
        target = np.asarray(mask) > 127
        with_net = read_scene(runner.run(workflow)[0])
        without = read_scene(runner.run(unguided(workflow))[0])
        rows.append(
            {
                "scene": [color, shape, background, position, size],
                "prompt": prompt,
                "iou": mask_iou(with_net.mask, target),
                "iou_without": mask_iou(without.mask, target),
                "read": [with_net.color, with_net.shape, with_net.background, with_net.position],
            }
        )
    return rows


def ink_contrast(image: np.ndarray) -> float:
    """The style measure of the black-ink-on-white hypernetwork: mean luminance (0..1) of the
    background minus that of the shape (the analyser's mask). Positive for a dark shape on a
    light background, about +0.9 for black on white; negative for a light shape on dark."""
    luminance = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255
    mask = read_scene(image).mask
    if not mask.any() or mask.all():
        return 0.0
    return float(luminance[~mask].mean() - luminance[mask].mean())


def hypernetwork_curve(
    runner: WorkflowRunner, strengths: Iterable[float], seeds: Iterable[int], prompts: int = 6
) -> dict[str, Any]:
    """Mean ink contrast of hypernetwork.json at each strength over held-out prompts, and
    whether strength 0 gives exactly the plain model's pixels."""
    cases = [for_attributes(*attrs).caption for attrs in sorted(HELD_OUT)[:prompts]]
    seeds = list(seeds)
    curve: dict[float, float] = {}
    for strength in strengths:
        values = []
        for prompt in cases:
            for seed in seeds:
                values.append(ink_contrast(runner.hypernetwork(strength, prompt, seed)))
        curve[strength] = float(np.mean(values))
    plain = runner.txt2img(cases[0], seeds[0])
    zero = runner.hypernetwork(0.0, cases[0], seeds[0])
    return {"ink_contrast": curve, "strength_0_equals_plain": bool(np.array_equal(plain, zero))}
