"""Pixels <-> SD latents with an AutoencoderKL: batched, or tiled with feathered seams for
images too large to decode at once. Latents stay in VAE space (unscaled), as in ComfyUI."""

from __future__ import annotations

from collections.abc import Callable

import torch

BATCH = 4
"""Images per VAE call: bounds activation memory for large batches."""
FACTOR = 8


def decode(vae: torch.nn.Module, latents: torch.Tensor, device: torch.device) -> torch.Tensor:
    """[B, 4, h, w] latents -> [B, 8h, 8w, 3] images in 0..1 (float32, CPU)."""
    return torch.cat([_decode(vae, part, device) for part in latents.split(BATCH)])


def encode(vae: torch.nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    """[B, H, W, C>=3] images in 0..1 -> [B, 4, H/8, W/8] latents (the posterior mean)."""
    return torch.cat([_encode(vae, part, device) for part in images.split(BATCH)])


def _dtype(vae: torch.nn.Module) -> torch.dtype:
    return next(vae.parameters()).dtype


def _decode(vae: torch.nn.Module, z: torch.Tensor, device: torch.device) -> torch.Tensor:
    with torch.inference_mode():
        out = vae.decode(z.to(device, _dtype(vae)), return_dict=False)[0]  # type: ignore[operator]
    return ((out.float() + 1.0) / 2.0).clamp(0, 1).permute(0, 2, 3, 1).cpu()


def _encode(vae: torch.nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    pixels = images[..., :3].permute(0, 3, 1, 2) * 2.0 - 1.0
    with torch.inference_mode():
        dist = vae.encode(pixels.to(device, _dtype(vae)), return_dict=False)[0]  # type: ignore[operator]
    return dist.mean.float().cpu()


def crop_to_multiple(images: torch.Tensor, multiple: int = FACTOR) -> torch.Tensor:
    """Center-crop [B, H, W, C] so H and W are multiples of `multiple` (ComfyUI's VAEEncode)."""
    height = images.shape[1] // multiple * multiple
    width = images.shape[2] // multiple * multiple
    if (height, width) == tuple(images.shape[1:3]):
        return images
    top = (images.shape[1] % multiple) // 2
    left = (images.shape[2] % multiple) // 2
    return images[:, top : top + height, left : left + width, :]


def tiled(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    tile: int,
    overlap: int,
    scale: float,
    out_channels: int,
) -> torch.Tensor:
    """Apply `fn` ([B, C, h, w] -> [B, out_channels, h*scale, w*scale]) over overlapping tiles of
    `x` and blend the seams with linear ramps, so no tile edge shows."""
    batch, _, height, width = x.shape
    overlap = max(0, min(overlap, tile // 2))
    stride = max(1, tile - overlap)
    out_h, out_w = round(height * scale), round(width * scale)
    out = torch.zeros(batch, out_channels, out_h, out_w)
    weight = torch.zeros(1, 1, out_h, out_w)
    for y in _starts(height, tile, stride):
        for x0 in _starts(width, tile, stride):
            part = x[:, :, y : y + tile, x0 : x0 + tile]
            result = fn(part).float().cpu()
            th, tw = result.shape[2], result.shape[3]
            ramp = _ramp(
                th, tw, round(overlap * scale), y > 0, x0 > 0, y + tile < height, x0 + tile < width
            )
            oy, ox = round(y * scale), round(x0 * scale)
            out[:, :, oy : oy + th, ox : ox + tw] += result * ramp
            weight[:, :, oy : oy + th, ox : ox + tw] += ramp
    return out / weight.clamp_min(1e-8)


def _starts(size: int, tile: int, stride: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def _ramp(
    h: int, w: int, feather: int, top: bool, left: bool, bottom: bool, right: bool
) -> torch.Tensor:
    """Blend weights of one tile: 1 inside, rising linearly over `feather` px on shared edges."""
    ys = torch.ones(h)
    xs = torch.ones(w)
    if feather > 0:
        rise = (torch.arange(feather, dtype=torch.float32) + 1) / (feather + 1)
        n_y, n_x = min(feather, h), min(feather, w)
        if top:
            ys[:n_y] = torch.minimum(ys[:n_y], rise[:n_y])
        if bottom:
            ys[h - n_y :] = torch.minimum(ys[h - n_y :], rise[:n_y].flip(0))
        if left:
            xs[:n_x] = torch.minimum(xs[:n_x], rise[:n_x])
        if right:
            xs[w - n_x :] = torch.minimum(xs[w - n_x :], rise[:n_x].flip(0))
    return (ys[:, None] * xs[None, :])[None, None]
