"""Per-step cost of a hypernetwork and of a ControlNet against plain txt2img, through the engine.

Run from the repository root:

    python bench/patches.py [--quick] [--size 256] [--steps 6] [--repeat 2] [--threads N]
                            [--variants plain,hypernetwork,controlnet] [--seed 0] [--cache DIR]
                            [--structure 1,2,1] [--activation linear] [--layer-norm]
                            [--profile DIR] [--json FILE]

Models: the SD1.5-architecture random checkpoint of bench/sd_models.py, plus an SD1.5-size
ControlNet copied from its UNet (small random zero-convolutions, webui `control_model.` file) and
an SD1.5-size A1111 hypernetwork (widths 320, 640, 768, 1280; A1111's defaults unless told:
layer_structure [1, 2, 1], activation linear, no layer norm), written once beside the
checkpoint. `--quick` uses the tiny family at 128 px.

Each variant runs in its own process: workflows/txt2img.json, workflows/hypernetwork.json
(strength 1) or workflows/controlnet_canny.json (strength 1, window 0..1) with our model names,
euler, "normal", CFG 7.5, ending at the KSampler's latent (no VAE decode). A short warm-up run
loads everything; then `--repeat` runs with new seeds re-execute only the KSampler. Per step =
time between the first and last progress events / (steps - 1), so the loop's set-up is left
out; the KSampler node's whole time per step is reported beside it. Best of the repeats.
Target: hypernetwork <= 10% slower per step than plain. Exit status 0 when every run
completed (a missed target is reported, not failed), 1 when a run failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
for _path in (HERE, ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from sd_models import default_cache, ensure_assets  # noqa: E402

from nodegraph import Socket, node  # noqa: E402  (torch-free, cheap)

VARIANTS = ("plain", "hypernetwork", "controlnet")
WORKFLOWS = {
    "plain": "txt2img.json",
    "hypernetwork": "hypernetwork.json",
    "controlnet": "controlnet_canny.json",
}
PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"
NEGATIVE = "blurry, low quality, watermark"
CFG = 7.5
WARMUP_STEPS = 2
HYPERNETWORK_TARGET = 0.10
SD15_WIDTHS = (320, 640, 768, 1280)
"""Attention k/v input widths in SD1.5's UNet: self-attention 320/640/1280, cross-attention 768."""
QUICK_SIZE = 128
PATCH_RECIPE = 1
"""Bump when the ControlNet/hypernetwork recipe changes, so cached files are rebuilt."""

Log = Callable[[str], None]


# -- model files ---------------------------------------------------------------------------------


def write_hypernetwork(
    path: Path,
    widths: Sequence[int] = SD15_WIDTHS,
    seed: int = 0,
    structure: Sequence[float] = (1, 2, 1),
    activation: str = "linear",
    layer_norm: bool = False,
) -> Path:
    """An A1111-format hypernetwork `.pt` for `widths` (SD1.5's by default), written atomically."""
    from nodes.sd.hypernetwork import write_hypernetwork as write

    partial = path.with_name(path.name + ".partial")
    write(partial, tuple(widths), seed, tuple(structure), activation, layer_norm)
    partial.replace(path)
    return path


def write_controlnet(path: Path, unet: Any, seed: int = 0) -> Path:
    """A ControlNet copied from `unet` with small random zero-convolutions (as the tiny one),
    saved with webui `control_model.` keys, written atomically."""
    from nodes.sd.controlnet import controlnet_from_unet
    from nodes.sd.controlnet import write_controlnet as write

    partial = path.with_name(path.name + ".partial.safetensors")
    write(partial, controlnet_from_unet(unet, seed))
    partial.replace(path)
    return path


def ensure_models(
    cache: Path,
    seed: int,
    quick: bool,
    log: Log = print,
    structure: Sequence[float] = (1, 2, 1),
    activation: str = "linear",
    layer_norm: bool = False,
) -> dict[str, str]:
    """models_dir and file names for the run, building what is missing: the SD1.5-size set
    beside bench/sd_models.py's checkpoint, or the tiny family for --quick."""
    if quick:
        from nodes.sd.tiny import make_tiny_models

        models = cache / f"tiny-seed{seed}"
        if not (models / "hypernetworks" / "tiny-hypernetwork.pt").is_file():
            make_tiny_models(models, seed=seed)
        return {
            "models_dir": str(models),
            "ckpt_name": "tiny-sd1.safetensors",
            "hypernetwork_name": "tiny-hypernetwork.pt",
            "controlnet_name": "tiny-controlnet.safetensors",
        }
    assets = ensure_assets(cache, seed, log)
    shape = "x".join(f"{m:g}" for m in structure) + f"-{activation}"
    shape += "-ln" if layer_norm else ""
    names = {
        "hypernetwork_name": f"sd15-random-seed{seed}-{shape}-r{PATCH_RECIPE}.pt",
        "controlnet_name": f"sd15-random-seed{seed}-r{PATCH_RECIPE}.safetensors",
    }
    hyper = assets.models_dir / "hypernetworks" / names["hypernetwork_name"]
    control = assets.models_dir / "controlnet" / names["controlnet_name"]
    if not hyper.is_file():
        log(f"writing the SD1.5-size hypernetwork {hyper}")
        write_hypernetwork(hyper, SD15_WIDTHS, seed, structure, activation, layer_norm)
    if not control.is_file():
        from sd_models import build_components

        log(f"writing the SD1.5-size ControlNet {control} (once, ~1.4 GB)...")
        write_controlnet(control, build_components(seed)[0], seed)
    return {"models_dir": str(assets.models_dir), "ckpt_name": assets.ckpt_name, **names}


