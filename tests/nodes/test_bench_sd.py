"""The SD benchmark's machinery on the tiny model family: the generated diffusers config folder
loads offline, both sides run the same job and agree, and the report helpers combine runs."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import sd  # noqa: E402
import sd_models  # noqa: E402
import sd_worker  # noqa: E402


def job(tmp_path: Path, models: Path, config_dir: Path, side: str) -> dict[str, Any]:
    return {
        "side": side,
        "models_dir": str(models),
        "ckpt_name": "tiny-sd1.safetensors",
        "config_dir": str(config_dir),
        "size": 64,
        "steps": 3,
        "cfg": 7.5,
        "seed": 11,
        "device": "cpu",
        "half": False,
        "threads": 1,
        "prompt": "a red circle",
        "negative": "blurry",
        "base_dir": str(tmp_path / side),
        "result": str(tmp_path / f"{side}.json"),
        "image": str(tmp_path / f"{side}.npy"),
        "profile": None,
    }


@pytest.fixture
def config_dir(tmp_path: Path, tiny_models: Path) -> Path:
    root = tmp_path / "config"
    sd_models.write_config_dir(root, tiny_models / "checkpoints" / "tiny-sd1.safetensors")
    return root


def test_config_folder_is_what_diffusers_needs_offline(config_dir: Path) -> None:
    index = json.loads((config_dir / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    unet = json.loads((config_dir / "unet" / "config.json").read_text())
    assert unet["block_out_channels"] == [32, 64, 64, 64] and unet["cross_attention_dim"] == 64
    scheduler = json.loads((config_dir / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["timestep_spacing"] == "linspace"
    assert (config_dir / "tokenizer" / "tokenizer.json").is_file()


def test_both_sides_run_the_same_job_and_agree(
    tmp_path: Path, tiny_models: Path, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODEGRAPH_DEVICE", "cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    results = {}
    for side, run in (("ours", sd_worker.run_ours), ("diffusers", sd_worker.run_diffusers)):
        results[side] = run(job(tmp_path, tiny_models, config_dir, side), sd_worker.Clock(False))
    for r in results.values():
        assert r["finite"] and r["image_shape"] == [1, 64, 64, 3]
        assert r["warm_s"] > 0 and r["cold_s"] > r["warm_parts"]["sampling"] > 0
        assert r["it_per_s"] > 0 and r["peak_rss_bytes"] > 50e6
        assert {"load", "text", "sampling", "decode"} <= set(r["cold_parts"])
    ours, theirs = (np.load(tmp_path / f"{side}.npy") for side in ("ours", "diffusers"))
    assert ours.std() > 0.005 and theirs.std() > 0.005  # a real image, not a constant
    # same noise, schedule and CFG: only the timestep rounding differs
    assert float(np.abs(ours - theirs).mean()) < 0.01
    reseeded = {**job(tmp_path, tiny_models, config_dir, "ours"), "seed": 12}
    reseeded["image"] = str(tmp_path / "o.npy")
    other = sd_worker.run_ours(reseeded, sd_worker.Clock(False))
    assert other["finite"]
    assert not np.array_equal(np.load(tmp_path / "o.npy"), ours)


def test_best_of_keeps_the_fastest_times_and_the_largest_memory() -> None:
    runs = [
        {"cold_s": 10.0, "warm_s": 4.0, "it_per_s": 1.0, "peak_rss_bytes": 5, "tag": "a"},
        {"cold_s": 12.0, "warm_s": 3.0, "it_per_s": 1.5, "peak_rss_bytes": 7, "tag": "b"},
    ]
    best = sd.best_of(runs)
    assert (best["cold_s"], best["warm_s"], best["it_per_s"]) == (10.0, 3.0, 1.5)
    assert best["peak_rss_bytes"] == 7 and best["runs"] == 2
    assert best["tag"] == "a"  # breakdown from the run with the lowest cold + warm


def test_steps_per_second() -> None:
    assert sd_worker.steps_per_second([1.0, 1.5, 2.0], 0.0) == pytest.approx(2.0)
    assert sd_worker.steps_per_second([2.5], 2.0) == pytest.approx(2.0)
    assert sd_worker.steps_per_second([], 0.0) == 0.0


def test_stale_or_partial_checkpoint_is_rebuilt(tmp_path: Path) -> None:
    checkpoint = tmp_path / "c.safetensors"
    stamp = tmp_path / "c.json"
    wanted = {"recipe": sd_models.RECIPE, "seed": 0}
    assert not sd_models._stamp_matches(stamp, wanted, checkpoint)
    checkpoint.write_bytes(b"x" * 10)
    stamp.write_text(json.dumps({**wanted, "bytes": 10}))
    assert sd_models._stamp_matches(stamp, wanted, checkpoint)
    assert not sd_models._stamp_matches(stamp, {**wanted, "seed": 1}, checkpoint)
    checkpoint.write_bytes(b"x" * 9)  # truncated
    assert not sd_models._stamp_matches(stamp, wanted, checkpoint)


def test_arguments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NODEGRAPH_BENCH_CACHE", str(tmp_path))
    args = sd.parse_args(["--quick"])
    assert (args.sizes, args.steps, args.cache) == ([128], 2, tmp_path)
    assert sd.parse_args(["--sizes", "256,512"]).sizes == [256, 512]
    with pytest.raises(SystemExit):
        sd.parse_args(["--sizes", "250"])
    with pytest.raises(SystemExit):
        sd.parse_args(["--sides", "ours,comfy"])
