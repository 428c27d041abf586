"""`nodegraph train-demo STAGE`: train the bundled demo model, resumably.

Stages run in order: `vae` (autoencoder on the procedural scenes), then `unet` (UNet and text
encoder jointly, on the VAE's latents), then `export` (the single-file checkpoint). Each
training stage keeps its full state in STATE_DIR/<stage>.pt and continues from it when run
again, so training can stop at any time (Ctrl-C, a session ending) and go on later, on a CPU
or a GPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nodes.demo.training import RunConfig

DEFAULT_STATE = Path(__file__).resolve().parent / "state"
STAGES = {
    "vae": {"steps": 3000, "batch": 32, "lr": 2e-4},
    "unet": {"steps": 20000, "batch": 64, "lr": 3e-4},
    "export": {"steps": 0, "batch": 1, "lr": 0.0},
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="nodegraph train-demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("stage", choices=list(STAGES))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE)
    parser.add_argument("--steps", type=int, help="train up to this many steps in all")
    parser.add_argument("--batch", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=200)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--out", type=Path, default=Path("models/checkpoints"), help="export to")
    args = parser.parse_args(argv)
    defaults = STAGES[args.stage]
    config = RunConfig(
        state_dir=args.state_dir,
        steps=args.steps or int(defaults["steps"]),
        batch=args.batch or int(defaults["batch"]),
        lr=args.lr if args.lr is not None else float(defaults["lr"]),
        seed=args.seed,
        save_every=args.save_every,
        device=args.device,
    )
    if args.stage == "vae":
        from nodes.demo.vae_stage import train_vae

        train_vae(config)
    elif args.stage == "unet":
        from nodes.demo.unet_stage import train_unet

        train_unet(config)
    else:
        from nodes.demo.export import export_checkpoint

        export_checkpoint(config, args.out)
    return 0