# -- one variant (worker process) ------------------------------------------------------------------


def build_prompt(job: dict[str, Any], steps: int, seed: int) -> dict[str, Any]:
    """The variant's workflow with our names, size and sampler settings, ending in a capture of
    the KSampler's latent instead of VAEDecode + SaveImage."""
    variant = job["variant"]
    prompt = json.loads((ROOT / "workflows" / WORKFLOWS[variant]).read_text(encoding="utf-8"))
    prompt["4"]["inputs"]["ckpt_name"] = job["ckpt_name"]
    prompt["6"]["inputs"]["text"] = PROMPT
    prompt["7"]["inputs"]["text"] = NEGATIVE
    prompt["5"]["inputs"].update(width=job["size"], height=job["size"], batch_size=1)
    prompt["3"]["inputs"].update(
        seed=seed, steps=steps, cfg=job["cfg"], sampler_name="euler", scheduler="normal"
    )
    if variant == "hypernetwork":
        prompt["10"]["inputs"].update(hypernetwork_name=job["hypernetwork_name"], strength=1.0)
    elif variant == "controlnet":
        prompt["12"]["inputs"]["control_net_name"] = job["controlnet_name"]
        prompt["13"]["inputs"].update(strength=1.0, start_percent=0.0, end_percent=1.0)
    for unused in ("8", "20", "9"):  # VAEDecode, ImageScale, SaveImage
        del prompt[unused]
    prompt["out"] = {"class_type": "BenchLatentCapture", "inputs": {"samples": ["3", 0]}}
    return prompt


@node("BenchLatentCapture", category="bench", output_node=True)
def capture(*, samples: Annotated[Any, Socket("LATENT")]) -> Annotated[Any, Socket("LATENT")]:
    """Hand the sampled latent back to the benchmark (nothing decoded or written)."""
    return samples


def per_step(marks: Sequence[float], start: float, end: float, steps: int) -> dict[str, float]:
    """Steady per-step time from the progress marks (first step excluded, it carries the loop's
    set-up) and the KSampler node's whole time per step."""
    if len(marks) != steps:
        raise RuntimeError(f"expected {steps} progress events from KSampler, got {len(marks)}")
    steady = (marks[-1] - marks[0]) / (steps - 1) if steps >= 2 else marks[0] - start
    return {"step_s": steady, "node_step_s": (end - start) / steps, "ksampler_s": end - start}


def run_variant(job: dict[str, Any]) -> dict[str, Any]:
    """Warm-up, then `repeat` timed KSampler runs in this process; the best and all runs."""
    import torch

    from nodegraph import events as ev
    from nodegraph.engine import Engine
    from nodegraph.settings import Settings

    settings = Settings(
        base_dir=Path(job["base_dir"]),
        models_dir=Path(job["models_dir"]),
        input_dir=ROOT / "workflows" / "input",
    )
    engine = Engine(settings)
    engine.registry.add(capture)

    def generate(steps: int, seed: int) -> tuple[dict[str, float], Any]:
        marks: list[float] = []
        span = [0.0, 0.0]  # KSampler start, end

        def on_event(event: ev.Event) -> None:
            now = time.perf_counter()
            if isinstance(event, ev.Executing):
                if event.node == "3":
                    span[0] = now
                elif span[0] and not span[1]:
                    span[1] = now
            elif isinstance(event, ev.Progress) and event.node == "3":
                marks.append(now)

        result = engine.run(build_prompt(job, steps, seed), on_event=on_event)
        if result.status != "success":
            raise RuntimeError(f"{job['variant']} run failed: {result.error}")
        if not span[0] or not span[1]:
            raise RuntimeError(f"{job['variant']}: KSampler did not run")
        return per_step(marks, span[0], span[1], steps), result.values["out"][0][0]

    started = time.perf_counter()
    generate(job["warmup_steps"], job["seed"])
    warmup_s = time.perf_counter() - started
    runs = []
    latent = None
    for n in range(job["repeat"]):
        timing, latent = generate(job["steps"], job["seed"] + 1 + n)
        runs.append(timing)
    best = min(runs, key=lambda r: r["step_s"])
    samples = latent.samples
    result = {
        "variant": job["variant"],
        **best,
        "runs": runs,
        "warmup_s": warmup_s,
        "latent_shape": list(samples.shape),
        "finite": bool(torch.isfinite(samples).all()),
        "latent_std": float(samples.float().std()),
        "threads": torch.get_num_threads(),
    }
    if job.get("profile"):
        result["profile"] = profile(job, generate)
    return result


