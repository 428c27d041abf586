"""ComfyUI's image and mask nodes that work on pixels alone: scaling, padding, batching."""

from __future__ import annotations

import math
from typing import Annotated

import torch

from nodegraph import Combo, Float, Int, node
from nodes.sd.resize import CROP_METHODS, IMAGE_UPSCALE_METHODS, MAX_RESOLUTION, common_upscale
from nodes.types import Image, Mask

UpscaleMethod = Annotated[str, Combo(IMAGE_UPSCALE_METHODS)]
Size = Annotated[int, Int(min=0, max=MAX_RESOLUTION, step=1)]
Padding = Annotated[int, Int(min=0, max=MAX_RESOLUTION, step=8)]


def check_image(image: object, node_id: str, input_name: str) -> torch.Tensor:
    """`image` as a [batch, height, width, channels] tensor, or a clear error."""
    if not isinstance(image, torch.Tensor) or image.ndim != 4:
        got = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(
            f"{node_id}: {input_name} must be an IMAGE [batch, height, width, channels]; got {got}"
        )
    return image


def check_mask(mask: object, node_id: str, input_name: str) -> torch.Tensor:
    """`mask` as a [batch, height, width] tensor (a single [height, width] gets a batch of 1)."""
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(
            f"{node_id}: {input_name} must be a MASK [batch, height, width]; got {got}"
        )
    return mask if mask.ndim == 3 else mask.unsqueeze(0)


def scale_image(
    image: torch.Tensor, width: int, height: int, method: str, crop: str
) -> torch.Tensor:
    """common_upscale for channel-last IMAGE tensors."""
    return common_upscale(image.movedim(-1, 1), width, height, method, crop).movedim(1, -1)


@node("ImageScale", category="image/upscaling", display_name="Upscale Image")
def image_scale(
    *,
    image: Image,
    upscale_method: UpscaleMethod,
    width: Size = 512,
    height: Size = 512,
    crop: Annotated[str, Combo(CROP_METHODS)],
) -> Image:
    """Resize images to width x height; a 0 side keeps the aspect ratio, both 0 change nothing."""
    check_image(image, "ImageScale", "image")
    if width == 0 and height == 0:
        return image
    if width == 0:
        width = max(1, round(image.shape[2] * height / image.shape[1]))
    elif height == 0:
        height = max(1, round(image.shape[1] * width / image.shape[2]))
    return scale_image(image, width, height, upscale_method, crop)


@node("ImageScaleBy", category="image/upscaling", display_name="Upscale Image By")
def image_scale_by(
    *,
    image: Image,
    upscale_method: UpscaleMethod,
    scale_by: Annotated[float, Float(min=0.01, max=8.0, step=0.01)] = 1.0,
) -> Image:
    """Resize images by a factor."""
    check_image(image, "ImageScaleBy", "image")
    width = round(image.shape[2] * scale_by)
    height = round(image.shape[1] * scale_by)
    if width < 1 or height < 1:
        raise ValueError(
            f"ImageScaleBy: scale_by {scale_by} turns the {image.shape[2]}x{image.shape[1]} "
            f"image into {width}x{height}, which has no pixels"
        )
    return scale_image(image, width, height, upscale_method, "disabled")


@node("ImageScaleToTotalPixels", category="image/upscaling")
def image_scale_to_total_pixels(
    *,
    image: Image,
    upscale_method: UpscaleMethod,
    megapixels: Annotated[float, Float(min=0.01, max=16.0, step=0.01)] = 1.0,
) -> Image:
    """Resize images, keeping their aspect ratio, to about `megapixels` x 1024 x 1024 pixels."""
    check_image(image, "ImageScaleToTotalPixels", "image")
    total = int(megapixels * 1024 * 1024)
    scale_by = math.sqrt(total / (image.shape[2] * image.shape[1]))
    width = max(1, round(image.shape[2] * scale_by))
    height = max(1, round(image.shape[1] * scale_by))
    return scale_image(image, width, height, upscale_method, "disabled")


@node("ImageInvert", category="image", display_name="Invert Image")
def image_invert(*, image: Image) -> Image:
    """Invert every channel: 1 - value."""
    return 1.0 - check_image(image, "ImageInvert", "image")


