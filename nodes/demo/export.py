"""Export the trained demo family as the files users get, in ComfyUI's folder layout:
`checkpoints/nodegraph-demo-sd1.safetensors` (single-file SD1 LDM checkpoint, fp16, so the
bundle stays under 40 MB; the loader upcasts on the CPU), `controlnet/nodegraph-demo-canny
.safetensors` (lllyasviel layout, fp16) and `hypernetworks/nodegraph-demo-bw.pt` (A1111).
"""

from __future__ import annotations

from pathlib import Path

import torch

from nodes.demo.training import RunConfig, log_line, saved_step
from nodes.demo.unet_stage import DemoDenoiser, load_denoiser, trained_vae
from nodes.sd.checkpoint import save_ldm_checkpoint
from nodes.sd.controlnet import write_controlnet

CHECKPOINT_NAME = "nodegraph-demo-sd1.safetensors"
CONTROLNET_NAME = "nodegraph-demo-canny.safetensors"
HYPERNETWORK_FILE = "nodegraph-demo-bw.pt"


def export_checkpoint(config: RunConfig, model: DemoDenoiser, out_dir: Path) -> Path:
    """Write `out_dir/checkpoints/nodegraph-demo-sd1.safetensors`: the trained UNet and text
    encoder in `model`, the VAE from its saved state."""
    vae = trained_vae(config)
    steps = {name: saved_step(config.state_dir / f"{name}.pt") for name in ("vae", "unet")}
    path = Path(out_dir) / "checkpoints" / CHECKPOINT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    save_ldm_checkpoint(
        path,
        model.unet,
        model.text,
        vae,
        dtype=torch.float16,
        metadata={"nodegraph_demo_steps": f"vae {steps['vae']}, unet {steps['unet']}"},
    )
    return _written(path)


def export_controlnet(config: RunConfig, model: DemoDenoiser, out_dir: Path) -> Path:
    from nodes.demo.controlnet_stage import load_controlnet_state

    path = Path(out_dir) / "controlnet" / CONTROLNET_NAME
    net = load_controlnet_state(config, model.unet)
    return _written(write_controlnet(path, net, torch.float16))


def export_hypernetwork(config: RunConfig, model: DemoDenoiser, out_dir: Path) -> Path:
    from nodes.demo.hypernetwork_stage import load_hypernetwork_state, save_a1111

    hypernetwork, step = load_hypernetwork_state(config, model.unet)
    path = Path(out_dir) / "hypernetworks" / HYPERNETWORK_FILE
    return _written(save_a1111(hypernetwork, path, step))


def export_all(config: RunConfig, out_dir: Path) -> list[Path]:
    """Every file whose stage has a saved state (the checkpoint is required); the trained
    UNet, which the ControlNet and hypernetwork are built around, is loaded once."""
    model = load_denoiser(config)
    written = [export_checkpoint(config, model, out_dir)]
    if (config.state_dir / "controlnet.pt").is_file():
        written.append(export_controlnet(config, model, out_dir))
    if (config.state_dir / "hypernetwork.pt").is_file():
        written.append(export_hypernetwork(config, model, out_dir))
    return written


def _written(path: Path) -> Path:
    log_line(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
