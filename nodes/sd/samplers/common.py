"""Shared pieces of the sampling loops: the denoiser and callback types and k-diffusion helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor], Tensor]
"""model(x, sigma_batch) -> the denoised prediction of x (sigma_batch: one sigma per image)."""

Callback = Callable[[dict[str, Any]], None] | None
"""Called once per step with k-diffusion's dict {"i", "x", "sigma", "sigma_hat", "denoised"}."""


class SamplerFunction(Protocol):
    """One sampling loop: runs `model` down `sigmas` from `x` (already noised for sigmas[0])."""

    def __call__(
        self, model: Denoiser, x: Tensor, sigmas: Tensor, seed: int, callback: Callback
    ) -> Tensor: ...


def report(
    callback: Callback, i: int, x: Tensor, sigma: Tensor, sigma_hat: Tensor, denoised: Tensor
) -> None:
    """Send one step to the callback (exceptions propagate so the caller can interrupt)."""
    if callback is not None:
        callback({"i": i, "x": x, "sigma": sigma, "sigma_hat": sigma_hat, "denoised": denoised})


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """Add trailing singleton dimensions until v has ndim dimensions."""
    missing = ndim - v.ndim
    if missing < 0:
        raise ValueError(f"cannot broadcast a {v.ndim}-D tensor to {ndim} dimensions")
    return v[(...,) + (None,) * missing]


def to_d(x: Tensor, sigma: Tensor, denoised: Tensor) -> Tensor:
    """The Karras ODE derivative dx/dsigma from a denoiser output."""
    return (x - denoised) / append_dims(sigma, x.ndim)


def ancestral_step(
    sigma_from: Tensor, sigma_to: Tensor, eta: float = 1.0
) -> tuple[Tensor, Tensor | float]:
    """Split a step into a deterministic move down to sigma_down plus fresh noise of sigma_up."""
    if not eta:
        return sigma_to, 0.0
    sigma_up = torch.minimum(
        sigma_to,
        eta * (sigma_to**2 * (sigma_from**2 - sigma_to**2) / sigma_from**2) ** 0.5,
    )
    sigma_down = (sigma_to**2 - sigma_up**2) ** 0.5
    return sigma_down, sigma_up


def batch_ones(x: Tensor) -> Tensor:
    """ones(batch): multiplying a sigma by it gives the per-image sigma the denoiser takes."""
    return x.new_ones([x.shape[0]])
