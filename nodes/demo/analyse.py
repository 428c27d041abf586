"""Deterministic reading of a generated scene: background and shape colour, shape class and
position, so the demo model's prompt-following can be measured without a person looking.

Background = the median colour of the border; the shape = the pixels far from it, its colour
their median, its class from how much of its bounding box it fills (square ≈ 0.9+, circle ≈
0.79, triangle ≈ 0.5), its position from its centroid. Colours snap to the nearest palette entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodes.demo.scenes import COLORS

CENTRE_RADIUS = 0.07
"""Centroids closer than this (fraction of the side) to the middle count as "in the center"."""
SHAPE_DISTANCE = 60.0
"""RGB distance from the background beyond which a pixel counts as shape."""


@dataclass(frozen=True)
class Reading:
    background: str
    color: str | None
    shape: str | None
    position: str | None
    mask: np.ndarray


def nearest_color(rgb: np.ndarray) -> str:
    names = list(COLORS)
    palette = np.array([COLORS[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((palette - rgb.astype(np.float32)) ** 2).sum(axis=1)))]


def read_scene(image: np.ndarray) -> Reading:
    """Analyse an RGB uint8 image [H, W, 3]."""
    pixels = image.astype(np.float32)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    background_rgb = np.median(border, axis=0)
    distance = np.sqrt(((pixels - background_rgb) ** 2).sum(axis=-1))
    mask = distance > SHAPE_DISTANCE
    background = nearest_color(background_rgb)
    if mask.sum() < max(4, mask.size // 400):
        return Reading(background, None, None, None, mask)
    color = nearest_color(np.median(pixels[mask], axis=0))
    ys, xs = np.nonzero(mask)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    fill = mask.sum() / box
    shape = "square" if fill > 0.88 else "circle" if fill > 0.64 else "triangle"
    dx, dy = xs.mean() / image.shape[1] - 0.5, ys.mean() / image.shape[0] - 0.5
    return Reading(background, color, shape, position_name(dx, dy), mask)


def position_name(dx: float, dy: float) -> str:
    """The named position of a centroid offset from the image centre: near the centre, or the
    quadrant (large shapes are pushed inwards, so corner shapes can sit close to it)."""
    if max(abs(dx), abs(dy)) < CENTRE_RADIUS:
        return "in the center"
    return f"in the {'top' if dy < 0 else 'bottom'} {'left' if dx < 0 else 'right'}"


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks (ControlNet evaluation)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0
