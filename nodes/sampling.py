"""KSampler and KSamplerAdvanced: denoise a latent with a model, guided by conditioning."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Annotated, Any

import torch

from nodegraph import Combo, Context, Float, Int, node
from nodes.model_management import ModelManager, manager
from nodes.sd.guidance import PreparedCond, UNetCall
from nodes.sd.ksampler import SamplingJob, run_sampler
from nodes.sd.latent_preview import latent_to_jpeg
from nodes.sd.samplers import SAMPLERS
from nodes.sd.schedules import SCHEDULERS
from nodes.types import Conditioning, Latent, Model

MAX_SEED = 0xFFFFFFFFFFFFFFFF

Seed = Annotated[int, Int(min=0, max=MAX_SEED, control_after_generate=True)]
Steps = Annotated[int, Int(min=1, max=10000)]
Cfg = Annotated[float, Float(min=0.0, max=100.0, step=0.1, round=0.01)]
SamplerName = Annotated[str, Combo(SAMPLERS)]
SchedulerName = Annotated[str, Combo(SCHEDULERS)]


def control_links(*conditionings: Conditioning) -> list[Any]:
    """Every ControlNet link reachable from the conditioning (chains followed)."""
    found = []
    for conditioning in conditionings:
        for entry in conditioning.entries:
            link = entry.control
            while link is not None:
                found.append(link)
                link = link.previous
    return found


def unet_caller(
    model: Model, models: ModelManager, stack: ExitStack, controls: list[Any]
) -> UNetCall:
    """A UNet call on the compute device in the model's dtype, with the model's patches entered
    and the conditioning's ControlNets (if any) adding their residuals."""
    unet = model.unet
    device = stack.enter_context(
        models.use(unet, *{id(c.net.model): c.net.model for c in controls}.values())
    )
    dtype = next(unet.parameters()).dtype
    for patch in model.patches:
        stack.enter_context(patch.applied(unet))
    residuals_for = None
    if controls:
        from nodes.sd.controlnet import control_residuals

        residuals_for = control_residuals

    def call(
        x: torch.Tensor,
        timesteps: torch.Tensor,
        context: torch.Tensor,
        conds: list[PreparedCond],
        sigma: float,
    ) -> torch.Tensor:
        x = x.to(device, dtype)
        context = context.to(device, dtype)
        timesteps = timesteps.to(device)
        extra: dict[str, Any] = {}
        with torch.inference_mode():
            if residuals_for is not None:
                links = [c.entry.control for c in conds]
                found = residuals_for(
                    links,
                    x,
                    timesteps,
                    context,
                    sigma,
                    model.sampling.percent_to_sigma,
                    x.shape[0] // len(conds),
                    device,
                    dtype,
                )
                if found is not None:
                    extra["down_block_additional_residuals"] = found[0]
                    extra["mid_block_additional_residual"] = found[1]
            out = unet(x, timesteps, encoder_hidden_states=context, return_dict=False, **extra)[0]
        return out.float()

    return call


def sample(
    ctx: Context,
    model: Model,
    positive: Conditioning,
    negative: Conditioning,
    latent: Latent,
    job: SamplingJob,
) -> Latent:
    """Run one sampling job with progress, interrupt and previews reported through `ctx`."""
    if job.sampler_name not in SAMPLERS:
        raise ValueError(f"sampler_name {job.sampler_name!r} is not implemented")
    models = manager(ctx)
    previews = ctx.settings.previews != "none"

    def on_step(i: int, total: int, x0: torch.Tensor) -> None:
        if previews:
            ctx.preview("JPEG", latent_to_jpeg(x0))
        ctx.progress(i + 1, total)

    with ExitStack() as stack:
        controls = control_links(positive, negative)
        if controls:
            from nodes.sd.controlnet import control_for_uncond

            negative = control_for_uncond(positive, negative)
        call = unet_caller(model, models, stack, control_links(positive, negative))
        samples = run_sampler(
            unet_call=call,
            sampling=model.sampling,
            positive=positive,
            negative=negative,
            latent=latent,
            job=job,
            scaling_factor=0.18215,
            device=models.device,
            dtype=torch.float32,
            on_step=on_step,
        )
    return Latent(samples=samples, noise_mask=latent.noise_mask, batch_index=latent.batch_index)


@node("KSampler", category="sampling")
def ksampler(
    *,
    model: Model,
    seed: Seed = 0,
    steps: Steps = 20,
    cfg: Cfg = 8.0,
    sampler_name: SamplerName = SAMPLERS[0],
    scheduler: SchedulerName = SCHEDULERS[0],
    positive: Conditioning,
    negative: Conditioning,
    latent_image: Latent,
    denoise: Annotated[float, Float(min=0.0, max=1.0, step=0.01)] = 1.0,
    ctx: Context,
) -> Latent:
    """Denoise a latent with the model, guided by positive and negative conditioning; denoise
    below 1 keeps part of the input latent (img2img)."""
    job = SamplingJob(seed, steps, cfg, sampler_name, scheduler, denoise=denoise)
    return sample(ctx, model, positive, negative, latent_image, job)


@node("KSamplerAdvanced", category="sampling", display_name="KSampler (Advanced)")
def ksampler_advanced(
    *,
    model: Model,
    add_noise: Annotated[str, Combo(("enable", "disable"))] = "enable",
    noise_seed: Seed = 0,
    steps: Steps = 20,
    cfg: Cfg = 8.0,
    sampler_name: SamplerName = SAMPLERS[0],
    scheduler: SchedulerName = SCHEDULERS[0],
    positive: Conditioning,
    negative: Conditioning,
    latent_image: Latent,
    start_at_step: Annotated[int, Int(min=0, max=10000)] = 0,
    end_at_step: Annotated[int, Int(min=0, max=10000)] = 10000,
    return_with_leftover_noise: Annotated[str, Combo(("disable", "enable"))] = "disable",
    ctx: Context,
) -> Latent:
    """Run only steps start_at_step..end_at_step of a schedule, optionally without adding noise
    and keeping the leftover noise, so several samplers can share one schedule."""
    job = SamplingJob(
        noise_seed,
        steps,
        cfg,
        sampler_name,
        scheduler,
        add_noise=add_noise == "enable",
        start_step=start_at_step,
        last_step=end_at_step,
        force_full_denoise=return_with_leftover_noise != "enable",
    )
    return sample(ctx, model, positive, negative, latent_image, job)
