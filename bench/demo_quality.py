"""How well the bundled demo model follows prompts, edge maps and its hypernetwork.

Run from the repository root (minutes on a CPU):

    python bench/demo_quality.py [--seeds 0,1,2,3] [--parts grid,controlnet,hypernetwork]
                                 [--json FILE] [--sheet PNG] [--models-dir DIR]

* grid: workflows/txt2img.json (64x64, 20 euler steps, CFG 5) on the 24 held-out prompts
  (colour x shape x background x position never seen in training) x the seeds; the analyser
  in nodes/demo/analyse.py reads background and shape colour, shape class and position.
  Targets: colour >= 90%, shape >= 75%, position >= 75%.
* controlnet: workflows/controlnet_canny.json on 12 rendered scenes, prompts without the
  position; IoU of the generated shape with the scene's shape, with and without the
  ControlNet. Target: IoU >= 0.6 in >= 10 cases.
* hypernetwork: workflows/hypernetwork.json at strengths 0, 0.5, 1 on 6 held-out prompts x 2
  seeds: the mean ink contrast (background luminance minus shape luminance; about +0.9 for
  black on white) must rise with strength, and strength 0 must give exactly the plain
  model's pixels.

`--sheet` writes the grid's images side by side (a row per prompt, a column per seed).
Exit status 0 whether or not the targets are met; 1 when a workflow fails.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nodes.demo.evaluate import (  # noqa: E402
    WorkflowRunner,
    controlnet_overlap,
    held_out_grid,
    hypernetwork_curve,
)

TARGETS = {"color": 0.90, "shape": 0.75, "position": 0.75}
IOU_TARGET, IOU_CASES = 0.6, 10


def contact_sheet(images: list[np.ndarray], columns: int, path: Path) -> None:
    side = images[0].shape[0]
    rows = (len(images) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * (side + 2), rows * (side + 2)), (90, 90, 90))
    for i, image in enumerate(images):
        sheet.paste(
            Image.fromarray(image), ((i % columns) * (side + 2), (i // columns) * (side + 2))
        )
    sheet.save(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--parts", default="grid,controlnet,hypernetwork")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--sheet", type=Path)
    parser.add_argument("--models-dir", type=Path)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    parts = set(args.parts.split(","))
    runner = WorkflowRunner(args.models_dir)
    report: dict[str, object] = {"seeds": seeds}
    began = time.monotonic()
    try:
        if "grid" in parts:
            grid = held_out_grid(runner, seeds)
            accuracy = grid.accuracy()
            report["grid"] = {"accuracy": accuracy, "rows": grid.rows}
            print(f"held-out grid: {len(grid.rows)} images (24 prompts x {len(seeds)} seeds)")
            for key, value in accuracy.items():
                target = TARGETS.get(key)
                mark = "" if target is None else (" met" if value >= target else " MISSED")
                goal = "" if target is None else f" (target {target:.0%}){mark}"
                print(f"  {key:<10} {value:6.1%}{goal}")
            if args.sheet:
                contact_sheet(grid.images, len(seeds), args.sheet)
                print(f"  contact sheet: {args.sheet}")
        if "controlnet" in parts:
            rows = controlnet_overlap(runner, seeds[0])
            hits = sum(row["iou"] >= IOU_TARGET for row in rows)
            report["controlnet"] = {"rows": rows, "cases_at_target": hits}
            mean = np.mean([r["iou"] for r in rows])
            mean_without = np.mean([r["iou_without"] for r in rows])
            verdict = "met" if hits >= IOU_CASES else "MISSED"
            print(
                f"controlnet: IoU >= {IOU_TARGET} in {hits}/{len(rows)} cases "
                f"(target {IOU_CASES}) {verdict}; mean IoU {mean:.2f}, "
                f"without the ControlNet {mean_without:.2f}"
            )
        if "hypernetwork" in parts:
            curve = hypernetwork_curve(runner, (0.0, 0.5, 1.0), seeds[:2])
            report["hypernetwork"] = curve
            values = list(curve["ink_contrast"].values())
            rising = all(a < b for a, b in itertools.pairwise(values))
            print(
                "hypernetwork ink contrast at 0 / 0.5 / 1: "
                + " / ".join(f"{v:.3f}" for v in values)
                + f" ({'rising' if rising else 'NOT rising'}); strength 0 equals the plain "
                f"model: {curve['strength_0_equals_plain']}"
            )
    except RuntimeError as error:
        print(f"failed: {error}", file=sys.stderr)
        return 1
    print(f"({time.monotonic() - began:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
