"""Single-step and linear-multistep samplers: euler(_ancestral), heun(pp2), dpm_2(_ancestral),
lms, ddpm and lcm, as k-diffusion defines them and ComfyUI runs them."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from nodes.sd.noise import NoiseSampler, gaussian_noise_sampler
from nodes.sd.samplers.common import Callback, Denoiser, ancestral_step, batch_ones, report, to_d

LMS_ORDER = 4


def euler(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Euler steps of the probability-flow ODE (Karras et al. 2022, algorithm 2 without churn)."""
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        d = to_d(x, sigma, denoised)
        report(callback, i, x, sigma, sigma, denoised)
        x = x + d * (sigmas[i + 1] - sigma)
    return x


def euler_ancestral(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """Euler steps down to sigma_down, then fresh noise back up to the next sigma."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1])
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0:
            x = denoised
        else:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i]) + noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def heun(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Heun's second-order method; the last step (to sigma 0) is a plain Euler step."""
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        d = to_d(x, sigma, denoised)
        report(callback, i, x, sigma, sigma, denoised)
        dt = sigmas[i + 1] - sigma
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_2 = x + d * dt
            denoised_2 = model(x_2, sigmas[i + 1] * s_in)
            d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
            x = x + (d + d_2) / 2 * dt
    return x


def heunpp2(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Heun++ (sd-webui-samplers-scheduler): up to three slopes weighted by sigma / sigmas[0]."""
    s_in = batch_ones(x)
    s_end = sigmas[-1]
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        d = to_d(x, sigma, denoised)
        report(callback, i, x, sigma, sigma, denoised)
        dt = sigmas[i + 1] - sigma
        if sigmas[i + 1] == s_end:
            x = x + d * dt
            continue
        x_2 = x + d * dt
        denoised_2 = model(x_2, sigmas[i + 1] * s_in)
        d_2 = to_d(x_2, sigmas[i + 1], denoised_2)
        if sigmas[i + 2] == s_end:
            w2 = sigmas[i + 1] / (2 * sigmas[0])
            x = x + (d * (1 - w2) + d_2 * w2) * dt
            continue
        x_3 = x_2 + d_2 * (sigmas[i + 2] - sigmas[i + 1])
        denoised_3 = model(x_3, sigmas[i + 2] * s_in)
        d_3 = to_d(x_3, sigmas[i + 2], denoised_3)
        w = 3 * sigmas[0]
        w2 = sigmas[i + 1] / w
        w3 = sigmas[i + 2] / w
        w1 = 1 - w2 - w3
        x = x + (w1 * d + w2 * d_2 + w3 * d_3) * dt
    return x


def _log_midpoint(sigma_a: Tensor, sigma_b: Tensor) -> Tensor:
    return sigma_a.log().lerp(sigma_b.log(), 0.5).exp()


def dpm_2(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """DPM-Solver-2 style: the slope at the log-midpoint sigma drives the whole step."""
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        d = to_d(x, sigma, denoised)
        report(callback, i, x, sigma, sigma, denoised)
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma)
        else:
            sigma_mid = _log_midpoint(sigma, sigmas[i + 1])
            x_2 = x + d * (sigma_mid - sigma)
            denoised_2 = model(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigmas[i + 1] - sigma)
    return x


def dpm_2_ancestral(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """dpm_2 steps down to sigma_down, then fresh noise back up to the next sigma."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        sigma_down, sigma_up = ancestral_step(sigma, sigmas[i + 1])
        report(callback, i, x, sigma, sigma, denoised)
        d = to_d(x, sigma, denoised)
        if sigma_down == 0:
            x = x + d * (sigma_down - sigma)
        else:
            sigma_mid = _log_midpoint(sigma, sigma_down)
            x_2 = x + d * (sigma_mid - sigma)
            denoised_2 = model(x_2, sigma_mid * s_in)
            d_2 = to_d(x_2, sigma_mid, denoised_2)
            x = x + d_2 * (sigma_down - sigma)
            x = x + noise(sigma, sigmas[i + 1]) * sigma_up
    return x


def lms_coefficient(order: int, t: np.ndarray, i: int, j: int) -> float:
    """Integral over [t[i], t[i+1]] of the Lagrange basis polynomial of point i - j (t: the
    float32 sigmas as a numpy array, as k-diffusion integrates them)."""

    def basis(tau: float) -> float:
        prod = 1.0
        for k in range(order):
            if j != k:
                prod *= (tau - t[i - k]) / (t[i - j] - t[i - k])
        return prod

    from scipy import integrate  # imported on first use (slow import)

    return float(integrate.quad(basis, t[i], t[i + 1], epsrel=1e-4)[0])


def lms(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Linear multistep: integrates a polynomial through the last four slopes."""
    s_in = batch_ones(x)
    sigmas_cpu = sigmas.detach().cpu().numpy()
    slopes: list[Tensor] = []
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        slopes.append(to_d(x, sigmas[i], denoised))
        if len(slopes) > LMS_ORDER:
            slopes.pop(0)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            order = min(i + 1, LMS_ORDER)
            coeffs = [lms_coefficient(order, sigmas_cpu, i, j) for j in range(order)]
            x = x + sum(c * d for c, d in zip(coeffs, reversed(slopes), strict=False))
    return x


def _ddpm_step(
    x: Tensor, sigma: Tensor, sigma_prev: Tensor, eps: Tensor, noise: NoiseSampler
) -> Tensor:
    """One ancestral DDPM step in variance-preserving space."""
    alpha_cumprod = 1 / ((sigma * sigma) + 1)
    alpha_cumprod_prev = 1 / ((sigma_prev * sigma_prev) + 1)
    alpha = alpha_cumprod / alpha_cumprod_prev
    mu = (1.0 / alpha).sqrt() * (x - (1 - alpha) * eps / (1 - alpha_cumprod).sqrt())
    if sigma_prev > 0:
        variance = (1 - alpha) * (1.0 - alpha_cumprod_prev) / (1.0 - alpha_cumprod)
        mu = mu + variance.sqrt() * noise(sigma, sigma_prev)
    return mu


def ddpm(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """The original DDPM ancestral sampler, run on arbitrary sigmas."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        sigma = sigmas[i]
        denoised = model(x, sigma * s_in)
        report(callback, i, x, sigma, sigma, denoised)
        eps = (x - denoised) / sigma
        x = _ddpm_step(x / torch.sqrt(1.0 + sigma**2.0), sigma, sigmas[i + 1], eps, noise)
        if sigmas[i + 1] != 0:
            x = x * torch.sqrt(1.0 + sigmas[i + 1] ** 2.0)
    return x


def lcm(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Latent consistency sampling: jump to the prediction, re-noise to the next sigma."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        x = denoised
        if sigmas[i + 1] > 0:
            x = noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] + x
    return x
