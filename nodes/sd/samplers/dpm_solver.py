"""DPM-Solver (Lu et al. 2022, arXiv 2206.00927) in noise prediction: dpm_fast (fixed steps of
order 3, 2, 1 spending exactly one model call per requested step) and dpm_adaptive (embedded
2/3-order pairs with a PID step-size controller). ComfyUI runs both from sigmas[0] down to the
smallest non-zero sigma, so they end slightly noisy, like ComfyUI."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from nodes.sd.samplers.common import Callback, Denoiser, report

EpsCache = dict[str, Tensor]


class _PIDStepSizeController:
    """Proposes the next step size from the error history; rejects steps that are too bad."""

    def __init__(
        self, h: float, pcoeff: float, icoeff: float, dcoeff: float, order: float, safety: float
    ) -> None:
        self.h = h
        self.b1 = (pcoeff + icoeff + dcoeff) / order
        self.b2 = -(pcoeff + 2 * dcoeff) / order
        self.b3 = dcoeff / order
        self.accept_safety = safety
        self.eps = 1e-8
        self.errs: list[float] = []

    def propose_step(self, error: Tensor) -> bool:
        inv_error = 1 / (float(error) + self.eps)
        if not self.errs:
            self.errs = [inv_error, inv_error, inv_error]
        self.errs[0] = inv_error
        factor = self.errs[0] ** self.b1 * self.errs[1] ** self.b2 * self.errs[2] ** self.b3
        factor = 1 + math.atan(factor - 1)
        accept = factor >= self.accept_safety
        if accept:
            self.errs[2] = self.errs[1]
            self.errs[1] = self.errs[0]
        self.h *= factor
        return accept


class _DPMSolver:
    """Single-step DPM-Solver updates over t = -log sigma, caching model calls per step."""

    def __init__(self, model: Denoiser) -> None:
        self.model = model

    @staticmethod
    def t(sigma: Tensor) -> Tensor:
        return -sigma.log()

    @staticmethod
    def sigma(t: Tensor) -> Tensor:
        return t.neg().exp()

    def eps(self, cache: EpsCache, key: str, x: Tensor, t: Tensor) -> Tensor:
        if key not in cache:
            sigma = self.sigma(t) * x.new_ones([x.shape[0]])
            cache[key] = (x - self.model(x, sigma)) / self.sigma(t)
        return cache[key]

    def step_1(self, x: Tensor, t: Tensor, t_next: Tensor, cache: EpsCache) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        return x - self.sigma(t_next) * h.expm1() * eps

    def step_2(
        self, x: Tensor, t: Tensor, t_next: Tensor, cache: EpsCache, r1: float = 1 / 2
    ) -> Tensor:
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        return (
            x
            - self.sigma(t_next) * h.expm1() * eps
            - self.sigma(t_next) / (2 * r1) * h.expm1() * (eps_r1 - eps)
        )

    def step_3(self, x: Tensor, t: Tensor, t_next: Tensor, cache: EpsCache) -> Tensor:
        r1, r2 = 1 / 3, 2 / 3
        h = t_next - t
        eps = self.eps(cache, "eps", x, t)
        s1 = t + r1 * h
        s2 = t + r2 * h
        u1 = x - self.sigma(s1) * (r1 * h).expm1() * eps
        eps_r1 = self.eps(cache, "eps_r1", u1, s1)
        u2 = (
            x
            - self.sigma(s2) * (r2 * h).expm1() * eps
            - self.sigma(s2) * (r2 / r1) * ((r2 * h).expm1() / (r2 * h) - 1) * (eps_r1 - eps)
        )
        eps_r2 = self.eps(cache, "eps_r2", u2, s2)
        return (
            x
            - self.sigma(t_next) * h.expm1() * eps
            - self.sigma(t_next) / r2 * (h.expm1() / h - 1) * (eps_r2 - eps)
        )


def _sigma_range(sigmas: Tensor) -> tuple[Tensor, Tensor]:
    """ComfyUI's range for these solvers: sigmas[0] down to the last non-zero sigma."""
    sigma_min = sigmas[-1]
    if sigma_min == 0:
        sigma_min = sigmas[-2]
    if sigma_min <= 0 or sigmas[0] <= 0:
        raise ValueError("dpm_fast/dpm_adaptive: sigma_min and sigma_max must not be 0")
    return sigma_min, sigmas[0]


def dpm_fast(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """DPM-Solver-fast: as many order-3 steps as fit in len(sigmas) - 1 model calls."""
    if len(sigmas) <= 1:
        return x
    sigma_min, sigma_max = _sigma_range(sigmas)
    nfe = len(sigmas) - 1
    solver = _DPMSolver(model)
    t_start, t_end = solver.t(sigma_max.clone()), solver.t(sigma_min.clone())
    m = math.floor(nfe / 3) + 1
    ts = torch.linspace(t_start, t_end, m + 1, device=x.device)
    orders = [3] * (m - 2) + [2, 1] if nfe % 3 == 0 else [3] * (m - 1) + [nfe % 3]
    steps = {1: solver.step_1, 2: solver.step_2, 3: solver.step_3}
    for i, order in enumerate(orders):
        cache: EpsCache = {}
        t, t_next = ts[i], ts[i + 1]
        eps = solver.eps(cache, "eps", x, t)
        denoised = x - solver.sigma(t) * eps
        report(callback, i, x, solver.sigma(t), solver.sigma(t), denoised)
        x = steps[order](x, t, t_next, cache)
    return x


def dpm_adaptive(
    model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
) -> Tensor:
    """DPM-Solver-23 with adaptive steps (rtol 0.05, atol 0.0078, h_init 0.05); the callback
    fires once per attempted step, rejected ones included, so the step count is not known."""
    if len(sigmas) <= 1:
        return x
    sigma_min, sigma_max = _sigma_range(sigmas)
    solver = _DPMSolver(model)
    t_start, t_end = solver.t(sigma_max.clone()), solver.t(sigma_min.clone())
    atol, rtol = torch.tensor(0.0078), torch.tensor(0.05)
    pid = _PIDStepSizeController(0.05, pcoeff=0.0, icoeff=1.0, dcoeff=0.0, order=3, safety=0.81)
    s = t_start
    x_prev = x
    attempts = 0
    while s < t_end - 1e-5:
        cache: EpsCache = {}
        t = torch.minimum(t_end, s + pid.h)
        eps = solver.eps(cache, "eps", x, s)
        denoised = x - solver.sigma(s) * eps
        x_low = solver.step_2(x, s, t, cache, r1=1 / 3)
        x_high = solver.step_3(x, s, t, cache)
        delta = torch.maximum(atol, rtol * torch.maximum(x_low.abs(), x_prev.abs()))
        error = torch.linalg.norm((x_low - x_high) / delta) / x.numel() ** 0.5
        if pid.propose_step(error):
            x_prev = x_low
            x = x_high
            s = t
        attempts += 1
        report(callback, attempts - 1, x, solver.sigma(s), solver.sigma(s), denoised)
    return x
