"""VAE nodes: decode latents to images and encode images (whole, tiled, or for inpainting)."""

from __future__ import annotations

import math
from typing import Annotated

import torch
import torch.nn.functional as F

from nodegraph import Context, Int, node
from nodes.image_ops import check_image
from nodes.latent import check_latent
from nodes.model_management import manager
from nodes.sd import vae_codec
from nodes.types import Image, Latent, Mask, Vae

CATEGORY = "latent"
TileSize = Annotated[int, Int(min=64, max=4096, step=32)]
Overlap = Annotated[int, Int(min=0, max=4096, step=32)]
TemporalSize = Annotated[int, Int(min=8, max=4096, step=4)]
TemporalOverlap = Annotated[int, Int(min=4, max=4096, step=4)]


def _check_latent(latent: Latent, node_id: str) -> None:
    """The shared LATENT check, plus the 4 channels an SD1 VAE decodes."""
    samples = check_latent(latent, node_id, "samples")
    if samples.shape[1] != 4:
        raise ValueError(
            f"{node_id}: samples has shape {list(samples.shape)}; an SD1 latent is [batch, 4, h, w]"
        )


def _check_image(pixels: torch.Tensor, node_id: str, name: str = "pixels") -> None:
    """The shared IMAGE check, plus what encoding needs: RGB and at least 8x8 pixels."""
    check_image(pixels, node_id, name)
    if pixels.shape[-1] < 3:
        raise ValueError(
            f"{node_id}: {name} has shape {list(pixels.shape)}; expected [batch, height, width, 3]"
        )
    if pixels.shape[1] < 8 or pixels.shape[2] < 8:
        raise ValueError(f"{node_id}: {name} is smaller than 8x8 pixels, too small to encode")


@node("VAEDecode", category=CATEGORY, display_name="VAE Decode")
def vae_decode(*, samples: Latent, vae: Vae, ctx: Context) -> Image:
    """Decode latents into images with the VAE."""
    _check_latent(samples, "VAEDecode")
    models = manager(ctx)
    with models.use(vae.vae) as device:
        return vae_codec.decode(vae.vae, samples.samples, device)


@node("VAEEncode", category=CATEGORY, display_name="VAE Encode")
def vae_encode(*, pixels: Image, vae: Vae, ctx: Context) -> Latent:
    """Encode images into latents (cropped to a multiple of 8 pixels, like ComfyUI)."""
    _check_image(pixels, "VAEEncode")
    models = manager(ctx)
    with models.use(vae.vae) as device:
        latents = vae_codec.encode(vae.vae, vae_codec.crop_to_multiple(pixels), device)
    return Latent(samples=latents)


@node("VAEDecodeTiled", category="_for_testing", display_name="VAE Decode (Tiled)")
def vae_decode_tiled(
    *,
    samples: Latent,
    vae: Vae,
    tile_size: TileSize = 512,
    overlap: Overlap = 64,
    temporal_size: TemporalSize = 64,
    temporal_overlap: TemporalOverlap = 8,
    ctx: Context,
) -> Image:
    """Decode in overlapping tiles to bound memory on large images; seams are blended.
    (temporal_* apply to video VAEs only and are accepted for workflow compatibility.)"""
    _check_latent(samples, "VAEDecodeTiled")
    models = manager(ctx)
    tile = max(8, tile_size // 8)
    with models.use(vae.vae) as device:

        def fn(part: torch.Tensor) -> torch.Tensor:
            return vae_codec.decode(vae.vae, part, device).permute(0, 3, 1, 2)

        out = vae_codec.tiled(fn, samples.samples, tile, overlap // 8, 8, 3)
    return out.permute(0, 2, 3, 1).clamp(0, 1)


@node("VAEEncodeTiled", category="_for_testing", display_name="VAE Encode (Tiled)")
def vae_encode_tiled(
    *,
    pixels: Image,
    vae: Vae,
    tile_size: Annotated[int, Int(min=64, max=4096, step=64)] = 512,
    overlap: Overlap = 64,
    temporal_size: TemporalSize = 64,
    temporal_overlap: TemporalOverlap = 8,
    ctx: Context,
) -> Latent:
    """Encode in overlapping tiles to bound memory on large images; seams are blended."""
    _check_image(pixels, "VAEEncodeTiled")
    models = manager(ctx)
    images = vae_codec.crop_to_multiple(pixels).permute(0, 3, 1, 2)
    with models.use(vae.vae) as device:

        def fn(part: torch.Tensor) -> torch.Tensor:
            return vae_codec.encode(vae.vae, part.permute(0, 2, 3, 1), device)

        latents = vae_codec.tiled(fn, images, max(64, tile_size), overlap, 1 / 8, 4)
    return Latent(samples=latents)


@node("VAEEncodeForInpaint", category="latent/inpaint", display_name="VAE Encode (for Inpainting)")
def vae_encode_for_inpaint(
    *,
    pixels: Image,
    vae: Vae,
    mask: Mask,
    grow_mask_by: Annotated[int, Int(min=0, max=64, step=1)] = 6,
    ctx: Context,
) -> Latent:
    """Encode an image with the masked area blanked to grey, and keep the mask (grown by a few
    pixels for seamless edges) as the latent's noise mask, so only that area is regenerated."""
    _check_image(pixels, "VAEEncodeForInpaint")
    height, width = pixels.shape[1], pixels.shape[2]
    mask = mask.float().reshape(-1, 1, mask.shape[-2], mask.shape[-1])
    mask = F.interpolate(mask, size=(height, width), mode="bilinear")
    crop_h, crop_w = height // 8 * 8, width // 8 * 8
    top, left = (height % 8) // 2, (width % 8) // 2
    pixels = pixels[:, top : top + crop_h, left : left + crop_w, :3].clone()
    mask = mask[:, :, top : top + crop_h, left : left + crop_w]
    rounded = mask.round()
    if grow_mask_by == 0:
        grown = rounded
    else:
        kernel = torch.ones((1, 1, grow_mask_by, grow_mask_by))
        padding = math.ceil((grow_mask_by - 1) / 2)
        grown = F.conv2d(rounded, kernel, padding=padding).clamp(0, 1)
    keep = (1.0 - rounded).squeeze(1).unsqueeze(-1)
    if keep.shape[0] not in (1, pixels.shape[0]):
        raise ValueError(
            f"VAEEncodeForInpaint: mask batch {keep.shape[0]} does not match pixels batch "
            f"{pixels.shape[0]}"
        )
    pixels = (pixels - 0.5) * keep + 0.5
    models = manager(ctx)
    with models.use(vae.vae) as device:
        latents = vae_codec.encode(vae.vae, pixels, device)
    return Latent(samples=latents, noise_mask=grown[:, :, :crop_h, :crop_w].round())
