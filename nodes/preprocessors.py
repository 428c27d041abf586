"""ControlNet preprocessor nodes that need no model: Canny edges and XDoG scribble lines."""

from __future__ import annotations

from typing import Annotated

from nodegraph import Float, Int, node
from nodes.image_ops import check_image
from nodes.sd.canny import canny
from nodes.sd.resize import MAX_RESOLUTION
from nodes.sd.xdog import xdog_lines
from nodes.types import Image

Threshold = Annotated[float, Float(min=0.01, max=0.99, step=0.01)]


@node("Canny", category="image/preprocessors")
def canny_node(
    *, image: Image, low_threshold: Threshold = 0.4, high_threshold: Threshold = 0.8
) -> Image:
    """Canny edge map (kornia's defaults: 5x5 Gaussian, sigma 1, hysteresis) as a 3-channel
    0/1 image, for canny ControlNets."""
    image = check_image(image, "Canny", "image")
    if image.shape[-1] not in (1, 3, 4):
        raise ValueError(f"Canny: image must have 1, 3 or 4 channels; got {image.shape[-1]}")
    for name, value in (("low_threshold", low_threshold), ("high_threshold", high_threshold)):
        if not 0.0 < value < 1.0:
            raise ValueError(f"Canny: {name} must lie in (0, 1); got {value}")
    if low_threshold > high_threshold:
        raise ValueError(
            f"Canny: low_threshold ({low_threshold}) must not exceed "
            f"high_threshold ({high_threshold})"
        )
    pixels = image[..., :3].movedim(-1, 1)
    _, edges = canny(pixels, low_threshold, high_threshold)
    return edges.repeat(1, 3, 1, 1).movedim(1, -1).contiguous()


@node(
    "Scribble_XDoG_Preprocessor",
    category="ControlNet Preprocessors/Line Extractors",
    display_name="Scribble XDoG Lines",
)
def scribble_xdog(
    *,
    image: Image,
    threshold: Annotated[int, Int(min=1, max=64, step=1)] = 32,
    resolution: Annotated[int, Int(min=64, max=MAX_RESOLUTION, step=64)] = 512,
) -> Image:
    """White scribble lines on black from a difference of Gaussians (comfyui_controlnet_aux's
    node of the same name); the output's short side is `resolution`."""
    image = check_image(image, "Scribble_XDoG_Preprocessor", "image")
    if image.shape[-1] not in (1, 3, 4):
        raise ValueError(
            f"Scribble_XDoG_Preprocessor: image must have 1, 3 or 4 channels; got {image.shape[-1]}"
        )
    if not 1 <= threshold <= 64:
        raise ValueError(f"Scribble_XDoG_Preprocessor: threshold must be 1..64; got {threshold}")
    if resolution < 64:
        raise ValueError(
            f"Scribble_XDoG_Preprocessor: resolution must be at least 64; got {resolution}"
        )
    return xdog_lines(image, threshold, resolution)
