"""One side of the SD benchmark (ours or diffusers) in a fresh process: a cold txt2img run (model
loading included) and a warm one with a new seed, written as JSON for bench/sd.py.

    python bench/sd_worker.py JOB.json

JOB holds: side ("ours" | "diffusers"), models_dir, ckpt_name, config_dir, size, steps, cfg,
seed, device ("cpu" | "cuda"), half (bool), threads, prompt, negative, base_dir, result (the
JSON file to write), image (a .npy file for the cold image) and profile (a text file or null).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # before the heavy imports: cold time counts them

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Annotated, Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from nodegraph import Socket, node  # noqa: E402  (torch-free, cheap)


class Clock:
    """Wall-clock marks; on CUDA each mark waits for the queued GPU work first."""

    def __init__(self, cuda: bool) -> None:
        self.cuda = cuda

    def now(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


def steps_per_second(marks: list[float], start: float) -> float:
    """Sampler speed from the end-of-step marks; the first step is timed from the loop start
    only when it is the sole step (it carries the loop's set-up otherwise)."""
    if len(marks) >= 2:
        return (len(marks) - 1) / (marks[-1] - marks[0])
    return 1.0 / (marks[0] - start) if marks else 0.0


# -- ours --------------------------------------------------------------------------------------


def ours_prompt(job: dict[str, Any], seed: int) -> dict[str, Any]:
    """workflows/txt2img.json (ComfyUI's default txt2img graph) set to the job, ending in an
    in-memory image capture instead of SaveImage."""
    prompt = json.loads((ROOT / "workflows" / "txt2img.json").read_text())
    prompt["4"]["inputs"]["ckpt_name"] = job["ckpt_name"]
    prompt["6"]["inputs"]["text"] = job["prompt"]
    prompt["7"]["inputs"]["text"] = job["negative"]
    prompt["5"]["inputs"].update(width=job["size"], height=job["size"], batch_size=1)
    prompt["3"]["inputs"].update(
        seed=seed, steps=job["steps"], cfg=job["cfg"], sampler_name="euler", scheduler="normal"
    )
    del prompt["9"]
    prompt["out"] = {"class_type": "BenchImageCapture", "inputs": {"images": ["8", 0]}}
    return prompt


@node("BenchImageCapture", category="bench", output_node=True)
def capture(*, images: Annotated[Any, Socket("IMAGE")]) -> Annotated[Any, Socket("IMAGE")]:
    """Hand the decoded image back to the benchmark (in memory, nothing written)."""
    return images


NODE_PARTS = {"4": "load", "6": "text", "7": "text", "5": "latent", "3": "sampling", "8": "decode"}


def run_ours(job: dict[str, Any], clock: Clock) -> dict[str, Any]:
    os.environ["NODEGRAPH_DEVICE"] = job["device"]
    from nodegraph import events as ev
    from nodegraph.engine import Engine
    from nodegraph.settings import Settings

    engine = Engine(Settings(base_dir=Path(job["base_dir"]), models_dir=Path(job["models_dir"])))
    engine.registry.add(capture)
    if job["device"] == "cuda" and not job["half"]:
        raise SystemExit("ours picks fp16 on CUDA by itself; run the GPU rows with half=true")
    imported = clock.now()

    def generate(seed: int) -> tuple[np.ndarray, dict[str, float], float]:
        parts: dict[str, float] = {}
        steps: list[float] = []
        current: list[Any] = [None, 0.0]  # node id, started
        start = clock.now()
        sampling_start = [start]

        def close(at: float) -> None:
            if current[0] is not None:
                part = NODE_PARTS.get(current[0], "other")
                parts[part] = parts.get(part, 0.0) + at - current[1]

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.Executing):
                at = clock.now()
                close(at)
                current[:] = [event.node, at]
                if event.node == "3":
                    sampling_start[0] = at
            elif isinstance(event, ev.Progress) and event.node == "3":
                steps.append(clock.now())

        result = engine.run(ours_prompt(job, seed), on_event=on_event)
        end = clock.now()
        close(end)
        if result.status != "success":
            raise RuntimeError(f"our run failed: {result.error}")
        image = result.values["out"][0][0]
        parts["total"] = end - start
        return image.float().cpu().numpy(), parts, steps_per_second(steps, sampling_start[0])

    return measure(job, clock, generate, imported)


# -- diffusers ---------------------------------------------------------------------------------


