"""ComfyUI's common_ksampler: sigmas, noise, start/end steps, denoise and inpaint masks around a
sampling loop, with LATENT samples kept in VAE space (scaled into model space only here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from nodes.sd import samplers
from nodes.sd.guidance import Guider, InpaintDenoiser, UNetCall, prepare, prepare_noise_mask
from nodes.sd.noise import prepare_noise
from nodes.sd.schedules import ksampler_sigmas
from nodes.types import Conditioning, Latent

StepCallback = Callable[[int, int, torch.Tensor], None]
"""(step index, total steps, current x0 prediction in model space)."""


@dataclass(frozen=True)
class SamplingJob:
    """Everything KSampler / KSamplerAdvanced decide before the loop runs."""

    seed: int
    steps: int
    cfg: float
    sampler_name: str
    scheduler: str
    denoise: float = 1.0
    add_noise: bool = True
    start_step: int | None = None
    last_step: int | None = None
    force_full_denoise: bool = False


def job_sigmas(sampling: Any, job: SamplingJob) -> torch.Tensor:
    """The sigma list after denoise, end step, full-denoise and start step are applied."""
    sigmas = ksampler_sigmas(sampling, job.scheduler, job.sampler_name, job.steps, job.denoise)
    if job.last_step is not None and job.last_step < len(sigmas) - 1:
        sigmas = sigmas[: job.last_step + 1]
        if job.force_full_denoise:
            sigmas = sigmas.clone()
            sigmas[-1] = 0
    if job.start_step is not None:
        if job.start_step < len(sigmas) - 1:
            sigmas = sigmas[job.start_step :]
        else:
            return sigmas[:0]
    return sigmas


def run_sampler(
    *,
    unet_call: UNetCall,
    sampling: Any,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    job: SamplingJob,
    scaling_factor: float,
    device: torch.device,
    dtype: torch.dtype,
    on_step: StepCallback | None = None,
) -> torch.Tensor:
    """Sample and return new LATENT samples (VAE space, float32, CPU)."""
    samples = latent.samples.float()
    sigmas = job_sigmas(sampling, job)
    if len(sigmas) <= 1:
        # denoise 0, or a start step past the end: ComfyUI returns the input latent unchanged
        return samples.clone()
    if job.add_noise:
        noise = prepare_noise(samples, job.seed, latent.batch_index)
    else:
        noise = torch.zeros_like(samples)
    latent_image = (samples * scaling_factor).to(device)
    noise = noise.to(device)
    sigmas = sigmas.to(device)
    shape = tuple(samples.shape)
    to_sigma = sampling.percent_to_sigma
    guider = Guider(
        unet_call,
        sampling,
        prepare(positive, shape, to_sigma, device, dtype),
        prepare(negative, shape, to_sigma, device, dtype),
        job.cfg,
    )
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = guider
    if latent.noise_mask is not None:
        mask = prepare_noise_mask(latent.noise_mask, shape).to(device)
        # ComfyUI's "ddim" is euler with fresh random noise for the kept region
        inpaint_noise = samplers.inpaint_noise_for(job.sampler_name, noise, job.seed)
        model = InpaintDenoiser(guider, sampling, latent_image, inpaint_noise.to(device), mask)
    max_denoise = sampling.max_denoise(sigmas[0])
    x = sampling.noise_scaling(sigmas[:1].expand(shape[0]), noise, latent_image, max_denoise)
    total = len(sigmas) - 1

    def callback(info: dict[str, Any]) -> None:
        if on_step is not None:
            on_step(int(info["i"]), total, info["denoised"])

    out = samplers.sample(job.sampler_name, model, x, sigmas, seed=job.seed, callback=callback)
    out = sampling.inverse_noise_scaling(sigmas[-1], out)
    return (out / scaling_factor).float().cpu()
