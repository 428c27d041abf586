"""Procedural training scenes for the demo model: flat-colour shapes on plain backgrounds.

Every sample is a pure function of (seed, index): the dataset needs no files, any machine
regenerates exactly the same images and captions, and training can resume anywhere. Flat
colours and simple geometry keep a small VAE's job easy, so training converges quickly.
A fixed set of attribute combinations is held out of training for the evaluation grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 60),
    "blue": (30, 70, 220),
    "yellow": (240, 220, 40),
    "orange": (245, 140, 20),
    "purple": (140, 50, 180),
    "pink": (245, 130, 190),
    "cyan": (40, 200, 220),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
    "brown": (130, 80, 40),
    "gray": (128, 128, 128),
}
SHAPES = ("circle", "square", "triangle")
SIZES = {"small": 0.16, "medium": 0.24, "large": 0.34}
"""Radius of a shape as a fraction of the image side."""
POSITIONS: dict[str, tuple[float, float]] = {
    "in the center": (0.5, 0.5),
    "in the top left": (0.27, 0.27),
    "in the top right": (0.73, 0.27),
    "in the bottom left": (0.27, 0.73),
    "in the bottom right": (0.73, 0.73),
}
"""Phrase -> centre (x, y) as fractions of the image side."""
MARGIN = 0.05
"""Smallest gap between a shape and the image border, as a fraction of the side."""
SUPERSAMPLE = 4
"""Shapes are drawn this many times larger, then downscaled: smooth edges, flat interiors."""


@dataclass(frozen=True)
class Scene:
    """What one sample shows; `caption` is one of several wordings of it."""

    color: str
    shape: str
    background: str
    size: str
    position: str
    count: int
    caption: str
    centers: tuple[tuple[float, float], ...] = field(default=())
    radius: float = 0.0


HELD_OUT: frozenset[tuple[str, str, str, str]] = frozenset(
    (color, shape, background, position)
    for color, shape, background, position in [
        ("red", "circle", "blue", "in the center"),
        ("green", "square", "white", "in the top left"),
        ("blue", "triangle", "yellow", "in the bottom right"),
        ("yellow", "circle", "black", "in the top right"),
        ("orange", "square", "blue", "in the bottom left"),
        ("purple", "triangle", "white", "in the center"),
        ("pink", "circle", "green", "in the bottom left"),
        ("cyan", "square", "red", "in the top right"),
        ("white", "triangle", "purple", "in the top left"),
        ("black", "circle", "yellow", "in the bottom right"),
        ("brown", "square", "cyan", "in the center"),
        ("gray", "triangle", "orange", "in the top right"),
        ("red", "square", "green", "in the bottom right"),
        ("green", "triangle", "pink", "in the center"),
        ("blue", "circle", "white", "in the top left"),
        ("yellow", "square", "purple", "in the bottom left"),
        ("orange", "triangle", "black", "in the top left"),
        ("purple", "circle", "yellow", "in the bottom right"),
        ("pink", "square", "blue", "in the top right"),
        ("cyan", "triangle", "brown", "in the bottom left"),
        ("white", "circle", "red", "in the center"),
        ("black", "square", "white", "in the top right"),
        ("brown", "triangle", "green", "in the top left"),
        ("gray", "circle", "blue", "in the bottom right"),
    ]
)
"""(colour, shape, background, position) never used for training: the evaluation grid."""


def _caption(rng: np.random.Generator, scene: Scene) -> str:
    """One of several wordings; colour, shape, background and position are always named."""
    size = f"{scene.size} " if rng.random() < 0.5 and scene.count == 1 else ""
    if scene.count == 1:
        thing = f"{article(size + scene.color)} {scene.shape}"
    else:
        thing = f"two {scene.color} {scene.shape}s"
    bg = article(scene.background)
    templates = (
        f"{thing} {scene.position} on {bg} background",
        f"{thing} on {bg} background, {scene.position}",
        f"{scene.background} background with {thing} {scene.position}",
        f"{thing} {scene.position}, {scene.background} background",
    )
    return templates[int(rng.integers(len(templates)))]


def scene(seed: int, index: int, *, training: bool = True) -> Scene:
    """The scene of sample `index`; training scenes skip the held-out combinations."""
    rng = np.random.default_rng([seed, index])
    while True:
        color, background = (str(c) for c in rng.choice(list(COLORS), size=2, replace=False))
        shape = str(rng.choice(SHAPES))
        position = str(rng.choice(list(POSITIONS)))
        if not training or (color, shape, background, position) not in HELD_OUT:
            break
    size = str(rng.choice(list(SIZES)))
    count = 2 if rng.random() < 0.15 else 1
    radius = SIZES[size] if count == 1 else SIZES["small"]
    cx, cy = _inside(POSITIONS[position], radius)
    if count == 1:
        centers: tuple[tuple[float, float], ...] = ((cx, cy),)
    else:  # two small shapes side by side at the named position, kept inside the image
        gap = radius * 1.3
        cx = min(max(cx, radius + MARGIN + gap), 1 - radius - MARGIN - gap)
        centers = ((cx - gap, cy), (cx + gap, cy))
    draft = Scene(color, shape, background, size, position, count, "", centers, radius)
    return Scene(**{**draft.__dict__, "caption": _caption(rng, draft)})


def _inside(center: tuple[float, float], radius: float) -> tuple[float, float]:
    """Move a centre so the whole shape (plus a margin) lies inside the image."""
    low, high = radius + MARGIN, 1 - radius - MARGIN
    return (min(max(center[0], low), high), min(max(center[1], low), high))


def article(word: str) -> str:
    """The indefinite article and the word: "a red", "an orange"."""
    return f"an {word}" if word[0] in "aeiou" else f"a {word}"


def for_attributes(
    color: str, shape: str, background: str, position: str, size: str = "large"
) -> Scene:
    """A single-shape scene with fixed attributes (evaluation, fixtures), canonical caption."""
    center = _inside(POSITIONS[position], SIZES[size])
    caption = f"{article(color)} {shape} {position} on {article(background)} background"
    return Scene(color, shape, background, size, position, 1, caption, (center,), SIZES[size])


def render(scene: Scene, side: int = 64) -> tuple[Image.Image, Image.Image]:
    """(RGB image, L mask of the shapes) at `side` x `side`."""
    big = side * SUPERSAMPLE
    image = Image.new("RGB", (big, big), COLORS[scene.background])
    mask = Image.new("L", (big, big), 0)
    for center in scene.centers:
        for target, fill in ((image, COLORS[scene.color]), (mask, 255)):
            _draw(ImageDraw.Draw(target), scene.shape, center, scene.radius, big, fill)
    size = (side, side)
    return image.resize(size, Image.Resampling.BOX), mask.resize(size, Image.Resampling.BOX)


def _draw(
    draw: ImageDraw.ImageDraw,
    shape: str,
    center: tuple[float, float],
    radius: float,
    big: int,
    fill: tuple[int, int, int] | int,
) -> None:
    x, y, r = center[0] * big, center[1] * big, radius * big
    if shape == "circle":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
    elif shape == "square":
        s = r * 0.88  # same visual area class as the circle
        draw.rectangle((x - s, y - s, x + s, y + s), fill=fill)
    elif shape == "triangle":
        points = [
            (x + r * math.cos(a), y + r * math.sin(a) + r * 0.15)
            for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
        ]
        draw.polygon(points, fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def pixels(sample: Scene, side: int = 64) -> np.ndarray:
    """The rendered scene as float32 [3, side, side] in [-1, 1], as models take images."""
    image, _ = render(sample, side)
    return np.asarray(image, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0


def batch(seed: int, start: int, count: int, side: int = 64) -> tuple[np.ndarray, list[str]]:
    """Images as float32 [count, 3, side, side] in [-1, 1] and their captions."""
    samples = [scene(seed, index) for index in range(start, start + count)]
    return np.stack([pixels(s, side) for s in samples]), [s.caption for s in samples]