def profile(job: dict[str, Any], generate: Callable[[int, int], Any]) -> str:
    """torch.profiler operator table of one more timed run, written to job["profile"]."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        generate(job["steps"], job["seed"] + 100)
    text = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25)
    Path(job["profile"]).write_text(text, encoding="utf-8")
    return str(job["profile"])


def worker_main(job_path: Path) -> int:
    import torch

    job = json.loads(job_path.read_text(encoding="utf-8"))
    torch.set_num_threads(int(job["threads"]))
    result = run_variant(job)
    Path(job["result"]).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


# -- driver ------------------------------------------------------------------------------------


def spawn(job: dict[str, Any], work: Path) -> dict[str, Any]:
    """Run one variant in a fresh process and read back its result."""
    job_path = work / f"{job['variant']}.job.json"
    job_path.write_text(json.dumps(job), encoding="utf-8")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NODEGRAPH_DEVICE": "cpu"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(job_path)],
        cwd=ROOT,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{job['variant']} worker exited with status {done.returncode}")
    return json.loads(Path(job["result"]).read_text(encoding="utf-8"))


def overheads(results: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each variant's slowdown against plain, per steady step and per KSampler-node step."""
    plain = results.get("plain")
    if plain is None:
        return {}
    return {
        name: {
            "step": r["step_s"] / plain["step_s"] - 1.0,
            "node_step": r["node_step_s"] / plain["node_step_s"] - 1.0,
        }
        for name, r in results.items()
        if name != "plain"
    }


def report(results: dict[str, dict[str, Any]], size: int, steps: int) -> str:
    """A markdown table of per-step times and overheads, plus the hypernetwork verdict."""
    extra = overheads(results)
    lines = [
        f"{size}x{size}, euler, {steps} steps, CFG {CFG}, best of the repeats",
        "",
        "| variant | s/step | overhead | KSampler s/step (whole node) | overhead |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        over = extra.get(name)
        step = f"{over['step'] * 100:+.1f}%" if over else "-"
        node = f"{over['node_step'] * 100:+.1f}%" if over else "-"
        lines.append(f"| {name} | {r['step_s']:.3f} | {step} | {r['node_step_s']:.3f} | {node} |")
    if "hypernetwork" in extra:
        over = extra["hypernetwork"]["step"]
        verdict = "met" if over <= HYPERNETWORK_TARGET else "MISSED"
        lines.append("")
        lines.append(
            f"hypernetwork target (<= {HYPERNETWORK_TARGET:.0%} per step): {verdict} "
            f"({over * 100:+.1f}%)"
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny family, 128 px")
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per variant (best)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--structure",
        default="1,2,1",
        help="hypernetwork layer_structure (A1111's default 1,2,1; NovelAI-style 1,1)",
    )
    parser.add_argument(
        "--activation",
        default="linear",
        help="hypernetwork activation_func (A1111's default linear; e.g. relu, swish)",
    )
    parser.add_argument(
        "--layer-norm", action="store_true", help="hypernetwork with layer norm (A1111: off)"
    )
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--profile", type=Path, default=None, help="folder for operator tables")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--worker", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    if args.steps < 2:
        parser.error("--steps must be at least 2 (per-step time leaves the first step out)")
    args.variant_list = variants
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        return worker_main(args.worker)
    os.environ["HF_HUB_OFFLINE"] = "1"
    cache = args.cache or default_cache()
    size = QUICK_SIZE if args.quick else args.size
    structure = [float(m) for m in args.structure.split(",")]
    models = ensure_models(
        cache,
        args.seed,
        args.quick,
        structure=structure,
        activation=args.activation,
        layer_norm=args.layer_norm,
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-patches-") as tmp:
        work = Path(tmp)
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        for variant in args.variant_list:
            job = {
                "variant": variant,
                **models,
                "size": size,
                "steps": args.steps,
                "warmup_steps": WARMUP_STEPS,
                "cfg": CFG,
                "seed": args.seed,
                "repeat": args.repeat,
                "threads": args.threads,
                "base_dir": str(work / variant),
                "result": str(work / f"{variant}.result.json"),
                "profile": str(args.profile / f"{variant}.txt") if args.profile else None,
            }
            print(f"running {variant}...", flush=True)
            try:
                results[variant] = spawn(job, work)
            except RuntimeError as error:
                print(f"FAILED: {error}", file=sys.stderr)
                return 1
            r = results[variant]
            runs = ", ".join(f"{x['step_s']:.3f}" for x in r["runs"])
            print(f"  {variant}: {r['step_s']:.3f} s/step (runs {runs})", flush=True)
            if not r["finite"]:
                print(f"FAILED: {variant} produced a non-finite latent", file=sys.stderr)
                return 1
    print(report(results, size, args.steps))
    if args.json:
        summary = {"size": size, "steps": args.steps, "results": results}
        summary["overheads"] = overheads(results)
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
