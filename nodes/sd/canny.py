"""Canny edge detection in plain torch, following kornia.filters.canny step by step.

ComfyUI's Canny node calls kornia; kornia is not a dependency here, so this module redoes its
pipeline (same grey weights, kernels, paddings, rounding and tie rules) to give the same edges.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

GREY_WEIGHTS = (0.299, 0.587, 0.114)
"""kornia's rgb_to_grayscale weights (ITU-R BT.601)."""

_NEIGHBOURS = ((0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1))
"""(dy, dx) of the neighbour each of the 8 gradient directions points at, in kornia's order:
direction k is the angle k*45 degrees with y pointing down the image."""

_HYSTERESIS_STEPS_PER_CHECK = 8
"""Dilations done between convergence checks (each check syncs with the device)."""


def to_grey(image: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] RGB to [B, 1, H, W] luma; a 1-channel image is already grey."""
    if image.shape[1] == 1:
        return image
    if image.shape[1] != 3:
        raise ValueError(f"canny: expected 1 or 3 channels, got {image.shape[1]}")
    weights = torch.tensor(GREY_WEIGHTS, device=image.device, dtype=image.dtype)
    return (image * weights.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def gaussian_kernel1d(size: int, sigma: float, *, dtype: torch.dtype) -> torch.Tensor:
    """Sampled, normalised 1-D Gaussian centred on the middle tap (kornia's `gaussian`)."""
    x = torch.arange(size, dtype=dtype) - float(size // 2)
    if size % 2 == 0:
        x = x + 0.5
    taps = torch.exp(-x.pow(2.0) / (2.0 * sigma**2))
    return taps / taps.sum()


def gaussian_blur(image: torch.Tensor, kernel_size: int, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur with reflect padding (kornia's gaussian_blur2d defaults)."""
    taps = gaussian_kernel1d(kernel_size, sigma, dtype=image.dtype).to(image.device)
    half = kernel_size // 2
    channels = image.shape[1]
    horizontal = taps.view(1, 1, 1, -1).expand(channels, 1, 1, kernel_size)
    vertical = taps.view(1, 1, -1, 1).expand(channels, 1, kernel_size, 1)
    out = F.conv2d(F.pad(image, (half, half, 0, 0), mode="reflect"), horizontal, groups=channels)
    return F.conv2d(F.pad(out, (0, 0, half, half), mode="reflect"), vertical, groups=channels)


def sobel_gradients(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Unnormalised 3x3 Sobel x and y derivatives with replicate padding, as kornia's
    spatial_gradient(normalized=False)."""
    kx = torch.tensor(
        [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]],
        device=image.device,
        dtype=image.dtype,
    )
    kernels = torch.stack([kx, kx.t()]).unsqueeze(1)
    padded = F.pad(image, (1, 1, 1, 1), mode="replicate")
    grads = F.conv2d(padded, kernels)
    return grads[:, 0:1], grads[:, 1:2]


def _shifted(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """x[y + dy, x + dx] at every pixel, zero outside the image."""
    padded = F.pad(x, (1, 1, 1, 1))
    height, width = x.shape[-2:]
    return padded[..., 1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]


def non_max_suppression(magnitude: torch.Tensor, angle: torch.Tensor) -> torch.Tensor:
    """Keep magnitudes strictly larger than both neighbours along the rounded gradient direction.

    The direction is rounded to the nearest of 8 multiples of 45 degrees (ties to even, as
    torch.round); neighbours outside the image count as zero.
    """
    octant = torch.round(angle * (4.0 / torch.pi))
    forward = torch.remainder(octant, 8).long()
    backward = torch.remainder(octant + 4, 8).long()
    differences = torch.cat([magnitude - _shifted(magnitude, dy, dx) for dy, dx in _NEIGHBOURS], 1)
    is_max = torch.minimum(differences.gather(1, forward), differences.gather(1, backward)) > 0.0
    return magnitude * is_max


def hysteresis(strong: torch.Tensor, weak: torch.Tensor) -> torch.Tensor:
    """Strong pixels plus every weak pixel 8-connected to one through other weak pixels.

    Grows the strong set one pixel ring at a time (a 3x3 dilation limited to weak pixels)
    until nothing changes, which is the fixed point kornia's iteration reaches.
    """
    edges = strong
    candidates = strong | weak
    while True:
        before = edges
        for _ in range(_HYSTERESIS_STEPS_PER_CHECK):
            grown = F.max_pool2d(edges.to(torch.float32), 3, stride=1, padding=1) > 0
            edges = grown & candidates
        if torch.equal(edges, before):
            return edges


def canny(
    image: torch.Tensor,
    low_threshold: float = 0.1,
    high_threshold: float = 0.2,
    kernel_size: int = 5,
    sigma: float = 1.0,
    use_hysteresis: bool = True,
    eps: float = 1e-6,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canny edges of a [B, C, H, W] image (C 1 or 3, values 0..1).

    Returns (magnitude after non-maximum suppression, edges), both [B, 1, H, W] in the input's
    dtype. With hysteresis, edges are 0/1; without, weak edges are 0.5 and strong ones 1.
    Thresholds apply to the unnormalised Sobel magnitude, as kornia does.
    """
    if image.ndim != 4:
        raise ValueError(f"canny: expected a [B, C, H, W] tensor, got {tuple(image.shape)}")
    if not 0.0 < low_threshold < 1.0 or not 0.0 < high_threshold < 1.0:
        raise ValueError(
            f"canny: thresholds must lie in (0, 1); got low {low_threshold}, high {high_threshold}"
        )
    if low_threshold > high_threshold:
        raise ValueError(
            f"canny: low_threshold ({low_threshold}) must not exceed "
            f"high_threshold ({high_threshold})"
        )
    dtype = image.dtype
    blurred = gaussian_blur(to_grey(image), kernel_size, sigma)
    gx, gy = sobel_gradients(blurred)
    magnitude = torch.sqrt(gx * gx + gy * gy + eps)
    magnitude = non_max_suppression(magnitude, torch.atan2(gy, gx))
    strong = magnitude > high_threshold
    weak = (magnitude > low_threshold) & ~strong
    if not use_hysteresis:
        return magnitude, (strong.to(dtype) + weak.to(dtype) * 0.5)
    return magnitude, hysteresis(strong, weak).to(dtype)
