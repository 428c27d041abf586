"""ComfyUI's sigma schedules (scheduler names) and KSampler's rules for choosing the sigmas."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from nodes.sd.model_sampling import ModelSampling

SCHEDULERS: tuple[str, ...] = (
    "normal",
    "karras",
    "exponential",
    "sgm_uniform",
    "simple",
    "ddim_uniform",
    "beta",
    "linear_quadratic",
    "kl_optimal",
)
"""ComfyUI's scheduler names in its classic order (the first is the UI default)."""

DISCARD_PENULTIMATE_SIGMA_SAMPLERS = frozenset({"dpm_2", "dpm_2_ancestral", "uni_pc", "uni_pc_bh2"})
"""Samplers KSampler gives one extra step and then drops the second-to-last sigma."""


def _append_zero(sigmas: Tensor) -> Tensor:
    return torch.cat([sigmas, sigmas.new_zeros([1])])


def karras(steps: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> Tensor:
    """Karras et al. (2022): evenly spaced in sigma^(1/rho)."""
    ramp = torch.linspace(0, 1, steps)
    min_inv_rho = sigma_min ** (1 / rho)
    max_inv_rho = sigma_max ** (1 / rho)
    return _append_zero((max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho)


def exponential(steps: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Evenly spaced in log sigma."""
    return _append_zero(torch.linspace(math.log(sigma_max), math.log(sigma_min), steps).exp())


def kl_optimal(steps: int, sigma_min: float, sigma_max: float) -> Tensor:
    """Evenly spaced in atan(sigma) (AUTOMATIC1111 PR 15608)."""
    if steps < 2:
        raise ValueError("scheduler kl_optimal: needs at least 2 steps")
    fraction = torch.arange(steps, dtype=torch.float32).div_(steps - 1)
    sigmas = fraction.new_zeros(steps + 1)
    start, end = math.atan(sigma_max), math.atan(sigma_min)
    sigmas[:-1] = (fraction * end + (1 - fraction) * start).tan_()
    return sigmas


def normal(sampling: ModelSampling, steps: int, sgm: bool = False) -> Tensor:
    """Evenly spaced timesteps from the first to the last (sgm: leave out the last one)."""
    start = float(sampling.timestep(sampling.sigma_max))
    end = float(sampling.timestep(sampling.sigma_min))
    append_zero = True
    if sgm:
        timesteps = torch.linspace(start, end, steps + 1)[:-1]
    else:
        if math.isclose(float(sampling.sigma(torch.tensor(end))), 0, abs_tol=0.00001):
            steps += 1
            append_zero = False
        timesteps = torch.linspace(start, end, steps)
    sigmas = [float(sampling.sigma(t)) for t in timesteps]
    if append_zero:
        sigmas.append(0.0)
    return torch.tensor(sigmas, dtype=torch.float32)


def sgm_uniform(sampling: ModelSampling, steps: int) -> Tensor:
    return normal(sampling, steps, sgm=True)


def simple(sampling: ModelSampling, steps: int) -> Tensor:
    """Every (1000/steps)-th training sigma counted down from the top."""
    table = sampling.sigmas
    stride = len(table) / steps
    sigmas = [float(table[-(1 + int(i * stride))]) for i in range(steps)]
    return torch.tensor([*sigmas, 0.0], dtype=torch.float32)


def ddim_uniform(sampling: ModelSampling, steps: int) -> Tensor:
    """Training sigmas 1, 1+k, 1+2k, ... (k = 1000 // steps), reversed, then 0.

    Like ComfyUI this can give more than steps + 1 values when 1000 is not a multiple of steps.
    """
    table = sampling.sigmas
    sigmas: list[float]
    if math.isclose(float(table[1]), 0, abs_tol=0.00001):
        steps += 1
        sigmas = []
    else:
        sigmas = [0.0]
    stride = max(len(table) // steps, 1)
    sigmas += [float(table[i]) for i in range(1, len(table), stride)]
    return torch.tensor(sigmas[::-1], dtype=torch.float32)


def beta(sampling: ModelSampling, steps: int, alpha: float = 0.6, beta_: float = 0.6) -> Tensor:
    """Timesteps at the quantiles of a Beta(0.6, 0.6) distribution (arXiv 2407.12173);
    repeated timesteps are dropped, so it can give fewer than steps + 1 values."""
    last_index = len(sampling.sigmas) - 1
    quantiles = 1 - np.linspace(0, 1, steps, endpoint=False)
    from scipy import stats  # imported on first use (slow import)

    timesteps = np.rint(stats.beta.ppf(quantiles, alpha, beta_) * last_index)
    sigmas: list[float] = []
    previous = -1.0
    for t in timesteps:
        if t != previous:
            sigmas.append(float(sampling.sigmas[int(t)]))
        previous = t
    return torch.tensor([*sigmas, 0.0], dtype=torch.float32)


def linear_quadratic(sampling: ModelSampling, steps: int, threshold_noise: float = 0.025) -> Tensor:
    """Linear then quadratic in sigma / sigma_max (Genmo's Mochi schedule)."""
    if steps == 1:
        schedule = [1.0, 0.0]
    else:
        linear_steps = steps // 2
        linear = [i * threshold_noise / linear_steps for i in range(linear_steps)]
        threshold_noise_step_diff = linear_steps - threshold_noise * steps
        quadratic_steps = steps - linear_steps
        quadratic_coef = threshold_noise_step_diff / (linear_steps * quadratic_steps**2)
        linear_coef = threshold_noise / linear_steps - 2 * threshold_noise_step_diff / (
            quadratic_steps**2
        )
        const = quadratic_coef * (linear_steps**2)
        quadratic = [
            quadratic_coef * (i**2) + linear_coef * i + const for i in range(linear_steps, steps)
        ]
        schedule = [1.0 - x for x in [*linear, *quadratic, 1.0]]
    return torch.tensor(schedule, dtype=torch.float32) * sampling.sigma_max.cpu()


_USES_SAMPLING: dict[str, Callable[[ModelSampling, int], Tensor]] = {
    "normal": normal,
    "sgm_uniform": sgm_uniform,
    "simple": simple,
    "ddim_uniform": ddim_uniform,
    "beta": beta,
    "linear_quadratic": linear_quadratic,
}
_USES_RANGE: dict[str, Callable[[int, float, float], Tensor]] = {
    "karras": karras,
    "exponential": exponential,
    "kl_optimal": kl_optimal,
}


def compute_sigmas(sampling: ModelSampling, scheduler: str, steps: int) -> Tensor:
    """The float32 CPU sigmas of `scheduler` for `steps` steps, ending in 0 (ComfyUI's
    calculate_sigmas; ddim_uniform and beta can differ from steps + 1 values, as in ComfyUI)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {scheduler!r}; expected one of {list(SCHEDULERS)}")
    if steps < 1:
        raise ValueError(f"scheduler {scheduler}: steps must be at least 1, got {steps}")
    if scheduler in _USES_RANGE:
        sigma_min, sigma_max = float(sampling.sigma_min), float(sampling.sigma_max)
        return _USES_RANGE[scheduler](steps, sigma_min, sigma_max)
    return _USES_SAMPLING[scheduler](sampling, steps)


def _sampler_sigmas(
    sampling: ModelSampling, scheduler: str, sampler_name: str, steps: int
) -> Tensor:
    if sampler_name not in DISCARD_PENULTIMATE_SIGMA_SAMPLERS:
        return compute_sigmas(sampling, scheduler, steps)
    sigmas = compute_sigmas(sampling, scheduler, steps + 1)
    return torch.cat([sigmas[:-2], sigmas[-1:]])


def ksampler_sigmas(
    sampling: ModelSampling, scheduler: str, sampler_name: str, steps: int, denoise: float
) -> Tensor:
    """The sigmas KSampler samples with (comfy.samplers.KSampler.set_steps).

    denoise < 1 schedules int(steps / denoise) steps and keeps the last steps + 1 sigmas, so
    img2img starts part-way down the full schedule; denoise <= 0 gives no sigmas at all.
    """
    if steps < 1:
        raise ValueError(f"KSampler: steps must be at least 1, got {steps}")
    if denoise > 0.9999:
        return _sampler_sigmas(sampling, scheduler, sampler_name, steps)
    if denoise <= 0.0:
        return torch.zeros(0, dtype=torch.float32)
    sigmas = _sampler_sigmas(sampling, scheduler, sampler_name, int(steps / denoise))
    return sigmas[-(steps + 1) :]
