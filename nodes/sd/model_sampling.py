"""Noise levels of a discrete-time diffusion model (ComfyUI's ModelSamplingDiscrete + EPS/V)."""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Prediction = Literal["eps", "v"]

SD1_BETA_START = 0.00085
SD1_BETA_END = 0.012
SD1_TIMESTEPS = 1000


def scaled_linear_betas(beta_start: float, beta_end: float, timesteps: int) -> Tensor:
    """LDM's "linear" schedule (diffusers calls it scaled_linear): betas evenly spaced in sqrt.

    Computed in float64 like ComfyUI so the derived sigmas match it to the last bit.
    """
    roots = torch.linspace(beta_start**0.5, beta_end**0.5, timesteps, dtype=torch.float64)
    return roots**2


def _per_sample(sigma: Tensor, ndim: int) -> Tensor:
    """Shape sigma to broadcast over a [batch, ...] tensor (ComfyUI's reshape_sigma)."""
    if sigma.nelement() == 1:
        return sigma.view(())
    return sigma.view(sigma.shape[:1] + (1,) * (ndim - 1))


class ModelSampling:
    """Maps between sigmas and the model's 1000 training timesteps, and between the model's raw
    output and the denoised image, for eps- or v-prediction models."""

    sigma_data = 1.0

    def __init__(self, betas: Tensor, prediction: Prediction = "eps") -> None:
        if prediction not in ("eps", "v"):
            raise ValueError(f"ModelSampling: prediction must be 'eps' or 'v', got {prediction!r}")
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError("ModelSampling: betas must be a 1-D tensor with at least 2 values")
        alphas_cumprod = torch.cumprod(1.0 - betas.to(torch.float64), dim=0)
        sigmas = ((1 - alphas_cumprod) / alphas_cumprod) ** 0.5
        self.prediction: Prediction = prediction
        self.num_timesteps = len(betas)
        self.sigmas: Tensor = sigmas.float()
        """Ascending float32 noise level of each training timestep."""
        self.log_sigmas: Tensor = sigmas.log().float()

    @classmethod
    def sd1(cls, prediction: Prediction = "eps") -> ModelSampling:
        """The SD1.x (and SD2.x, with prediction="v") schedule."""
        betas = scaled_linear_betas(SD1_BETA_START, SD1_BETA_END, SD1_TIMESTEPS)
        return cls(betas, prediction)

    def __repr__(self) -> str:
        return (
            f"ModelSampling(prediction={self.prediction!r}, timesteps={self.num_timesteps}, "
            f"sigma_min={float(self.sigma_min):.4f}, sigma_max={float(self.sigma_max):.4f})"
        )

    @property
    def sigma_min(self) -> Tensor:
        return self.sigmas[0]

    @property
    def sigma_max(self) -> Tensor:
        return self.sigmas[-1]

    def timestep(self, sigma: Tensor) -> Tensor:
        """The training timestep whose log sigma is nearest, as float (what the UNet is fed)."""
        log_sigma = sigma.log()
        dists = log_sigma.to(self.log_sigmas.device) - self.log_sigmas[:, None]
        index = dists.abs().argmin(dim=0).view(sigma.shape)
        return index.to(device=sigma.device, dtype=torch.float32)

    def sigma(self, timestep: Tensor) -> Tensor:
        """Sigma at a (possibly fractional) timestep: log-linear interpolation of the table."""
        t = torch.clamp(
            timestep.float().to(self.log_sigmas.device), min=0, max=len(self.sigmas) - 1
        )
        low = t.floor().long()
        high = t.ceil().long()
        w = t.frac()
        log_sigma = (1 - w) * self.log_sigmas[low] + w * self.log_sigmas[high]
        return log_sigma.exp().to(timestep.device)

    def percent_to_sigma(self, percent: float) -> float:
        """Sigma at a fraction of the way through sampling (0 = start, 1 = end), ComfyUI style:
        0 gives a huge sigma and 1 gives 0 so ranges that touch the ends include every step."""
        if percent <= 0.0:
            return 999999999.9
        if percent >= 1.0:
            return 0.0
        return float(self.sigma(torch.tensor((1.0 - percent) * 999.0)).item())

    def max_denoise(self, sigma: float | Tensor) -> bool:
        """Whether sampling starts from pure noise (ComfyUI's Sampler.max_denoise)."""
        max_sigma = float(self.sigma_max)
        start = float(sigma)
        return math.isclose(max_sigma, start, rel_tol=1e-05) or start > max_sigma

    def calculate_input(self, sigma: Tensor, x: Tensor) -> Tensor:
        """Scale a noisy latent to unit variance before it enters the UNet."""
        sigma = _per_sample(sigma, x.ndim)
        return x / (sigma**2 + self.sigma_data**2) ** 0.5

    def calculate_denoised(self, sigma: Tensor, model_output: Tensor, x: Tensor) -> Tensor:
        """The denoised latent from the UNet's eps or v prediction for noisy input x."""
        sigma = _per_sample(sigma, model_output.ndim)
        if self.prediction == "eps":
            return x - model_output * sigma
        data_var = self.sigma_data**2
        return (
            x * data_var / (sigma**2 + data_var)
            - model_output * sigma * self.sigma_data / (sigma**2 + data_var) ** 0.5
        )

    def noise_scaling(
        self, sigma: Tensor, noise: Tensor, latent_image: Tensor, max_denoise: bool = False
    ) -> Tensor:
        """The starting point of sampling: latent plus noise at sigma (pure noise gets the
        sqrt(1 + sigma^2) scale ComfyUI uses when sampling starts at the top)."""
        sigma = _per_sample(sigma, noise.ndim)
        scale = torch.sqrt(1.0 + sigma**2.0) if max_denoise else sigma
        return noise * scale + latent_image

    def inverse_noise_scaling(self, sigma: Tensor, latent: Tensor) -> Tensor:
        """Undo model-specific scaling after sampling (identity for eps and v models)."""
        return latent
