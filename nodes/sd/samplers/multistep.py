"""Further multistep samplers in ComfyUI's list: ipndm, ipndm_v (Adams-Bashforth in sigma,
zju-pi/diff-sampler), res_multistep(_ancestral) (arXiv 2308.02157) and gradient_estimation
(arXiv/OpenReview o2ND9v0CeK)."""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.sd.noise import gaussian_noise_sampler
from nodes.sd.samplers.common import Callback, Denoiser, ancestral_step, batch_ones, report, to_d

IPNDM_MAX_ORDER = 4


def _push(history: list[Tensor], d: Tensor) -> None:
    """Keep the last IPNDM_MAX_ORDER - 1 slopes."""
    history.append(d)
    if len(history) > IPNDM_MAX_ORDER - 1:
        history.pop(0)


def ipndm(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Improved PNDM: fixed Adams-Bashforth weights of orders 1 to 4 on the slopes."""
    s_in = batch_ones(x)
    history: list[Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in)
        report(callback, i, x, t_cur, t_cur, denoised)
        d_cur = (x - denoised) / t_cur
        order = min(IPNDM_MAX_ORDER, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + (t_next - t_cur) * d_cur
        elif order == 2:
            x_next = x + (t_next - t_cur) * (3 * d_cur - history[-1]) / 2
        elif order == 3:
            slope = 23 * d_cur - 16 * history[-1] + 5 * history[-2]
            x_next = x + (t_next - t_cur) * slope / 12
        else:
            slope = 55 * d_cur - 59 * history[-1] + 37 * history[-2] - 9 * history[-3]
            x_next = x + (t_next - t_cur) * slope / 24
        _push(history, d_cur)
        x = x_next
    return x


def _ipndm_v_coefficients(t: Tensor, i: int, order: int) -> list[Tensor]:
    """Variable-step Adams-Bashforth weights for the current slope and 1-3 older ones."""
    h_n = t[i + 1] - t[i]
    h_n_1 = t[i] - t[i - 1]
    if order == 2:
        return [(2 + (h_n / h_n_1)) / 2, -(h_n / h_n_1) / 2]
    h_n_2 = t[i - 1] - t[i - 2]
    temp1 = (1 - h_n / (3 * (h_n + h_n_1)) * (h_n * (h_n + h_n_1)) / (h_n_1 * (h_n_1 + h_n_2))) / 2
    if order == 3:
        return [
            (2 + (h_n / h_n_1)) / 2 + temp1,
            -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1,
            temp1 * h_n_1 / h_n_2,
        ]
    h_n_3 = t[i - 2] - t[i - 3]
    weight = (1 - h_n / (3 * (h_n + h_n_1))) / 2 + (1 - h_n / (2 * (h_n + h_n_1))) * h_n / (
        6 * (h_n + h_n_1 + h_n_2)
    )
    span = h_n * (h_n + h_n_1) * (h_n + h_n_1 + h_n_2)
    temp2 = weight * span / (h_n_1 * (h_n_1 + h_n_2) * (h_n_1 + h_n_2 + h_n_3))
    ratio = h_n_1 * (h_n_1 + h_n_2) / (h_n_2 * (h_n_2 + h_n_3))
    return [
        (2 + (h_n / h_n_1)) / 2 + temp1 + temp2,
        -(h_n / h_n_1) / 2 - (1 + h_n_1 / h_n_2) * temp1 - (1 + (h_n_1 / h_n_2) + ratio) * temp2,
        temp1 * h_n_1 / h_n_2 + ((h_n_1 / h_n_2) + ratio * (1 + h_n_2 / h_n_3)) * temp2,
        -temp2 * ratio * h_n_1 / h_n_2,
    ]


def ipndm_v(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Improved PNDM with weights adapted to uneven step sizes."""
    s_in = batch_ones(x)
    history: list[Tensor] = []
    for i in range(len(sigmas) - 1):
        t_cur, t_next = sigmas[i], sigmas[i + 1]
        denoised = model(x, t_cur * s_in)
        report(callback, i, x, t_cur, t_cur, denoised)
        d_cur = (x - denoised) / t_cur
        order = min(IPNDM_MAX_ORDER, i + 1)
        if t_next == 0:
            x_next = denoised
        elif order == 1:
            x_next = x + (t_next - t_cur) * d_cur
        else:
            coeffs = _ipndm_v_coefficients(sigmas, i, order)
            slope = coeffs[0] * d_cur
            for c, d_old in zip(coeffs[1:], reversed(history), strict=False):
                slope = slope + c * d_old
            x_next = x + (t_next - t_cur) * slope
        _push(history, d_cur)
        x = x_next
    return x


def _phi1(t: Tensor) -> Tensor:
    return torch.expm1(t) / t


def _phi2(t: Tensor) -> Tensor:
    return (_phi1(t) - 1.0) / t


def _res_multistep(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback, eta: float
) -> Tensor:
    """Second-order exponential multistep (RES); eta > 0 adds ancestral noise."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    old_denoised: Tensor | None = None
    old_sigma_down: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta=eta)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0 or old_denoised is None or old_sigma_down is None:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i])
        else:
            t, t_old = sigmas[i].log().neg(), old_sigma_down.log().neg()
            t_next, t_prev = sigma_down.log().neg(), sigmas[i - 1].log().neg()
            h = t_next - t
            c2 = (t_prev - t_old) / h
            phi1_val, phi2_val = _phi1(-h), _phi2(-h)
            b1 = torch.nan_to_num(phi1_val - phi2_val / c2, nan=0.0)
            b2 = torch.nan_to_num(phi2_val / c2, nan=0.0)
            x = h.neg().exp() * x + h * (b1 * denoised + b2 * old_denoised)
        if eta and sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigma_up
        old_denoised = denoised
        old_sigma_down = sigma_down
    return x


def res_multistep(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    return _res_multistep(model, x, sigmas, seed, callback, eta=0.0)


def res_multistep_ancestral(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    return _res_multistep(model, x, sigmas, seed, callback, eta=1.0)


def gradient_estimation(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """Euler plus a correction from the change in slope (gamma 2)."""
    ge_gamma = 2.0
    s_in = batch_ones(x)
    old_d: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        d = to_d(x, sigmas[i], denoised)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        dt = sigmas[i + 1] - sigmas[i]
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x = x + d * dt
            if i >= 1 and old_d is not None:
                x = x + (ge_gamma - 1) * (d - old_d) * dt
        old_d = d
    return x
