"""Exponential-integrator samplers in data prediction and half log-SNR time: seeds_2, seeds_3
(SEEDS, arXiv 2305.14267), exp_heun_2_x0(_sde) and er_sde (ER-SDE-Solver-3, arXiv 2309.06169),
as ComfyUI runs them for discrete eps/v models (lambda = -log sigma, alpha = 1)."""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.sd.noise import gaussian_noise_sampler
from nodes.sd.samplers.common import Callback, Denoiser, batch_ones, report


def _lambda(sigma: Tensor) -> Tensor:
    return sigma.log().neg()


def _sigma(half_log_snr: Tensor) -> Tensor:
    return half_log_snr.neg().exp()


def _h_phi_1(h: Tensor) -> Tensor:
    return torch.expm1(h)


def _h_phi_2(h: Tensor) -> Tensor:
    return (torch.expm1(h) - h) / h


def _seeds_2(
    model: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    seed: int,
    callback: Callback,
    *,
    eta: float,
    r: float,
    phi_2: bool,
) -> Tensor:
    """Two-stage stochastic exponential solver; eta 0 makes it deterministic."""
    noise = gaussian_noise_sampler(x, seed)
    inject_noise = eta > 0
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r)
        sigma_s_1 = _sigma(lambda_s_1)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = (
            sigma_s_1 / sigmas[i] * (-r * h * eta).exp() * x
            - alpha_s_1 * _h_phi_1(-r * h_eta) * denoised
        )
        if inject_noise:
            sde_noise = (-2 * r * h * eta).expm1().neg().sqrt() * noise(sigmas[i], sigma_s_1)
            x_2 = x_2 + sde_noise * sigma_s_1
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        decay = sigmas[i + 1] / sigmas[i] * (-h * eta).exp()
        if phi_2:
            b2 = _h_phi_2(-h_eta) / r
            b1 = _h_phi_1(-h_eta) - b2
            x = decay * x - alpha_t * (b1 * denoised + b2 * denoised_2)
        else:
            denoised_d = torch.lerp(denoised, denoised_2, 1 / (2 * r))
            x = decay * x - alpha_t * _h_phi_1(-h_eta) * denoised_d
        if inject_noise:
            segment = (r - 1) * h * eta
            sde_noise = sde_noise * segment.exp()
            fresh = noise(sigma_s_1, sigmas[i + 1])
            sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * fresh
            x = x + sde_noise * sigmas[i + 1]
    return x


def seeds_2(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    return _seeds_2(model, x, sigmas, seed, callback, eta=1.0, r=0.5, phi_2=False)


def exp_heun_2_x0(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """Deterministic exponential Heun in data prediction (seeds_2 with eta 0, r 1, phi_2)."""
    return _seeds_2(model, x, sigmas, seed, callback, eta=0.0, r=1.0, phi_2=True)


def exp_heun_2_x0_sde(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    return _seeds_2(model, x, sigmas, seed, callback, eta=1.0, r=1.0, phi_2=True)


def seeds_3(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Three-stage stochastic exponential solver (stages at 1/3 and 2/3 of the step)."""
    noise = gaussian_noise_sampler(x, seed)
    eta, r_1, r_2 = 1.0, 1.0 / 3, 2.0 / 3
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        h_eta = h * (eta + 1)
        lambda_s_1 = torch.lerp(lambda_s, lambda_t, r_1)
        lambda_s_2 = torch.lerp(lambda_s, lambda_t, r_2)
        sigma_s_1, sigma_s_2 = _sigma(lambda_s_1), _sigma(lambda_s_2)
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_s_2 = sigma_s_2 * lambda_s_2.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        x_2 = (
            sigma_s_1 / sigmas[i] * (-r_1 * h * eta).exp() * x
            - alpha_s_1 * _h_phi_1(-r_1 * h_eta) * denoised
        )
        sde_noise = (-2 * r_1 * h * eta).expm1().neg().sqrt() * noise(sigmas[i], sigma_s_1)
        x_2 = x_2 + sde_noise * sigma_s_1
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        a3_2 = r_2 / r_1 * _h_phi_2(-r_2 * h_eta)
        a3_1 = _h_phi_1(-r_2 * h_eta) - a3_2
        x_3 = sigma_s_2 / sigmas[i] * (-r_2 * h * eta).exp() * x - alpha_s_2 * (
            a3_1 * denoised + a3_2 * denoised_2
        )
        segment = (r_1 - r_2) * h * eta
        sde_noise = sde_noise * segment.exp()
        fresh = noise(sigma_s_1, sigma_s_2)
        sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * fresh
        x_3 = x_3 + sde_noise * sigma_s_2
        denoised_3 = model(x_3, sigma_s_2 * s_in)

        b3 = _h_phi_2(-h_eta) / r_2
        b1 = _h_phi_1(-h_eta) - b3
        x = sigmas[i + 1] / sigmas[i] * (-h * eta).exp() * x - alpha_t * (
            b1 * denoised + b3 * denoised_3
        )
        segment = (r_2 - 1) * h * eta
        sde_noise = sde_noise * segment.exp()
        fresh = noise(sigma_s_2, sigmas[i + 1])
        sde_noise = sde_noise + segment.mul(2).expm1().neg().sqrt() * fresh
        x = x + sde_noise * sigmas[i + 1]
    return x


def _er_noise_scaler(x: Tensor) -> Tensor:
    return x * ((x**0.3).exp() + 10.0)


ER_INTEGRATION_POINTS = 200.0


def er_sde(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Extended reverse-time SDE solver, up to third order, with Gaussian noise."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    max_stage = 3
    points = torch.arange(0, ER_INTEGRATION_POINTS, dtype=torch.float32, device=x.device)
    er_lambdas = _lambda(sigmas).neg().exp()
    old_denoised: Tensor | None = None
    old_denoised_d: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        stage = min(max_stage, i + 1)
        if sigmas[i + 1] == 0:
            x = denoised
            old_denoised = denoised
            continue
        lambda_s, lambda_t = er_lambdas[i], er_lambdas[i + 1]
        alpha_s = sigmas[i] / lambda_s
        alpha_t = sigmas[i + 1] / lambda_t
        r_alpha = alpha_t / alpha_s
        r = _er_noise_scaler(lambda_t) / _er_noise_scaler(lambda_s)

        x = r_alpha * r * x + alpha_t * (1 - r) * denoised
        if stage >= 2 and old_denoised is not None:
            dt = lambda_t - lambda_s
            step_size = -dt / ER_INTEGRATION_POINTS
            lambda_pos = lambda_t + points * step_size
            scaled_pos = _er_noise_scaler(lambda_pos)
            s = torch.sum(1 / scaled_pos) * step_size
            denoised_d = (denoised - old_denoised) / (lambda_s - er_lambdas[i - 1])
            x = x + alpha_t * (dt + s * _er_noise_scaler(lambda_t)) * denoised_d
            if stage >= 3 and old_denoised_d is not None:
                s_u = torch.sum((lambda_pos - lambda_s) / scaled_pos) * step_size
                denoised_u = (denoised_d - old_denoised_d) / ((lambda_s - er_lambdas[i - 2]) / 2)
                x = x + alpha_t * ((dt**2) / 2 + s_u * _er_noise_scaler(lambda_t)) * denoised_u
            old_denoised_d = denoised_d
        noise_scale = (lambda_t**2 - lambda_s**2 * r**2).sqrt().nan_to_num(nan=0.0)
        x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * noise_scale
        old_denoised = denoised
    return x
