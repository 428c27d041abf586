"""The SD benchmark's inputs: an SD1.5-architecture checkpoint with seeded random weights and a
diffusers config folder for it, built once into a cache outside the repository."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

RECIPE = 1
"""Bump when the weights recipe changes, so cached files from an older recipe are rebuilt."""

SD15_SCHEDULER: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "epsilon",
    "timestep_spacing": "linspace",  # == ComfyUI's "normal" scheduler
    "steps_offset": 1,
}

Log = Callable[[str], None]


@dataclass(frozen=True)
class Assets:
    """Where the benchmark's model files are."""

    models_dir: Path
    """A models folder in ComfyUI's layout (checkpoints/<ckpt_name>)."""
    ckpt_name: str
    config_dir: Path
    """A diffusers pipeline folder with configs and tokenizer only (no weights)."""

    @property
    def checkpoint(self) -> Path:
        return self.models_dir / "checkpoints" / self.ckpt_name


def default_cache() -> Path:
    """`$NODEGRAPH_BENCH_CACHE`, else ~/.cache/nodegraph-bench (never inside the repository)."""
    env = os.environ.get("NODEGRAPH_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "nodegraph-bench"


def ensure_assets(cache: Path, seed: int, log: Log = print) -> Assets:
    """Build whatever is missing or stale in `cache` and say where everything is."""
    assets = Assets(
        models_dir=cache / "models",
        ckpt_name=f"sd15-random-seed{seed}.safetensors",
        config_dir=cache / f"diffusers-sd15-r{RECIPE}",
    )
    stamp = assets.checkpoint.with_suffix(".json")
    wanted = {"recipe": RECIPE, "seed": seed}
    if not _stamp_matches(stamp, wanted, assets.checkpoint):
        log(f"building the SD1.5-architecture random checkpoint (seed {seed}), once...")
        started = time.perf_counter()
        write_checkpoint(assets.checkpoint, seed)
        size = assets.checkpoint.stat().st_size
        stamp.write_text(json.dumps({**wanted, "bytes": size}), encoding="utf-8")
        log(f"  {assets.checkpoint} ({size / 1e9:.2f} GB) in {time.perf_counter() - started:.0f} s")
    if not (assets.config_dir / "model_index.json").is_file():
        write_config_dir(assets.config_dir, assets.checkpoint)
        log(f"  diffusers config folder {assets.config_dir}")
    return assets


def _stamp_matches(stamp: Path, wanted: dict[str, int], checkpoint: Path) -> bool:
    if not (stamp.is_file() and checkpoint.is_file()):
        return False
    try:
        found = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    same = all(found.get(k) == v for k, v in wanted.items())
    return same and found.get("bytes") == checkpoint.stat().st_size


def build_components(seed: int) -> tuple[Any, Any, Any]:
    """(unet, text_model, vae) of SD1.5's architecture with PyTorch's default random init.

    Default init keeps activations finite and O(1) (GroupNorm/LayerNorm everywhere), which is
    all a speed benchmark needs; the images look like coloured noise.
    """
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from nodes.sd.sd1_configs import SD15_CLIP, SD15_UNET, SD15_VAE

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**SD15_UNET)
        text_model = CLIPTextModel(CLIPTextConfig(**SD15_CLIP))
        vae = AutoencoderKL(**SD15_VAE)
    return unet, text_model, vae


def write_checkpoint(path: Path, seed: int) -> None:
    """A single-file fp32 LDM checkpoint (~4.3 GB, like a full SD1.5 file), via the project's
    writer; written under a temporary name first so an interrupted build is never reused."""
    from nodes.sd.checkpoint import save_ldm_checkpoint

    unet, text_model, vae = build_components(seed)
    partial = path.with_name(path.name + ".partial.safetensors")
    save_ldm_checkpoint(partial, unet, text_model, vae)
    partial.replace(path)


def write_config_dir(root: Path, checkpoint: Path) -> None:
    """The configs diffusers' `from_single_file(config=...)` needs to stay offline, made from
    what the project's detection reads in the checkpoint, plus the vendored tokenizer."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from safetensors import safe_open

    from nodes.sd.detect import detect_checkpoint
    from nodes.sd.tokenizer import load_tokenizer

    with safe_open(str(checkpoint), framework="pt") as f:
        shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}  # noqa: SIM118
    arch = detect_checkpoint(shapes)
    with torch.device("meta"):
        UNet2DConditionModel(**arch.unet).save_config(root / "unet")
        AutoencoderKL(**arch.vae).save_config(root / "vae")
    arch.clip.save_pretrained(root / "text_encoder")
    load_tokenizer().save_pretrained(root / "tokenizer")
    EulerDiscreteScheduler(**SD15_SCHEDULER).save_config(root / "scheduler")
    index = {
        "_class_name": "StableDiffusionPipeline",
        "feature_extractor": [None, None],
        "requires_safety_checker": False,
        "safety_checker": [None, None],
        "scheduler": ["diffusers", "EulerDiscreteScheduler"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"],
    }
    (root / "model_index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
