"""Sizes of the bundled demo family: SD1.x structure, small enough to commit and train here."""

from __future__ import annotations

from nodes.sd.sd1_configs import clip_config, unet_config, vae_config

IMAGE_SIZE = 64
"""Training and default generation size (an 8x8 latent)."""
SD1_SCALING = 0.18215
"""ComfyUI applies SD1's latent scale to every SD1 checkpoint, so the demo VAE is
reparametrised after training to give latents of standard deviation 1 / SD1_SCALING."""

DEMO_VAE = vae_config((32, 64, 64, 64), IMAGE_SIZE)
DEMO_UNET = unet_config((32, 64, 128, 128), 64, IMAGE_SIZE // 8)
DEMO_CLIP = clip_config(64, 3, 256)
SIZE_BUDGET = 40 * 1024 * 1024
"""Bytes all bundled files may take (issue): checkpoint, ControlNet and hypernetwork, fp16."""
ENCODER_STEPS = 1350
"""VAE steps after which its encoder is frozen (the latents the UNet learns are final); the
shipped VAE used this default, and its state file records the value it was trained with."""
