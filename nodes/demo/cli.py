"""`nodegraph train-demo STAGE`: train the bundled demo model, resumably.

Stages run in order: `vae` (autoencoder on the procedural scenes), then `unet` (UNet and text
encoder jointly, on the VAE's latents; it may start once the VAE's encoder is frozen), then
`controlnet` and `hypernetwork` (against the frozen UNet), then `export` (the bundled files,
into nodes/demo/models/ unless --out says otherwise). Each
training stage keeps its full state in STATE_DIR/<stage>.pt and continues from it when run
again, so training can stop at any time (Ctrl-C, a session ending) and go on later, on a CPU
or a GPU.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Any

from nodes.demo.configs import ENCODER_STEPS
from nodes.demo.training import RunConfig
from nodes.folders import BUNDLED_DIR

DEFAULT_STATE = Path(__file__).resolve().parent / "state"
STAGES: dict[str, dict[str, Any]] = {  # the shipped files were trained with these
    "vae": {
        "steps": 4500,
        "batch": 32,
        "lr": 2e-4,
        "encoder_steps": ENCODER_STEPS,
        "cooldown": 800,
        "rounds": ((2800, 0),),
    },
    "unet": {"steps": 9000, "batch": 64, "lr": 3e-4, "cooldown": 1500, "rounds": ((4000, 800),)},
    "controlnet": {"steps": 2500, "batch": 32, "lr": 5e-4, "cooldown": 600},
    "hypernetwork": {"steps": 1500, "batch": 32, "lr": 1e-3, "cooldown": 500},
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
    parser.add_argument("--cooldown", type=int, help="decay the lr to 0 over the last N steps")
    parser.add_argument("--encoder-steps", type=int, help="vae: freeze the encoder after N")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-every", type=int, default=100)
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--out", type=Path, default=BUNDLED_DIR, help="export to (models dir)")
    args = parser.parse_args(argv)
    defaults = STAGES[args.stage]
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    config = RunConfig(
        state_dir=args.state_dir,
        steps=args.steps or int(defaults["steps"]),
        batch=args.batch or int(defaults["batch"]),
        lr=args.lr if args.lr is not None else float(defaults["lr"]),
        seed=args.seed,
        save_every=args.save_every,
        device=args.device,
        cooldown=args.cooldown if args.cooldown is not None else int(defaults.get("cooldown", 0)),
        rounds=defaults.get("rounds", ()),
    )
    if args.stage == "export":
        from nodes.demo.export import export_all

        export_all(config, args.out)
    elif args.stage == "vae":
        from nodes.demo.vae_stage import train_vae

        train_vae(config, args.encoder_steps or int(defaults["encoder_steps"]))
    else:
        train = importlib.import_module(f"nodes.demo.{args.stage}_stage")
        getattr(train, f"train_{args.stage}")(config)
    return 0
