"""ComfyUI's latent nodes that need no model: empty latents, resizing, compositing, batches."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Annotated

import torch

from nodegraph import Boolean, Combo, Float, Int, node
from nodes.image_ops import check_mask
from nodes.sd.resize import CROP_METHODS, LATENT_UPSCALE_METHODS, MAX_RESOLUTION, common_upscale
from nodes.types import Latent, Mask

LATENT_CHANNELS = 4
"""SD1.x latents have 4 channels at 1/8 of the pixel size."""

Pixels = Annotated[int, Int(min=0, max=MAX_RESOLUTION, step=8)]
UpscaleMethod = Annotated[str, Combo(LATENT_UPSCALE_METHODS)]


def check_latent(latent: Latent, node_id: str, input_name: str) -> torch.Tensor:
    """The samples of `latent`, refusing anything but a [batch, channels, height, width]
    tensor with a clear message."""
    samples = getattr(latent, "samples", None)
    if not isinstance(samples, torch.Tensor) or samples.ndim != 4:
        got = tuple(samples.shape) if isinstance(samples, torch.Tensor) else type(latent).__name__
        raise ValueError(
            f"{node_id}: {input_name} must be a LATENT with samples [batch, channels, height, "
            f"width]; got {got}"
        )
    return samples


def repeat_to_batch_size(tensor: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut or cycle `tensor` along dim 0 so that it has exactly `batch_size` entries."""
    if tensor.shape[0] > batch_size:
        return tensor[:batch_size]
    if tensor.shape[0] < batch_size:
        repeats = [math.ceil(batch_size / tensor.shape[0])] + [1] * (tensor.ndim - 1)
        return tensor.repeat(repeats)[:batch_size]
    return tensor


