"""Stage 1: the demo VAE, trained to reconstruct the procedural scenes.

Loss: L1 + MSE reconstruction plus a tiny KL term (SD's 1e-6 scale), enough for flat colours.
From step ENCODER_STEPS on, the encoder (and quant_conv) is frozen and only the decoder goes
on training: latents are final from then, so the UNet can train on them while the decoder
finishes beside it. The latent scale is fixed exactly (see `rescale_latents`) so that SD1's
constant 0.18215 gives unit-variance latents, as every SD1 consumer assumes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from nodes.demo.configs import DEMO_VAE, ENCODER_STEPS, IMAGE_SIZE, SD1_SCALING
from nodes.demo.scenes import batch
from nodes.demo.training import RunConfig, log_line, train_loop

KL_WEIGHT = 1e-6


def build_vae(seed: int) -> AutoencoderKL:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AutoencoderKL(**DEMO_VAE)


def train_vae(config: RunConfig, encoder_steps: int = ENCODER_STEPS) -> AutoencoderKL:
    """Train (or resume) the VAE up to `config.steps`, the encoder only for the first
    `encoder_steps`; returns it rescaled, in eval mode."""
    device = config.torch_device()
    vae = build_vae(config.seed).to(device)
    encoder = (vae.encoder, vae.quant_conv)

    def step_loss(step: int) -> tuple[torch.Tensor, dict[str, float]]:
        images, _ = batch(config.seed, step * config.batch, config.batch, IMAGE_SIZE)
        x = torch.from_numpy(images).to(device)
        frozen = step >= encoder_steps
        for part in encoder:
            part.requires_grad_(not frozen)  # no grad: AdamW leaves the weights alone
        with torch.set_grad_enabled(not frozen):
            posterior = vae.encode(x).latent_dist
        generator = torch.Generator(device=device).manual_seed(config.seed * 1_000_003 + step)
        recon = vae.decode(posterior.sample(generator=generator)).sample
        rec = F.l1_loss(recon, x) + F.mse_loss(recon, x)
        kl = posterior.kl().mean()
        loss = rec if frozen else rec + KL_WEIGHT * kl
        return loss, {"rec": rec.item(), "kl": kl.item()}

    train_loop(config, "vae", vae, step_loss, lambda: {"encoder_steps": encoder_steps})
    vae.eval().requires_grad_(False)
    rescale_latents(vae, config.seed)
    return vae


@torch.no_grad()
def latent_std(vae: AutoencoderKL, seed: int, count: int = 256) -> float:
    """Standard deviation of the latent means over held-apart samples."""
    device = next(vae.parameters()).device
    images, _ = batch(seed + 7919, 10_000_000, count, IMAGE_SIZE)
    means = vae.encode(torch.from_numpy(images).to(device)).latent_dist.mean
    return float(means.std())


@torch.no_grad()
def rescale_latents(vae: AutoencoderKL, seed: int) -> float:
    """Scale the latent space by k so its std becomes 1 / SD1_SCALING, exactly: the mean half
    of quant_conv is multiplied by k, its log-variance half shifted by 2·ln k, and
    post_quant_conv divided by k, so decode(encode(x)) is unchanged. Returns k."""
    k = (1.0 / SD1_SCALING) / latent_std(vae, seed)
    channels = vae.config.latent_channels
    vae.quant_conv.weight[:channels] *= k
    vae.quant_conv.bias[:channels] *= k
    vae.quant_conv.bias[channels:] += 2 * math.log(k)
    vae.post_quant_conv.weight /= k
    log_line(f"vae: latents rescaled by {k:.4f} (std now {1 / SD1_SCALING:.3f} by construction)")
    return k
