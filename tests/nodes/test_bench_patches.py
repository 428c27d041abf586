"""The patch-overhead benchmark's machinery on the tiny family: its hypernetwork and ControlNet
writers produce files the project loads, each variant runs through the engine and is timed from
KSampler's progress events, and the report computes overheads against plain."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import patches  # noqa: E402


def test_hypernetwork_writer_matches_the_tiny_recipe_and_loads(tmp_path: Path) -> None:
    from nodes.sd.hypernetwork import TINY_WIDTHS, load_hypernetwork, write_tiny_hypernetwork

    ours = patches.write_hypernetwork(
        tmp_path / "h.pt", TINY_WIDTHS, seed=3, activation="relu", layer_norm=True
    )
    tiny = write_tiny_hypernetwork(tmp_path / "tiny.pt", seed=3)
    a = torch.load(ours, weights_only=False)
    b = torch.load(tiny, weights_only=False)
    for dim in TINY_WIDTHS:
        for mine, theirs in zip(a[dim], b[dim], strict=True):
            assert mine.keys() == theirs.keys()
            assert all(torch.equal(mine[k], theirs[k]) for k in mine)
    wide = load_hypernetwork(patches.write_hypernetwork(tmp_path / "wide.pt", (40, 72), seed=0))
    assert sorted(wide.dims) == [40, 72]
    data = torch.load(tmp_path / "wide.pt", weights_only=False)  # A1111's defaults
    assert data["activation_func"] == "linear" and data["is_layer_norm"] is False
    assert list(data[40][0]) == [
        "linear.0.weight",
        "linear.0.bias",
        "linear.1.weight",
        "linear.1.bias",
    ]


def test_controlnet_writer_round_trips_through_the_loader(tmp_path: Path) -> None:
    from nodes.sd.controlnet import load_controlnet, tiny_controlnet
    from nodes.sd.tiny import tiny_components

    path = patches.write_controlnet(tmp_path / "cn.safetensors", tiny_components(0)[0], seed=0)
    loaded = load_controlnet(path)
    reference = tiny_controlnet(0).state_dict()
    got = loaded.state_dict()
    assert got.keys() == reference.keys()
    assert all(torch.equal(got[k], reference[k]) for k in reference)


@pytest.fixture(scope="module")
def timed(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("bench-patches")
    results = {}
    for variant in patches.VARIANTS:
        job = {
            "variant": variant,
            "models_dir": str(tiny_models),
            "ckpt_name": "tiny-sd1.safetensors",
            "hypernetwork_name": "tiny-hypernetwork.pt",
            "controlnet_name": "tiny-controlnet.safetensors",
            "size": 64,
            "steps": 3,
            "warmup_steps": 2,
            "cfg": 7.5,
            "seed": 5,
            "repeat": 2,
            "threads": 1,
            "base_dir": str(work / variant),
        }
        results[variant] = patches.run_variant(job)
    return results


def test_each_variant_runs_and_is_timed_per_step(timed: dict[str, Any]) -> None:
    for variant, r in timed.items():
        assert r["finite"], variant
        assert r["latent_shape"] == [1, 4, 8, 8]
        assert len(r["runs"]) == 2
        assert r["step_s"] == min(run["step_s"] for run in r["runs"]) > 0
        assert 0 < r["node_step_s"] * 3 == pytest.approx(r["ksampler_s"])


def test_the_patches_change_the_sampled_latent(timed: dict[str, Any]) -> None:
    stds = {variant: r["latent_std"] for variant, r in timed.items()}
    assert stds["hypernetwork"] != pytest.approx(stds["plain"], rel=1e-4)
    assert stds["controlnet"] != pytest.approx(stds["plain"], rel=1e-4)


def test_workflow_names_are_replaced() -> None:
    job = {
        "variant": "controlnet",
        "ckpt_name": "c.safetensors",
        "controlnet_name": "n.safetensors",
        "size": 256,
        "cfg": 7.5,
    }
    prompt = patches.build_prompt(job, steps=6, seed=9)
    assert prompt["4"]["inputs"]["ckpt_name"] == "c.safetensors"
    assert prompt["12"]["inputs"]["control_net_name"] == "n.safetensors"
    assert prompt["13"]["inputs"]["strength"] == 1.0
    assert prompt["3"]["inputs"]["steps"] == 6 and prompt["3"]["inputs"]["cfg"] == 7.5
    assert prompt["5"]["inputs"]["width"] == 256
    assert "9" not in prompt and prompt["out"]["inputs"]["samples"] == ["3", 0]


def test_per_step_and_overheads() -> None:
    timing = patches.per_step([1.0, 1.5, 2.0, 2.5], start=0.5, end=2.5, steps=4)
    assert timing == {"step_s": 0.5, "node_step_s": 0.5, "ksampler_s": 2.0}
    with pytest.raises(RuntimeError, match="expected 4 progress events"):
        patches.per_step([1.0], start=0.0, end=1.0, steps=4)
    results = {
        "plain": {"step_s": 2.0, "node_step_s": 2.0},
        "hypernetwork": {"step_s": 2.3, "node_step_s": 2.2},
    }
    over = patches.overheads(results)
    assert over["hypernetwork"]["step"] == pytest.approx(0.15)
    text = patches.report(results, 256, 6)
    assert "+15.0%" in text and "MISSED" in text
