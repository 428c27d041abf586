"""Scribble lines by XDoG (difference of Gaussians), as comfyui_controlnet_aux's ScribbleXDog.

The image is resized so its short side is the detection resolution, edge-padded to a multiple
of 64, blurred at sigma 0.5 and 5, and pixels whose darkening (blur difference) is large enough
become white lines on black. Pure torch; values follow OpenCV's uint8 conventions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from nodes.sd.resize import common_upscale

FINE_SIGMA = 0.5
COARSE_SIGMA = 5.0
PAD_MULTIPLE = 64
ROUNDING_SLACK = 1e-3


def opencv_gaussian_taps(sigma: float, *, dtype: torch.dtype) -> torch.Tensor:
    """OpenCV's Gaussian kernel for ksize (0, 0) on float images: size round(8*sigma+1), odd."""
    size = round(sigma * 4 * 2 + 1) | 1
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    taps = torch.exp(-(x**2) / (2 * sigma**2))
    return (taps / taps.sum()).to(dtype)


def reflect101_index(length: int, pad: int) -> torch.Tensor:
    """Source indexes for padding a length-`length` axis by `pad` with OpenCV's BORDER_REFLECT_101
    (mirror without repeating the edge), valid even when pad exceeds the length."""
    positions = torch.arange(-pad, length + pad)
    if length == 1:
        return torch.zeros_like(positions)
    period = 2 * (length - 1)
    folded = torch.remainder(positions, period)
    return torch.where(folded < length, folded, period - folded)


def gaussian_blur_reflect101(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of [B, C, H, W] with OpenCV's default border (reflect 101)."""
    taps = opencv_gaussian_taps(sigma, dtype=image.dtype).to(image.device)
    half = taps.numel() // 2
    channels = image.shape[1]
    height, width = image.shape[-2:]
    rows = image.index_select(-1, reflect101_index(width, half).to(image.device))
    out = F.conv2d(rows, taps.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    cols = out.index_select(-2, reflect101_index(height, half).to(image.device))
    return F.conv2d(cols, taps.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def detection_size(height: int, width: int, resolution: int) -> tuple[int, int]:
    """(height, width) scaled so the short side becomes `resolution`."""
    scale = resolution / min(height, width)
    return round(height * scale), round(width * scale)


def resize_uint8(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize 0..255 [B, C, H, W] values: bicubic to enlarge, area to shrink; rounded, clipped."""
    if (height, width) == tuple(image.shape[-2:]):
        return image
    enlarging = height * width > image.shape[-2] * image.shape[-1]
    method = "bicubic" if enlarging else "area"
    return common_upscale(image, width, height, method, "disabled").round().clamp(0, 255)


def xdog_lines(image: torch.Tensor, threshold: int, resolution: int) -> torch.Tensor:
    """White-on-black scribble lines of a [B, H, W, C] 0..1 image, at detection resolution.

    Returns [B, H', W', 3] of 0/1 where H' x W' has short side `resolution`.
    """
    pixels = torch.floor(image[..., :3].clamp(0, 1) * 255.0).movedim(-1, 1).to(torch.float32)
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    height, width = detection_size(pixels.shape[-2], pixels.shape[-1], resolution)
    pixels = resize_uint8(pixels, height, width)
    pad_h = math.ceil(height / PAD_MULTIPLE) * PAD_MULTIPLE - height
    pad_w = math.ceil(width / PAD_MULTIPLE) * PAD_MULTIPLE - width
    padded = F.pad(pixels, (0, pad_w, 0, pad_h), mode="replicate") if pad_h or pad_w else pixels
    fine = gaussian_blur_reflect101(padded, FINE_SIGMA)
    coarse = gaussian_blur_reflect101(padded, COARSE_SIGMA)
    darkening = (coarse - fine).amin(dim=1, keepdim=True)
    # uint8 truncation, with a little slack so blur rounding noise on flat areas (254.99999)
    # does not drop a whole grey level and draw lines everywhere.
    dog = torch.floor((255.0 - darkening).clamp(0, 255) + ROUNDING_SLACK)
    lines = (2 * (255.0 - dog) > threshold).to(image.dtype)
    return lines[..., :height, :width].expand(-1, 3, -1, -1).movedim(1, -1).contiguous()
