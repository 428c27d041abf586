"""Resizing [batch, channels, height, width] tensors the way ComfyUI's common_upscale does."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image as PILImage

MAX_RESOLUTION = 16384
"""The largest width or height ComfyUI's size widgets accept."""

IMAGE_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "lanczos")
LATENT_UPSCALE_METHODS = ("nearest-exact", "bilinear", "area", "bicubic", "bislerp")
CROP_METHODS = ("disabled", "center")

_INTERPOLATE_MODES = frozenset({"nearest-exact", "bilinear", "area", "bicubic"})
_PIL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def common_upscale(
    samples: torch.Tensor, width: int, height: int, upscale_method: str, crop: str
) -> torch.Tensor:
    """Resize `samples` [B, C, H, W] to `height` x `width`.

    With crop "center" the input is first cut to the target aspect ratio around its centre,
    so the picture is not stretched.
    """
    if samples.ndim != 4:
        raise ValueError(
            f"common_upscale: expected a [batch, channels, height, width] tensor, "
            f"got shape {tuple(samples.shape)}"
        )
    if width < 1 or height < 1:
        raise ValueError(f"common_upscale: target size {width}x{height} has no pixels")
    if crop == "center":
        samples = center_crop_to_aspect(samples, width, height)
    elif crop != "disabled":
        raise ValueError(f"common_upscale: unknown crop {crop!r}; expected one of {CROP_METHODS}")
    if upscale_method == "bislerp":
        return bislerp(samples, width, height)
    if upscale_method == "lanczos":
        return lanczos(samples, width, height)
    if upscale_method in _INTERPOLATE_MODES:
        return F.interpolate(samples, size=(height, width), mode=upscale_method)
    methods = sorted({*IMAGE_UPSCALE_METHODS, *LATENT_UPSCALE_METHODS})
    raise ValueError(
        f"common_upscale: unknown upscale method {upscale_method!r}; expected one of {methods}"
    )


def center_crop_to_aspect(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Cut equal margins off the long side so the aspect ratio becomes width/height."""
    old_height, old_width = samples.shape[-2], samples.shape[-1]
    old_aspect = old_width / old_height
    new_aspect = width / height
    x = y = 0
    if old_aspect > new_aspect:
        x = round((old_width - old_width * (new_aspect / old_aspect)) / 2)
    elif old_aspect < new_aspect:
        y = round((old_height - old_height * (old_aspect / new_aspect)) / 2)
    return samples.narrow(-2, y, old_height - 2 * y).narrow(-1, x, old_width - 2 * x)


def lanczos(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Lanczos through PIL, one image at a time, via 8-bit pixels (as ComfyUI does)."""
    channels = samples.shape[1]
    resized = []
    for image in samples:
        pixels = np.clip(255.0 * image.movedim(0, -1).float().cpu().numpy(), 0, 255)
        pixels = pixels.astype(np.uint8)  # truncates, like ComfyUI
        mode = _PIL_MODES.get(channels)
        if mode is None:  # any other channel count: resize each channel as a grey image
            bands = [_lanczos_band(pixels[..., c], width, height) for c in range(channels)]
            out = np.stack(bands, axis=-1)
        else:
            pil = PILImage.fromarray(pixels[..., 0] if channels == 1 else pixels, mode=mode)
            out = np.array(pil.resize((width, height), resample=PILImage.Resampling.LANCZOS))
            out = out.reshape(height, width, channels)
        resized.append(torch.from_numpy(out.astype(np.float32) / 255.0).movedim(-1, 0))
    return torch.stack(resized).to(samples.device, samples.dtype)


def _lanczos_band(band: np.ndarray, width: int, height: int) -> np.ndarray:
    pil = PILImage.fromarray(band, mode="L")
    return np.array(pil.resize((width, height), resample=PILImage.Resampling.LANCZOS))


def bislerp(samples: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Bilinear resize that slerps between neighbouring channel vectors instead of lerping.

    Each output pixel's channel vector is a spherical interpolation of its two neighbours
    along one axis (first width, then height): the direction turns along the great circle
    and the length is the linear blend of the two lengths, so latents keep their magnitude.
    """
    dtype = samples.dtype
    out = _slerp_along(samples.float(), width, dim=3)
    out = _slerp_along(out, height, dim=2)
    return out.to(dtype)


def _slerp_along(samples: torch.Tensor, size: int, dim: int) -> torch.Tensor:
    low, high, ratio = _neighbours(samples.shape[dim], size, samples.device)
    shape = [1] * samples.ndim
    shape[dim] = size
    return slerp(
        samples.index_select(dim, low),
        samples.index_select(dim, high),
        ratio.view(shape),
        dim=1,
    )


def _neighbours(
    old: int, new: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For each of `new` output positions: the two source indices and the weight of the
    second, with pixel centres aligned as in bilinear interpolation (align_corners=False)."""
    position = (torch.arange(new, dtype=torch.float32, device=device) + 0.5) * (old / new) - 0.5
    position = position.clamp(0, old - 1)
    low = position.floor().long()
    high = (low + 1).clamp(max=old - 1)
    return low, high, position - low


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, dim: int = 1) -> torch.Tensor:
    """Spherical interpolation of the vectors along `dim`, with lengths blended linearly.

    Nearly parallel vectors give `a`; nearly opposite ones fall back to a linear blend.
    A zero vector has no direction and contributes none.
    """
    norm_a = a.norm(dim=dim, keepdim=True)
    norm_b = b.norm(dim=dim, keepdim=True)
    unit_a = torch.where(norm_a > 0, a / norm_a, torch.zeros_like(a))
    unit_b = torch.where(norm_b > 0, b / norm_b, torch.zeros_like(b))
    dot = (unit_a * unit_b).sum(dim=dim, keepdim=True)
    omega = torch.acos(dot.clamp(-1.0, 1.0))
    sin_omega = torch.sin(omega)
    direction = (torch.sin((1.0 - t) * omega) * unit_a + torch.sin(t * omega) * unit_b) / sin_omega
    result = direction * (norm_a * (1.0 - t) + norm_b * t)
    result = torch.where(dot > 1 - 1e-5, a.expand_as(result), result)
    return torch.where(dot < 1e-5 - 1, a * (1.0 - t) + b * t, result)
