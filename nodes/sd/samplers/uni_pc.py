"""UniPC (Zhao et al. 2023, arXiv 2302.04867) as ComfyUI runs it: multistep, data prediction,
B(h) = h ("bh1", uni_pc) or e^h - 1 ("bh2", uni_pc_bh2), order min(3, steps - 1) with lower
orders at the start and the end, in variance-preserving space with sigma as the time variable.
"""

from __future__ import annotations

import torch
from torch import Tensor

from nodes.sd.samplers.common import Callback, Denoiser, append_dims, report

FINAL_SIGMA = 0.001
"""ComfyUI replaces a final sigma of 0 by this (the VP solver cannot reach sigma 0)."""


def _log_alpha(sigma: Tensor) -> Tensor:
    return 0.5 * torch.log(1 / ((sigma * sigma) + 1))


def _alpha(sigma: Tensor) -> Tensor:
    return torch.exp(_log_alpha(sigma))


def _std(sigma: Tensor) -> Tensor:
    return torch.sqrt(1.0 - torch.exp(2.0 * _log_alpha(sigma)))


def _lambda(sigma: Tensor) -> Tensor:
    log_alpha = _log_alpha(sigma)
    return log_alpha - 0.5 * torch.log(1.0 - torch.exp(2.0 * log_alpha))


class _UniPC:
    """The UniPC predictor-corrector update over VP-scaled latents; t is sigma per image."""

    def __init__(self, model: Denoiser, variant: str) -> None:
        self.model = model
        self.variant = variant

    def data_prediction(self, x: Tensor, t: Tensor) -> Tensor:
        """x0 from the k-diffusion denoiser, going through eps as ComfyUI's wrapper does."""
        sigma = append_dims(t, x.ndim)
        scaled = x * ((sigma**2 + 1.0) ** 0.5)
        eps = (scaled - self.model(scaled, t)) / sigma
        return (x - append_dims(_std(t), x.ndim) * eps) / append_dims(_alpha(t), x.ndim)

    def _coefficients(self, hh: Tensor, rks: Tensor, order: int) -> tuple[Tensor, Tensor]:
        """The R matrix and b vector of the B(h) update; b in float64 on the CPU because its
        terms nearly cancel for small steps."""
        hh64 = hh.detach().cpu().double()
        h_phi_k = torch.expm1(hh64) / hh64 - 1
        b_h = hh64 if self.variant == "bh1" else torch.expm1(hh64)
        factorial = 1
        rows: list[Tensor] = []
        b: list[float] = []
        for i in range(1, order + 1):
            rows.append(torch.pow(rks, i - 1))
            b.append(float(h_phi_k * factorial / b_h))
            factorial *= i + 1
            h_phi_k = h_phi_k / hh64 - 1 / factorial
        return torch.stack(rows), torch.tensor(b, device=rks.device, dtype=hh.dtype)

    def update(
        self,
        x: Tensor,
        model_prev: list[Tensor],
        t_prev: list[Tensor],
        t: Tensor,
        order: int,
        use_corrector: bool,
    ) -> tuple[Tensor, Tensor | None]:
        """Predict x at t from the history; with the corrector, evaluate the model there and
        correct (returning that evaluation so it is not repeated)."""
        ndim = x.ndim
        t_prev_0 = t_prev[-1]
        lambda_prev_0 = _lambda(t_prev_0)
        model_prev_0 = model_prev[-1]
        sigma_prev_0, sigma_t = _std(t_prev_0), _std(t)
        alpha_t = torch.exp(_log_alpha(t))
        h = _lambda(t) - lambda_prev_0

        rks: list[Tensor] = []
        d1s: list[Tensor] = []
        for i in range(1, order):
            rk = ((_lambda(t_prev[-(i + 1)]) - lambda_prev_0) / h)[0]
            rks.append(rk)
            d1s.append((model_prev[-(i + 1)] - model_prev_0) / rk)
        rks.append(torch.ones((), dtype=h.dtype, device=h.device))
        rk_vector = torch.stack(rks).to(x.device)

        hh = -h[0]
        h_phi_1 = torch.expm1(hh)
        b_h = hh if self.variant == "bh1" else torch.expm1(hh)
        r_matrix, b = self._coefficients(hh, rk_vector, order)

        d1_stack = torch.stack(d1s, dim=1) if d1s else None
        x_base = (
            append_dims(sigma_t / sigma_prev_0, ndim) * x
            - append_dims(alpha_t * h_phi_1, ndim) * model_prev_0
        )
        step_scale = append_dims(alpha_t * b_h, ndim)
        if d1_stack is not None:
            if order == 2:
                rhos_p = torch.tensor([0.5], device=b.device)
            else:
                rhos_p = torch.linalg.solve(r_matrix[:-1, :-1], b[:-1])
            x_t = x_base - step_scale * torch.tensordot(d1_stack, rhos_p, dims=([1], [0]))
        else:
            x_t = x_base - step_scale * 0
        if not use_corrector:
            return x_t, None

        rhos_c = (
            torch.tensor([0.5], device=b.device) if order == 1 else torch.linalg.solve(r_matrix, b)
        )
        model_t = self.data_prediction(x_t, t)
        d1_t = model_t - model_prev_0
        if d1_stack is not None:
            corr_res = torch.tensordot(d1_stack, rhos_c[:-1], dims=([1], [0]))
            x_t = x_base - step_scale * (corr_res + rhos_c[-1] * d1_t)
        else:
            x_t = x_base - step_scale * (0 + rhos_c[-1] * d1_t)
        return x_t, model_t


