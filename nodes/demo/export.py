"""Export the trained demo family as the files users get: a single-file SD1 LDM checkpoint.

fp16 halves the size (the bundle must stay under 40 MB); the loader upcasts on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nodes.demo.training import RunConfig, load_state, log_line
from nodes.demo.unet_stage import DemoDenoiser, trained_vae
from nodes.sd.checkpoint import save_ldm_checkpoint

CHECKPOINT_NAME = "nodegraph-demo-sd1.safetensors"


def export_checkpoint(config: RunConfig, out_dir: Path) -> Path:
    """Write `out_dir/nodegraph-demo-sd1.safetensors` from the saved stage states."""
    state = load_state(config.state_dir / "unet.pt")
    if state is None:
        raise SystemExit("train the UNet first: nodegraph train-demo unet")
    model = DemoDenoiser(config.seed)
    model.load_state_dict(state["model"])
    vae = trained_vae(config)
    path = Path(out_dir) / CHECKPOINT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    save_ldm_checkpoint(
        path,
        model.unet,
        model.text,
        vae,
        dtype=torch.float16,
        metadata={
            "nodegraph_demo_steps": f"vae {state.get('vae_step', '?')}, unet {state['step']}"
        },
    )
    log_line(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return path
