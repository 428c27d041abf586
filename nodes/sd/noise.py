"""ComfyUI's noise: the seeded initial latent noise and the noise samplers used while sampling.

All noise is drawn on the CPU (and moved to the latent's device) so a seed gives the same
image on every device, and matches what ComfyUI produces when it runs on the CPU.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

NoiseSampler = Callable[[Tensor, Tensor], Tensor]
"""noise(sigma, sigma_next) -> unit-variance noise shaped like the latent."""

_SEED_RANGE = 2**64


def _cpu_generator(seed: int) -> torch.Generator:
    """A CPU generator; seeds wrap into torch's unsigned 64-bit range."""
    return torch.Generator(device="cpu").manual_seed(seed % _SEED_RANGE)


def prepare_noise(latent: Tensor, seed: int, batch_index: Sequence[int] | None = None) -> Tensor:
    """The initial noise for a latent batch (comfy.sample.prepare_noise), on the CPU, float32.

    With batch_index, noise is drawn image by image (one [1, C, H, W] draw per index up to the
    largest) and each latent gets the draw of its index, so images picked out of a batch
    (LatentFromBatch) get the same noise in every run whichever others are picked with them.
    """
    generator = _cpu_generator(seed)
    if batch_index is None:
        return torch.randn(latent.size(), dtype=torch.float32, generator=generator, device="cpu")
    if len(batch_index) == 0 or min(batch_index) < 0:
        raise ValueError(
            f"prepare_noise: batch_index must be non-negative indexes, got {batch_index}"
        )
    unique, inverse = np.unique(np.asarray(batch_index), return_inverse=True)
    wanted = set(unique.tolist())
    per_image = [1, *latent.shape[1:]]
    drawn: list[Tensor] = []
    for i in range(int(unique[-1]) + 1):
        noise = torch.randn(per_image, dtype=torch.float32, generator=generator, device="cpu")
        if i in wanted:
            drawn.append(noise)
    return torch.cat([drawn[i] for i in inverse.reshape(-1).tolist()], dim=0)


def gaussian_noise_sampler(x: Tensor, seed: int) -> NoiseSampler:
    """Fresh Gaussian noise on each call (k-diffusion's default_noise_sampler as ComfyUI seeds
    it on the CPU: seed + 1, so it differs from the initial noise)."""
    generator = _cpu_generator(seed + 1)

    def sample(sigma: Tensor, sigma_next: Tensor) -> Tensor:
        noise = torch.randn(x.size(), dtype=x.dtype, generator=generator, device="cpu")
        return noise.to(x.device)

    return sample


def inpaint_noise(noise: Tensor, seed: int) -> Tensor:
    """The independent noise ComfyUI's "ddim" sampler re-noises masked-out areas with."""
    generator = _cpu_generator(seed + 1)
    fresh = torch.randn(noise.shape, generator=generator, device="cpu")
    return fresh.to(noise.dtype).to(noise.device)


class BrownianTreeNoiseSampler:
    """Noise from a seeded Brownian motion over sigma (torchsde), so the noise between two
    sigmas does not depend on the step sizes: SDE samplers converge as steps grow."""

    def __init__(self, x: Tensor, sigma_min: Tensor, sigma_max: Tensor, seed: int) -> None:
        t0, t1 = torch.as_tensor(sigma_min), torch.as_tensor(sigma_max)
        if not t0 < t1:
            t0, t1 = t1, t0
        self._device = x.device
        w0 = torch.zeros_like(x, device="cpu")
        import torchsde  # imported on first use: it pulls in scipy

        self._tree = torchsde.BrownianTree(
            t0.detach().cpu(), w0, t1.detach().cpu(), entropy=seed % _SEED_RANGE
        )

    def __call__(self, sigma: Tensor, sigma_next: Tensor) -> Tensor:
        t0, t1 = torch.as_tensor(sigma), torch.as_tensor(sigma_next)
        sign = 1
        if not t0 < t1:
            t0, t1, sign = t1, t0, -1
        dtype = t0.dtype
        with warnings.catch_warnings():
            # torchsde warns when a float32 query sits a rounding error past the tree's end
            # (ComfyUI shows the same warning); the value returned is the right one.
            warnings.filterwarnings("ignore", message="Should have", category=UserWarning)
            w = self._tree(t0.detach().cpu().float(), t1.detach().cpu().float())
        w = w.to(device=self._device, dtype=dtype) * sign
        return w / (t1 - t0).abs().sqrt().to(self._device)


def brownian_noise_sampler(x: Tensor, sigmas: Tensor, seed: int) -> BrownianTreeNoiseSampler:
    """The Brownian noise ComfyUI's SDE samplers use, spanning the non-zero sigmas."""
    positive = sigmas[sigmas > 0]
    return BrownianTreeNoiseSampler(x, positive.min(), sigmas.max(), seed)