def match_channels(first: torch.Tensor, second: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Give an RGB image an opaque alpha channel when the other one is RGBA."""
    if first.shape[-1] == second.shape[-1]:
        return first, second
    if {first.shape[-1], second.shape[-1]} != {3, 4}:
        raise ValueError(
            f"images with {first.shape[-1]} and {second.shape[-1]} channels cannot be combined"
        )

    def opaque(image: torch.Tensor) -> torch.Tensor:
        if image.shape[-1] == 4:
            return image
        return torch.cat((image, torch.ones_like(image[..., :1])), dim=-1)

    return opaque(first), opaque(second)


@node("ImageBatch", category="image", display_name="Batch Images")
def image_batch(*, image1: Image, image2: Image) -> Image:
    """Join two image batches; image2 is resized (centre crop) to image1's size if needed."""
    first = check_image(image1, "ImageBatch", "image1")
    second = check_image(image2, "ImageBatch", "image2")
    try:
        first, second = match_channels(first, second)
    except ValueError as ex:
        raise ValueError(f"ImageBatch: {ex}") from ex
    if first.shape[1:3] != second.shape[1:3]:
        second = scale_image(second, first.shape[2], first.shape[1], "bilinear", "center")
    return torch.cat((first, second.to(first)), dim=0)


@node("EmptyImage", category="image")
def empty_image(
    *,
    width: Annotated[int, Int(min=1, max=MAX_RESOLUTION, step=1)] = 512,
    height: Annotated[int, Int(min=1, max=MAX_RESOLUTION, step=1)] = 512,
    batch_size: Annotated[int, Int(min=1, max=4096)] = 1,
    color: Annotated[int, Int(min=0, max=0xFFFFFF, step=1, display="color")] = 0,
) -> Image:
    """A batch of images filled with one colour given as 0xRRGGBB."""
    rgb = [((color >> shift) & 0xFF) / 0xFF for shift in (16, 8, 0)]
    return torch.tensor(rgb, dtype=torch.float32).expand(batch_size, height, width, 3).clone()


def outpaint_feather(
    height: int, width: int, feathering: int, top: bool, bottom: bool, left: bool, right: bool
) -> torch.Tensor:
    """The mask over the original image when padding: ((feathering - d) / feathering)^2 within
    `feathering` pixels of a padded side (d = distance to it), 0 elsewhere; all 0 when the
    feather would not fit twice across the image."""
    if feathering <= 0 or feathering * 2 >= height or feathering * 2 >= width:
        return torch.zeros((height, width), dtype=torch.float32)
    rows = torch.arange(height, dtype=torch.float64)[:, None]
    cols = torch.arange(width, dtype=torch.float64)[None, :]
    far_rows = torch.full_like(rows, float(height))
    far_cols = torch.full_like(cols, float(width))
    distance = torch.minimum(
        torch.minimum(rows if top else far_rows, height - rows if bottom else far_rows),
        torch.minimum(cols if left else far_cols, width - cols if right else far_cols),
    )
    value = ((feathering - distance) / feathering) ** 2
    return torch.where(distance < feathering, value, 0.0).to(torch.float32)


@node("ImagePadForOutpaint", category="image", display_name="Pad Image for Outpainting")
def image_pad_for_outpaint(
    *,
    image: Image,
    left: Padding = 0,
    top: Padding = 0,
    right: Padding = 0,
    bottom: Padding = 0,
    feathering: Annotated[int, Int(min=0, max=MAX_RESOLUTION, step=1)] = 40,
) -> tuple[Image, Mask]:
    """Add grey (0.5) borders and a mask that is 1 on them, fading into the original image
    over `feathering` pixels, for outpainting."""
    check_image(image, "ImagePadForOutpaint", "image")
    batch, height, width, channels = image.shape
    padded = torch.full(
        (batch, height + top + bottom, width + left + right, channels),
        0.5,
        dtype=torch.float32,
    )
    padded[:, top : top + height, left : left + width, :] = image
    mask = torch.ones((height + top + bottom, width + left + right), dtype=torch.float32)
    mask[top : top + height, left : left + width] = outpaint_feather(
        height, width, feathering, top != 0, bottom != 0, left != 0, right != 0
    )
    return padded, mask.unsqueeze(0)


@node("InvertMask", category="mask")
def invert_mask(*, mask: Mask) -> Mask:
    """Swap masked and unmasked: 1 - mask."""
    return 1.0 - check_mask(mask, "InvertMask", "mask")


@node("SolidMask", category="mask")
def solid_mask(
    *,
    value: Annotated[float, Float(min=0.0, max=1.0, step=0.01)] = 1.0,
    width: Annotated[int, Int(min=1, max=MAX_RESOLUTION, step=1)] = 512,
    height: Annotated[int, Int(min=1, max=MAX_RESOLUTION, step=1)] = 512,
) -> Mask:
    """A mask of one size filled with one value."""
    return torch.full((1, height, width), value, dtype=torch.float32)