def _sample(model: Denoiser, x: Tensor, sigmas: Tensor, callback: Callback, variant: str) -> Tensor:
    if len(sigmas) <= 1:
        return x
    timesteps = sigmas.clone()
    if sigmas[-1] == 0:
        timesteps[-1] = FINAL_SIGMA
    steps = len(timesteps) - 1
    order = min(3, steps - 1)
    solver = _UniPC(model, variant)
    batch = x.shape[0]
    x = x / torch.sqrt(1.0 + timesteps[0] ** 2.0)

    t_prev: list[Tensor] = []
    model_prev: list[Tensor] = []
    for step_index in range(steps):
        if step_index == 0:
            vec_t = timesteps[0].expand(batch)
            model_prev = [solver.data_prediction(x, vec_t)]
            t_prev = [vec_t]
        elif step_index < order:
            vec_t = timesteps[step_index].expand(batch)
            x, model_x = solver.update(x, model_prev, t_prev, vec_t, step_index, True)
            if model_x is None:
                model_x = solver.data_prediction(x, vec_t)
            model_prev.append(model_x)
            t_prev.append(vec_t)
        else:
            last = step_index + (2 if step_index == steps - 1 else 1)
            for step in range(step_index, last):
                vec_t = timesteps[step].expand(batch)
                step_order = min(order, steps + 1 - step)
                x, model_x = solver.update(x, model_prev, t_prev, vec_t, step_order, step < steps)
                for i in range(order - 1):
                    t_prev[i] = t_prev[i + 1]
                    model_prev[i] = model_prev[i + 1]
                t_prev[-1] = vec_t
                if step < steps:
                    if model_x is None:
                        model_x = solver.data_prediction(x, vec_t)
                    model_prev[-1] = model_x
        sigma = sigmas[step_index]
        report(callback, step_index, x, sigma, sigma, model_prev[-1])
    return x / _alpha(timesteps[-1])


def uni_pc(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """UniPC with B(h) = h. The callback's x is in UniPC's variance-preserving scale."""
    return _sample(model, x, sigmas, callback, "bh1")


def uni_pc_bh2(model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback) -> Tensor:
    """UniPC with B(h) = e^h - 1."""
    return _sample(model, x, sigmas, callback, "bh2")
