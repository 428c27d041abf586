"""A tiny, randomly initialised SD1.x model family for tests and demos (`make-tiny-models`).

Same structure as SD1.5 (4 UNet levels x 2 layers, cross-attention at the first three, an f=8
VAE, a CLIP text encoder with the real 49408-token vocabulary) at small widths, so every file
format, converter and node exercises the real layout in seconds on a CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.sd.checkpoint import save_ldm_checkpoint, save_ldm_vae
from nodes.sd.controlnet import write_tiny_controlnet
from nodes.sd.hypernetwork import write_tiny_hypernetwork
from nodes.sd.lora import write_tiny_lora
from nodes.sd.sd1_configs import TINY_CLIP, TINY_UNET, TINY_VAE
from nodes.sd.tiny_embedding import write_tiny_embedding

CHECKPOINT = Path("checkpoints") / "tiny-sd1.safetensors"
CHECKPOINT_CKPT = Path("checkpoints") / "tiny-sd1.ckpt"
VAE = Path("vae") / "tiny-vae.safetensors"


def tiny_components(
    seed: int,
) -> tuple[UNet2DConditionModel, CLIPTextModel, AutoencoderKL]:
    """(unet, text_model, vae) with default random init, identical for the same seed; the
    global RNG state is left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = UNet2DConditionModel(**TINY_UNET)
        text_model = CLIPTextModel(CLIPTextConfig(**TINY_CLIP))
        vae = AutoencoderKL(**TINY_VAE)
    for model in (unet, text_model, vae):
        model.eval().requires_grad_(False)
    return unet, text_model, vae


def make_tiny_models(root: Path | str, seed: int = 0) -> dict[str, Path]:
    """Write the tiny family under `root` in ComfyUI's model-folder layout: the checkpoint
    (.safetensors and .ckpt, same weights), a standalone VAE, and a LoRA, ControlNet,
    hypernetwork and embedding made for it; returns name -> path written."""
    root = Path(root)
    unet, text_model, vae = tiny_components(seed)
    written = {
        "checkpoint": root / CHECKPOINT,
        "checkpoint_ckpt": root / CHECKPOINT_CKPT,
        "vae": root / VAE,
    }
    # no extra safetensors metadata: the library writes its keys in a random order, and the
    # files must be bit-identical for a seed
    save_ldm_checkpoint(written["checkpoint"], unet, text_model, vae)
    save_ldm_checkpoint(written["checkpoint_ckpt"], unet, text_model, vae)
    save_ldm_vae(written["vae"], vae)
    written["lora"] = write_tiny_lora(root / "loras" / "tiny-lora.safetensors", seed)
    written["controlnet"] = write_tiny_controlnet(
        root / "controlnet" / "tiny-controlnet.safetensors", seed
    )
    written["hypernetwork"] = write_tiny_hypernetwork(
        root / "hypernetworks" / "tiny-hypernetwork.pt", seed
    )
    written["embedding"] = write_tiny_embedding(root / "embeddings" / "tiny-embedding.pt", seed)
    return written


def main(argv: list[str]) -> int:
    """`nodegraph make-tiny-models DIR [--seed N]`."""
    parser = argparse.ArgumentParser(
        prog="nodegraph make-tiny-models",
        description=(
            "Write the tiny random SD1.x family (checkpoint, VAE, LoRA, ControlNet, "
            "hypernetwork, embedding) into a models folder."
        ),
    )
    parser.add_argument("dir", type=Path, help="models folder (ComfyUI layout)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for the weights")
    args = parser.parse_args(argv)
    for name, path in make_tiny_models(args.dir, args.seed).items():
        print(f"{name}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0