@node("EmptyLatentImage", category="latent", display_name="Empty Latent Image")
def empty_latent_image(
    *,
    width: Annotated[int, Int(min=16, max=MAX_RESOLUTION, step=8)] = 512,
    height: Annotated[int, Int(min=16, max=MAX_RESOLUTION, step=8)] = 512,
    batch_size: Annotated[int, Int(min=1, max=4096)] = 1,
) -> Latent:
    """Create a batch of all-zero latents to be denoised by a sampler."""
    samples = torch.zeros([batch_size, LATENT_CHANNELS, height // 8, width // 8])
    return Latent(samples=samples)


@node("LatentUpscale", category="latent", display_name="Upscale Latent")
def latent_upscale(
    *,
    samples: Latent,
    upscale_method: UpscaleMethod,
    width: Pixels = 512,
    height: Pixels = 512,
    crop: Annotated[str, Combo(CROP_METHODS)],
) -> Latent:
    """Resize latents to a pixel size (at least 64); a 0 side keeps the aspect ratio and
    both 0 leaves the latent as it is."""
    tensor = check_latent(samples, "LatentUpscale", "samples")
    if width == 0 and height == 0:
        return samples
    if width == 0:
        height = max(64, height)
        width = max(64, round(tensor.shape[3] * height / tensor.shape[2]))
    elif height == 0:
        width = max(64, width)
        height = max(64, round(tensor.shape[2] * width / tensor.shape[3]))
    else:
        width, height = max(64, width), max(64, height)
    resized = common_upscale(tensor, width // 8, height // 8, upscale_method, crop)
    return replace(samples, samples=resized)


@node("LatentUpscaleBy", category="latent", display_name="Upscale Latent By")
def latent_upscale_by(
    *,
    samples: Latent,
    upscale_method: UpscaleMethod,
    scale_by: Annotated[float, Float(min=0.01, max=8.0, step=0.01)] = 1.5,
) -> Latent:
    """Resize latents by a factor."""
    tensor = check_latent(samples, "LatentUpscaleBy", "samples")
    width = round(tensor.shape[3] * scale_by)
    height = round(tensor.shape[2] * scale_by)
    if width < 1 or height < 1:
        raise ValueError(
            f"LatentUpscaleBy: scale_by {scale_by} turns the {tensor.shape[3]}x{tensor.shape[2]} "
            f"latent into {width}x{height}, which has no pixels"
        )
    return replace(
        samples, samples=common_upscale(tensor, width, height, upscale_method, "disabled")
    )


def _feather_ramp(length: int, feather: int, fade_start: bool, fade_end: bool) -> torch.Tensor:
    """Weights along one side of the pasted latent: rising over `feather` cells from an edge
    that lies inside the destination (ComfyUI's linear feather, factors multiplied)."""
    ramp = torch.ones(length)
    step = 1.0 / feather
    for t in range(min(feather, length)):
        if fade_start:
            ramp[t] *= step * (t + 1)
        if fade_end:
            ramp[length - 1 - t] *= step * (t + 1)
    return ramp


@node("LatentComposite", category="latent", display_name="Latent Composite")
def latent_composite(
    *,
    samples_to: Latent,
    samples_from: Latent,
    x: Pixels = 0,
    y: Pixels = 0,
    feather: Pixels = 0,
) -> Latent:
    """Paste samples_from into samples_to at pixel position (x, y), optionally fading its
    inner edges over `feather` pixels."""
    dest = check_latent(samples_to, "LatentComposite", "samples_to")
    source = check_latent(samples_from, "LatentComposite", "samples_from")
    if source.shape[0] not in (1, dest.shape[0]) or source.shape[1] != dest.shape[1]:
        raise ValueError(
            f"LatentComposite: samples_from {tuple(source.shape)} does not fit samples_to "
            f"{tuple(dest.shape)}: the batch must be 1 or the same, and the channels the same"
        )
    x, y, feather = x // 8, y // 8, feather // 8
    out = dest.clone()
    source = source[:, :, : max(0, dest.shape[2] - y), : max(0, dest.shape[3] - x)]
    height, width = source.shape[2], source.shape[3]
    if height == 0 or width == 0:
        return replace(samples_to, samples=out)
    region = out[:, :, y : y + height, x : x + width]
    if feather == 0:
        out[:, :, y : y + height, x : x + width] = source
    else:
        rows = _feather_ramp(height, feather, y != 0, y + height < dest.shape[2])
        cols = _feather_ramp(width, feather, x != 0, x + width < dest.shape[3])
        mask = (rows[:, None] * cols[None, :]).to(source)
        out[:, :, y : y + height, x : x + width] = source * mask + region * (1.0 - mask)
    return replace(samples_to, samples=out)


@node("RepeatLatentBatch", category="latent/batch", display_name="Repeat Latent Batch")
def repeat_latent_batch(
    *, samples: Latent, amount: Annotated[int, Int(min=1, max=64)] = 1
) -> Latent:
    """Repeat the whole batch `amount` times (noise masks and batch indexes follow, so each
    copy gets its own noise)."""
    tensor = check_latent(samples, "RepeatLatentBatch", "samples")
    out = replace(samples, samples=tensor.repeat((amount, 1, 1, 1)))
    mask = samples.noise_mask
    if mask is not None and mask.shape[0] > 1:
        mask = repeat_to_batch_size(mask, tensor.shape[0])
        out = replace(out, noise_mask=mask.repeat((amount,) + (1,) * (mask.ndim - 1)))
    if samples.batch_index is not None:
        indexes = samples.batch_index
        offset = max(indexes) - min(indexes) + 1
        more = tuple(i + k * offset for k in range(1, amount) for i in indexes)
        out = replace(out, batch_index=indexes + more)
    return out


@node("LatentFromBatch", category="latent/batch", display_name="Latent From Batch")
def latent_from_batch(
    *,
    samples: Latent,
    batch_index: Annotated[int, Int(min=0, max=63)] = 0,
    length: Annotated[int, Int(min=1, max=64)] = 1,
) -> Latent:
    """Take `length` latents starting at `batch_index` (clamped to the batch); they remember
    their original indexes so the sampler gives them the same noise as in the full batch."""
    tensor = check_latent(samples, "LatentFromBatch", "samples")
    start = min(tensor.shape[0] - 1, batch_index)
    length = min(tensor.shape[0] - start, length)
    out = replace(samples, samples=tensor[start : start + length].clone())
    mask = samples.noise_mask
    if mask is not None:
        if mask.shape[0] == 1:
            out = replace(out, noise_mask=mask.clone())
        else:
            mask = repeat_to_batch_size(mask, max(mask.shape[0], tensor.shape[0]))
            out = replace(out, noise_mask=mask[start : start + length].clone())
    if samples.batch_index is None:
        indexes = tuple(range(start, start + length))
    else:
        indexes = samples.batch_index[start : start + length]
    return replace(out, batch_index=indexes)


@node("SetLatentNoiseMask", category="latent/inpaint", display_name="Set Latent Noise Mask")
def set_latent_noise_mask(*, samples: Latent, mask: Mask) -> Latent:
    """Limit denoising to the masked area (1 = regenerate, 0 = keep)."""
    check_latent(samples, "SetLatentNoiseMask", "samples")
    mask = check_mask(mask, "SetLatentNoiseMask", "mask")
    return replace(samples, noise_mask=mask.reshape((-1, 1, mask.shape[-2], mask.shape[-1])))


@node("LatentBatch", category="latent/batch")
def latent_batch(*, samples1: Latent, samples2: Latent) -> Latent:
    """Join two latent batches; samples2 is resized (centre crop) to samples1's size if needed."""
    first = check_latent(samples1, "LatentBatch", "samples1")
    second = check_latent(samples2, "LatentBatch", "samples2")
    if first.shape[1] != second.shape[1]:
        raise ValueError(
            f"LatentBatch: samples1 has {first.shape[1]} channels but samples2 has "
            f"{second.shape[1]}; they cannot share a batch"
        )
    if first.shape[2:] != second.shape[2:]:
        second = common_upscale(second, first.shape[3], first.shape[2], "bilinear", "center")
    indexes = (samples1.batch_index or tuple(range(first.shape[0]))) + (
        samples2.batch_index or tuple(range(second.shape[0]))
    )
    return replace(samples1, samples=torch.cat((first, second)), batch_index=indexes)


def composite(
    destination: torch.Tensor,
    source: torch.Tensor,
    x: int,
    y: int,
    mask: torch.Tensor | None = None,
    multiplier: int = 8,
    resize_source: bool = False,
) -> torch.Tensor:
    """Blend `source` into `destination` (both [B, C, H, W]) at (x, y) given in units of
    1/multiplier cells, weighted by `mask` (resized to the source); changes `destination`."""
    if resize_source:
        source = torch.nn.functional.interpolate(
            source, size=destination.shape[2:], mode="bilinear"
        )
    source = repeat_to_batch_size(source.to(destination), destination.shape[0])
    x = max(-source.shape[3] * multiplier, min(x, destination.shape[3] * multiplier))
    y = max(-source.shape[2] * multiplier, min(y, destination.shape[2] * multiplier))
    left, top = x // multiplier, y // multiplier
    right, bottom = left + source.shape[3], top + source.shape[2]
    if mask is None:
        weight = torch.ones_like(source)
    else:
        weight = mask.to(destination).reshape((-1, 1, mask.shape[-2], mask.shape[-1]))
        weight = torch.nn.functional.interpolate(weight, size=source.shape[2:], mode="bilinear")
        weight = repeat_to_batch_size(weight, source.shape[0])
    visible_width = destination.shape[3] - left + min(0, x)
    visible_height = destination.shape[2] - top + min(0, y)
    weight = weight[:, :, :visible_height, :visible_width]
    blended = weight * source[:, :, :visible_height, :visible_width]
    blended += (1.0 - weight) * destination[:, :, top:bottom, left:right]
    destination[:, :, top:bottom, left:right] = blended
    return destination


@node("LatentCompositeMasked", category="latent")
def latent_composite_masked(
    *,
    destination: Latent,
    source: Latent,
    x: Pixels = 0,
    y: Pixels = 0,
    resize_source: Annotated[bool, Boolean()] = False,
    mask: Mask | None = None,
) -> Latent:
    """Paste source into destination at pixel position (x, y), weighted by an optional mask."""
    dest = check_latent(destination, "LatentCompositeMasked", "destination")
    src = check_latent(source, "LatentCompositeMasked", "source")
    if src.shape[1] != dest.shape[1]:
        raise ValueError(
            f"LatentCompositeMasked: source has {src.shape[1]} channels but destination has "
            f"{dest.shape[1]}"
        )
    out = composite(dest.clone(), src, x, y, mask, 8, resize_source)
    return replace(destination, samples=out)