def run_diffusers(job: dict[str, Any], clock: Clock) -> dict[str, Any]:
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline

    imported = load_start = clock.now()
    dtype = torch.float16 if job["half"] else torch.float32
    checkpoint = Path(job["models_dir"]) / "checkpoints" / job["ckpt_name"]
    pipe = StableDiffusionPipeline.from_single_file(
        str(checkpoint),
        config=job["config_dir"],
        local_files_only=True,
        safety_checker=None,
        requires_safety_checker=False,
        scheduler=EulerDiscreteScheduler.from_pretrained(job["config_dir"], subfolder="scheduler"),
        torch_dtype=dtype,
    )
    pipe = pipe.to(job["device"])
    pipe.set_progress_bar_config(disable=True)
    load_s = clock.now() - load_start
    timers = {
        "text": Timer(pipe.text_encoder, clock),
        "unet": Timer(pipe.unet, clock),
        "decode": Timer(pipe.vae.decoder, clock),
    }

    def generate(seed: int) -> tuple[np.ndarray, dict[str, float], float]:
        for timer in timers.values():
            timer.reset()
        steps: list[float] = []

        def on_step(_pipe: Any, _i: int, _t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
            steps.append(clock.now())
            return kwargs

        start = clock.now()
        out = pipe(
            job["prompt"],
            negative_prompt=job["negative"],
            height=job["size"],
            width=job["size"],
            num_inference_steps=job["steps"],
            guidance_scale=job["cfg"],
            generator=torch.Generator("cpu").manual_seed(seed),
            output_type="np",
            callback_on_step_end=on_step,
        )
        end = clock.now()
        unet = timers["unet"]
        parts = {
            "text": timers["text"].total,
            "sampling": (steps[-1] if steps else unet.last_end) - unet.first_start,
            "decode": timers["decode"].total,
            "total": end - start,
        }
        return (
            np.asarray(out.images, dtype=np.float32),
            parts,
            steps_per_second(steps, unet.first_start),
        )

    result = measure(job, clock, generate, imported)
    result["cold_parts"]["load"] = load_s
    return result


class Timer:
    """Total time spent in a module's forward calls (and the first start / last end)."""

    def __init__(self, module: torch.nn.Module, clock: Clock) -> None:
        self.clock = clock
        self.reset()
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def reset(self) -> None:
        self.total = 0.0
        self.first_start = 0.0
        self.last_end = 0.0
        self._started = 0.0

    def _pre(self, *_: Any) -> None:
        self._started = self.clock.now()
        if not self.first_start:
            self.first_start = self._started

    def _post(self, *_: Any) -> None:
        self.last_end = self.clock.now()
        self.total += self.last_end - self._started


# -- shared ------------------------------------------------------------------------------------

Generate = Callable[[int], tuple[np.ndarray, dict[str, float], float]]


def measure(
    job: dict[str, Any], clock: Clock, generate: Generate, imported: float
) -> dict[str, Any]:
    """Cold (process start to first image: imports, set-up, loading, generation) and warm
    (second generation, new seed); a profile, if asked, covers a third generation so it does
    not disturb the timings."""
    image, cold_parts, _ = generate(job["seed"])
    cold_s = clock.now() - STARTED
    np.save(job["image"], image)
    warm_image, warm_parts, ips = generate(job["seed"] + 1)
    result = {
        "side": job["side"],
        "import_s": imported - STARTED,
        "cold_s": cold_s,
        "warm_s": warm_parts["total"],
        "cold_parts": cold_parts,
        "warm_parts": warm_parts,
        "it_per_s": ips,
        "peak_rss_bytes": peak_rss_bytes(),
        "image_shape": list(image.shape),
        "finite": bool(np.isfinite(image).all() and np.isfinite(warm_image).all()),
        "image_mean": float(image.mean()),
        "image_std": float(image.std()),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if job["device"] == "cuda":
        result["peak_gpu_bytes"] = torch.cuda.max_memory_allocated()
        result["gpu"] = torch.cuda.get_device_name()
    if job.get("profile"):
        result["profile"] = profile(job, generate)
    return result


def profile(job: dict[str, Any], generate: Generate) -> str:
    """torch.profiler operator table of one warm generation, written to job["profile"]."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU]
    if job["device"] == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with torch_profile(activities=activities, record_shapes=True) as prof:
        generate(job["seed"] + 2)
    sort = "self_cuda_time_total" if job["device"] == "cuda" else "self_cpu_time_total"
    averages = prof.key_averages()
    text = averages.table(sort_by=sort, row_limit=30)
    text += "\n\nby input shape:\n"
    text += prof.key_averages(group_by_input_shape=True).table(sort_by=sort, row_limit=30)
    Path(job["profile"]).write_text(text, encoding="utf-8")
    return str(job["profile"])


def peak_rss_bytes() -> int:
    """This process's peak resident set (VmHWM), file-backed (mmap'd weights) pages included."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def main(argv: list[str]) -> int:
    job = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    torch.set_num_threads(int(job["threads"]))
    clock = Clock(job["device"] == "cuda")
    run = {"ours": run_ours, "diffusers": run_diffusers}[job["side"]]
    result = run(job, clock)
    Path(job["result"]).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
