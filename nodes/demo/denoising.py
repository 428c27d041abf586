"""What the denoising stages (UNet, ControlNet, hypernetwork) share: the SD1 training
objective, caption ids as CLIPTextEncode makes them, and per-image caches.

The dataset has a finite number of distinct images (captions vary in wording only), so each
image's latent (or edge hint) is computed once, one image per call, so a value never
depends on which batch first asked for it and a resumed run sees exactly the same data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import torch
from diffusers import AutoencoderKL

from nodes.demo.configs import IMAGE_SIZE, SD1_SCALING
from nodes.demo.scenes import Scene, pixels, scene
from nodes.sd.model_sampling import ModelSampling
from nodes.sd.tokenizer import load_tokenizer, tokenize_with_weights

Restyle = Callable[[Scene], Scene]
UNCOND_RATE = 0.1
"""Share of captions replaced by the empty prompt (classifier-free guidance)."""


def scenes_of(seed: int, step: int, size: int) -> list[Scene]:
    """The training scenes of batch `step`."""
    return [scene(seed, index) for index in range(step * size, (step + 1) * size)]


def image_tensor(sample: Scene) -> torch.Tensor:
    """The rendered scene as float32 [3, H, W] in [-1, 1]."""
    return torch.from_numpy(pixels(sample, IMAGE_SIZE))


class PerImage:
    """`compute(scene)` once per distinct image (scenes equal but for their caption)."""

    def __init__(self, compute: Callable[[Scene], torch.Tensor]) -> None:
        self.compute = compute
        self._cache: dict[Scene, torch.Tensor] = {}

    def __call__(self, samples: list[Scene]) -> torch.Tensor:
        rows = []
        for sample in samples:
            key = dataclasses.replace(sample, caption="")
            if key not in self._cache:
                self._cache[key] = self.compute(sample)
            rows.append(self._cache[key])
        return torch.stack(rows)


def latent_moments(vae: AutoencoderKL, restyle: Restyle | None = None) -> PerImage:
    """Per image: the scaled latent's mean and std, concatenated on the channel axis; of the
    restyled scene when `restyle` is given (the hypernetwork's targets)."""

    @torch.no_grad()
    def compute(sample: Scene) -> torch.Tensor:
        device = next(vae.parameters()).device
        target = sample if restyle is None else restyle(sample)
        posterior = vae.encode(image_tensor(target)[None].to(device)).latent_dist
        return torch.cat([posterior.mean[0], posterior.std[0]]).cpu() * SD1_SCALING

    return PerImage(compute)


class CaptionIds:
    """Token ids [77] per caption, as CLIPTextEncode makes them; cached (captions repeat)."""

    def __init__(self) -> None:
        self.tokenizer = load_tokenizer()
        self._cache: dict[str, list[int]] = {}

    def __call__(self, captions: list[str]) -> torch.Tensor:
        rows = []
        for caption in captions:
            if caption not in self._cache:
                chunks = tokenize_with_weights(self.tokenizer, caption, None, None)
                self._cache[caption] = [int(token) for token, _ in chunks[0]]
            rows.append(self._cache[caption])
        return torch.tensor(rows, dtype=torch.long)


@dataclasses.dataclass
class NoisedBatch:
    """One training batch: noisy latents, their timesteps, the noise to predict, captions
    (some dropped to ""), and the scenes they show."""

    noisy: torch.Tensor
    timesteps: torch.Tensor
    noise: torch.Tensor
    captions: list[str]
    scenes: list[Scene]


class Noiser:
    """SD1's forward process on the scaled-linear 1000-step schedule, batches as a pure
    function of (seed, step)."""

    def __init__(
        self,
        vae: AutoencoderKL,
        seed: int,
        batch: int,
        uncond_rate: float,
        restyle: Restyle | None = None,
    ) -> None:
        self.latents = latent_moments(vae, restyle)
        self.seed, self.batch, self.uncond_rate = seed, batch, uncond_rate
        sigmas = ModelSampling.sd1().sigmas.double()
        self.alphas = (1.0 / (1.0 + sigmas**2)).float()  # alphas_cumprod per timestep

    def __call__(self, step: int) -> NoisedBatch:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        samples = scenes_of(self.seed, step, self.batch)
        drop = torch.rand(len(samples), generator=generator) < self.uncond_rate
        captions = ["" if d else s.caption for s, d in zip(samples, drop.tolist(), strict=True)]
        moments = self.latents(samples)
        mean, std = moments.chunk(2, dim=1)
        latents = mean + std * torch.randn(mean.shape, generator=generator)
        t = torch.randint(0, len(self.alphas), (len(samples),), generator=generator)
        noise = torch.randn(latents.shape, generator=generator)
        a = self.alphas[t].view(-1, 1, 1, 1)
        noisy = a.sqrt() * latents + (1 - a).sqrt() * noise
        return NoisedBatch(noisy, t, noise, captions, samples)
