"""DPM-Solver++ samplers (Lu et al. 2022) in log-SNR time: dpmpp_2s_ancestral, dpmpp_sde,
dpmpp_2m, dpmpp_2m_sde (midpoint and heun) and dpmpp_3m_sde, as ComfyUI runs them for
discrete eps/v models (half log-SNR lambda = -log sigma)."""

from __future__ import annotations

from torch import Tensor

from nodes.sd.noise import brownian_noise_sampler, gaussian_noise_sampler
from nodes.sd.samplers.common import Callback, Denoiser, ancestral_step, batch_ones, report, to_d


def _lambda(sigma: Tensor) -> Tensor:
    """Half log-SNR of a sigma (alpha = 1 for these models)."""
    return sigma.log().neg()


def _sigma(half_log_snr: Tensor) -> Tensor:
    return half_log_snr.neg().exp()


def dpmpp_2s_ancestral(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """Two-stage DPM-Solver++(2S) down to sigma_down, then fresh noise up to the next sigma."""
    noise = gaussian_noise_sampler(x, seed)
    s_in = batch_ones(x)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1])
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigma_down == 0:
            d = to_d(x, sigmas[i], denoised)
            x = x + d * (sigma_down - sigmas[i])
        else:
            t, t_next = _lambda(sigmas[i]), _lambda(sigma_down)
            h = t_next - t
            s = t + 0.5 * h
            x_2 = (_sigma(s) / _sigma(t)) * x - (-h * 0.5).expm1() * denoised
            denoised_2 = model(x_2, _sigma(s) * s_in)
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_2
        if sigmas[i + 1] > 0:
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigma_up
    return x


def dpmpp_sde(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Stochastic DPM-Solver++ with a midpoint stage (r = 1/2) and Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    noise = brownian_noise_sampler(x, sigmas, seed)
    s_in = batch_ones(x)
    r = 1 / 2
    fac = 1 / (2 * r)
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
            continue
        lambda_s, lambda_t = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = lambda_t - lambda_s
        lambda_s_1 = lambda_s + r * h
        sigma_s_1 = _sigma(lambda_s_1)
        alpha_s = sigmas[i] * lambda_s.exp()
        alpha_s_1 = sigma_s_1 * lambda_s_1.exp()
        alpha_t = sigmas[i + 1] * lambda_t.exp()

        sd, su = ancestral_step(lambda_s.neg().exp(), lambda_s_1.neg().exp())
        h_ = sd.log().neg() - lambda_s
        x_2 = (alpha_s_1 / alpha_s) * (-h_).exp() * x - alpha_s_1 * (-h_).expm1() * denoised
        x_2 = x_2 + alpha_s_1 * noise(sigmas[i], sigma_s_1) * su
        denoised_2 = model(x_2, sigma_s_1 * s_in)

        sd, su = ancestral_step(lambda_s.neg().exp(), lambda_t.neg().exp())
        h_ = sd.log().neg() - lambda_s
        denoised_d = (1 - fac) * denoised + fac * denoised_2
        x = (alpha_t / alpha_s) * (-h_).exp() * x - alpha_t * (-h_).expm1() * denoised_d
        x = x + alpha_t * noise(sigmas[i], sigmas[i + 1]) * su
    return x


def dpmpp_2m(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """Deterministic second-order multistep DPM-Solver++(2M)."""
    s_in = batch_ones(x)
    old_denoised: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        t, t_next = _lambda(sigmas[i]), _lambda(sigmas[i + 1])
        h = t_next - t
        if old_denoised is None or sigmas[i + 1] == 0:
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised
        else:
            h_last = t - _lambda(sigmas[i - 1])
            r = h_last / h
            denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


def _sde_first_order(
    x: Tensor, denoised: Tensor, sigma: Tensor, sigma_next: Tensor, eta: float
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The first-order (data-prediction, exponential-integrator) part of an SDE multistep step
    shared by the 2M and 3M samplers: (x, h, h * (eta + 1), alpha_t)."""
    lambda_s, lambda_t = _lambda(sigma), _lambda(sigma_next)
    h = lambda_t - lambda_s
    h_eta = h * (eta + 1)
    alpha_t = sigma_next * lambda_t.exp()
    x = sigma_next / sigma * (-h * eta).exp() * x + alpha_t * (-h_eta).expm1().neg() * denoised
    return x, h, h_eta, alpha_t


def _dpmpp_2m_sde(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback, solver: str
) -> Tensor:
    """DPM-Solver++(2M) SDE (eta 1); `solver` picks the midpoint or heun second-order term."""
    if len(sigmas) <= 1:
        return x
    noise = brownian_noise_sampler(x, sigmas, seed)
    s_in = batch_ones(x)
    eta = 1.0
    old_denoised: Tensor | None = None
    h: Tensor | None = None
    h_last: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x, h, h_eta, alpha_t = _sde_first_order(x, denoised, sigmas[i], sigmas[i + 1], eta)
            if old_denoised is not None and h_last is not None:
                r = h_last / h
                if solver == "heun":
                    phi = (-h_eta).expm1().neg() / (-h_eta) + 1
                    x = x + alpha_t * phi * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * alpha_t * (-h_eta).expm1().neg() * (1 / r) * (
                        denoised - old_denoised
                    )
            sde_scale = (-2 * h * eta).expm1().neg().sqrt()
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * sde_scale
        old_denoised = denoised
        h_last = h
    return x


def dpmpp_2m_sde(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    return _dpmpp_2m_sde(model, x, sigmas, seed, callback, "midpoint")


def dpmpp_2m_sde_heun(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    return _dpmpp_2m_sde(model, x, sigmas, seed, callback, "heun")


def dpmpp_3m_sde(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """Third-order multistep DPM-Solver++(3M) SDE (eta 1) with Brownian-tree noise."""
    if len(sigmas) <= 1:
        return x
    noise = brownian_noise_sampler(x, sigmas, seed)
    s_in = batch_ones(x)
    eta = 1.0
    denoised_1: Tensor | None = None
    denoised_2: Tensor | None = None
    h: Tensor | None = None
    h_1: Tensor | None = None
    h_2: Tensor | None = None
    for i in range(len(sigmas) - 1):
        denoised = model(x, sigmas[i] * s_in)
        report(callback, i, x, sigmas[i], sigmas[i], denoised)
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            x, h, h_eta, alpha_t = _sde_first_order(x, denoised, sigmas[i], sigmas[i + 1], eta)
            if h_2 is not None and h_1 is not None and denoised_1 is not None:
                assert denoised_2 is not None
                r0 = h_1 / h
                r1 = h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                phi_3 = phi_2 / h_eta - 0.5
                x = x + (alpha_t * phi_2) * d1 - (alpha_t * phi_3) * d2
            elif h_1 is not None and denoised_1 is not None:
                r = h_1 / h
                d = (denoised - denoised_1) / r
                phi_2 = h_eta.neg().expm1() / h_eta + 1
                x = x + (alpha_t * phi_2) * d
            sde_scale = (-2 * h * eta).expm1().neg().sqrt()
            x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * sde_scale
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x
