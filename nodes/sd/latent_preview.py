"""Cheap sampling previews: project the 4 SD1 latent channels to RGB with a fixed matrix
(ComfyUI's Latent2RGB factors), no VAE needed, and encode a small JPEG."""

from __future__ import annotations

import io

import torch
from PIL import Image as PILImage

SD1_LATENT_RGB = torch.tensor(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]
)
"""Least-squares map from SD1 latent channels (model space) to RGB in -1..1."""
MAX_PREVIEW = 512


def latent_to_image(x0: torch.Tensor) -> PILImage.Image:
    """The first latent of a batch [B, 4, h, w] as an RGB image, upscaled x8 (max 512 px)."""
    latent = x0[0].detach().float().cpu().permute(1, 2, 0)
    rgb = ((latent @ SD1_LATENT_RGB + 1.0) / 2.0).clamp(0, 1)
    pixels = (rgb * 255).round().to(torch.uint8).numpy()
    image = PILImage.fromarray(pixels, "RGB")
    scale = min(8, max(1, MAX_PREVIEW // max(image.width, image.height)))
    return image.resize((image.width * scale, image.height * scale), PILImage.Resampling.NEAREST)


def latent_to_jpeg(x0: torch.Tensor, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    latent_to_image(x0).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
