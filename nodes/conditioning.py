"""ComfyUI's text-encoding and conditioning nodes: CLIPTextEncode, CLIP skip, combine, average,
concat, areas, masks, strength, zero-out and timestep ranges (names and inputs as in nodes.py)."""

from __future__ import annotations

import dataclasses
import logging
from contextlib import ExitStack
from typing import Annotated, Any

import torch

from nodegraph import Combo, Context, Float, Int, String, node
from nodes.folders import folder_dirs
from nodes.model_management import SERVICE, manager
from nodes.sd.resize import MAX_RESOLUTION
from nodes.sd.text_encode import encode_text
from nodes.types import Clip, CondEntry, Conditioning, Mask

log = logging.getLogger(__name__)

CATEGORY = "conditioning"
ADVANCED = "advanced/conditioning"

ALIASES = {"ConditioningAverage ": "ConditioningAverage"}
"""Old class names found in saved workflows -> node ids (2023 had a trailing space)."""

SET_COND_AREA = ("default", "mask bounds")

Strength = Annotated[float, Float(min=0.0, max=10.0, step=0.01)]
AreaSize = Annotated[int, Int(min=64, max=MAX_RESOLUTION, step=8)]
AreaOffset = Annotated[int, Int(min=0, max=MAX_RESOLUTION, step=8)]
Fraction = Annotated[float, Float(min=0, max=1.0, step=0.01)]
Percent = Annotated[float, Float(min=0.0, max=1.0, step=0.001)]


def set_values(conditioning: Conditioning, **values: Any) -> Conditioning:
    """A copy of every entry with `values` replaced (ComfyUI's conditioning_set_values)."""
    fields = {f.name for f in dataclasses.fields(CondEntry)}
    direct = {k: v for k, v in values.items() if k in fields}
    extra = {k: v for k, v in values.items() if k not in fields}
    return Conditioning(
        tuple(
            dataclasses.replace(e, **direct, extra={**e.extra, **extra})
            for e in conditioning.entries
        )
    )


@node("CLIPTextEncode", category=CATEGORY, display_name="CLIP Text Encode (Prompt)")
def clip_text_encode(
    *,
    text: Annotated[str, String(multiline=True, dynamic_prompts=True)],
    clip: Clip,
    ctx: Context,
) -> Conditioning:
    """Encode a text prompt with a CLIP model into conditioning that guides the diffusion model.

    Supports (weighted:1.2) text and embedding:<name> textual inversions from the embeddings
    folders. The text model runs on the engine's compute device with the clip's patches
    (e.g. LoRA) applied for the duration of the call."""
    if clip is None or getattr(clip, "text_model", None) is None:
        raise ValueError(
            "CLIPTextEncode: clip input is invalid: None. If the clip is from a checkpoint "
            "loader node your checkpoint does not contain a valid clip or text encoder model."
        )
    with ExitStack() as stack:
        if SERVICE in ctx.services:
            stack.enter_context(manager(ctx).use(clip.text_model))
        for patch in clip.patches:
            stack.enter_context(patch.applied(clip.text_model))
        cond, pooled = encode_text(clip, text, folder_dirs(ctx.settings, "embeddings"))
    return Conditioning((CondEntry(cond=cond, pooled=pooled),))


@node("CLIPSetLastLayer", category=CATEGORY, display_name="CLIP Set Last Layer")
def clip_set_last_layer(
    *,
    clip: Clip,
    stop_at_clip_layer: Annotated[int, Int(min=-24, max=-1, step=1)] = -1,
) -> Clip:
    """Stop the text encoder early (CLIP skip): -1 uses the last layer, -2 the one before."""
    if stop_at_clip_layer >= 0:
        raise ValueError(
            f"CLIPSetLastLayer: stop_at_clip_layer must be negative (-1 = last layer), "
            f"got {stop_at_clip_layer}"
        )
    return dataclasses.replace(clip, layer_idx=stop_at_clip_layer)


@node("ConditioningCombine", category=CATEGORY, display_name="Conditioning (Combine)")
def conditioning_combine(
    *, conditioning_1: Conditioning, conditioning_2: Conditioning
) -> Conditioning:
    """Apply both conditionings together: their entries are denoised and averaged while sampling."""
    return Conditioning(conditioning_1.entries + conditioning_2.entries)


def _first_from(node_id: str, conditioning_from: Conditioning) -> CondEntry:
    if not conditioning_from.entries:
        raise ValueError(f"{node_id}: conditioning_from is empty; it needs one conditioning")
    if len(conditioning_from.entries) > 1:
        log.warning(
            "Warning: %s conditioning_from contains more than 1 cond, only the first one will "
            "actually be applied to conditioning_to.",
            node_id,
        )
    return conditioning_from.entries[0]


def _check_width(node_id: str, to: torch.Tensor, source: torch.Tensor) -> None:
    if to.shape[-1] != source.shape[-1]:
        raise ValueError(
            f"{node_id}: conditioning_to has width {to.shape[-1]} but conditioning_from has "
            f"width {source.shape[-1]}; both must come from the same kind of text encoder"
        )


@node("ConditioningAverage", category=CATEGORY, display_name="Conditioning (Average)")
def conditioning_average(
    *,
    conditioning_to: Conditioning,
    conditioning_from: Conditioning,
    conditioning_to_strength: Annotated[float, Float(min=0.0, max=1.0, step=0.01)] = 1.0,
) -> Conditioning:
    """Blend conditioning_from into conditioning_to: to * strength + from * (1 - strength).

    Only the first entry of conditioning_from is used; it is cut or zero-padded to each
    entry's length, and the pooled outputs are blended the same way."""
    source = _first_from("ConditioningAverage", conditioning_from)
    strength = conditioning_to_strength
    entries = []
    for entry in conditioning_to.entries:
        target = entry.cond
        _check_width("ConditioningAverage", target, source.cond)
        other = source.cond[:, : target.shape[1]].to(target)
        if other.shape[1] < target.shape[1]:
            padding = target.new_zeros((1, target.shape[1] - other.shape[1], target.shape[2]))
            other = torch.cat([other, padding], dim=1)
        blended = target * strength + other * (1.0 - strength)
        pooled = entry.pooled
        pooled_to = pooled if pooled is not None else source.pooled
        if source.pooled is not None and pooled_to is not None:
            pooled = pooled_to * strength + source.pooled * (1.0 - strength)
        entries.append(dataclasses.replace(entry, cond=blended, pooled=pooled))
    return Conditioning(tuple(entries))


@node("ConditioningConcat", category=CATEGORY, display_name="Conditioning (Concat)")
def conditioning_concat(
    *, conditioning_to: Conditioning, conditioning_from: Conditioning
) -> Conditioning:
    """Append the tokens of conditioning_from (its first entry) after each entry of
    conditioning_to, so the model attends to both prompts at once."""
    source = _first_from("ConditioningConcat", conditioning_from)
    entries = []
    for entry in conditioning_to.entries:
        _check_width("ConditioningConcat", entry.cond, source.cond)
        cond = torch.cat((entry.cond, source.cond.to(entry.cond)), dim=1)
        entries.append(dataclasses.replace(entry, cond=cond))
    return Conditioning(tuple(entries))


@node("ConditioningSetArea", category=CATEGORY, display_name="Conditioning (Set Area)")
def conditioning_set_area(
    *,
    conditioning: Conditioning,
    width: AreaSize = 64,
    height: AreaSize = 64,
    x: AreaOffset = 0,
    y: AreaOffset = 0,
    strength: Strength = 1.0,
) -> Conditioning:
    """Restrict the conditioning to a rectangle of the image (pixels, multiples of 8)."""
    return set_values(
        conditioning,
        area=(height // 8, width // 8, y // 8, x // 8),
        strength=strength,
        set_area_to_bounds=False,
    )


@node(
    "ConditioningSetAreaPercentage",
    category=CATEGORY,
    display_name="Conditioning (Set Area with Percentage)",
)
def conditioning_set_area_percentage(
    *,
    conditioning: Conditioning,
    width: Fraction = 1.0,
    height: Fraction = 1.0,
    x: Fraction = 0,
    y: Fraction = 0,
    strength: Strength = 1.0,
) -> Conditioning:
    """Restrict the conditioning to a rectangle given as fractions of the image size.

    The area is stored as ("percentage", height, width, y, x) like ComfyUI and resolved
    against the latent size when sampling."""
    return set_values(
        conditioning,
        area=("percentage", height, width, y, x),
        strength=strength,
        set_area_to_bounds=False,
    )


@node("ConditioningSetAreaStrength", category=CATEGORY)
def conditioning_set_area_strength(
    *, conditioning: Conditioning, strength: Strength = 1.0
) -> Conditioning:
    """Change how strongly the conditioning weighs against others where their areas overlap."""
    return set_values(conditioning, strength=strength)


@node("ConditioningSetMask", category=CATEGORY, display_name="Conditioning (Set Mask)")
def conditioning_set_mask(
    *,
    conditioning: Conditioning,
    mask: Mask,
    strength: Strength = 1.0,
    set_cond_area: Annotated[str, Combo(SET_COND_AREA)],
) -> Conditioning:
    """Apply the conditioning only where the mask is set, weighted by strength; "mask bounds"
    also denoises just the mask's bounding box with it."""
    if set_cond_area not in SET_COND_AREA:
        raise ValueError(
            f"ConditioningSetMask: set_cond_area {set_cond_area!r} is not one of "
            f"{list(SET_COND_AREA)}"
        )
    if not isinstance(mask, torch.Tensor) or mask.ndim not in (2, 3):
        shape = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(
            f"ConditioningSetMask: mask must be [height, width] or [batch, height, width], "
            f"got {shape}"
        )
    if mask.ndim < 3:
        mask = mask.unsqueeze(0)
    return set_values(
        conditioning,
        mask=mask,
        set_area_to_bounds=set_cond_area != "default",
        mask_strength=strength,
    )


@node("ConditioningZeroOut", category=ADVANCED)
def conditioning_zero_out(*, conditioning: Conditioning) -> Conditioning:
    """Replace the text embeddings (and pooled outputs) with zeros, keeping everything else."""
    return Conditioning(
        tuple(
            dataclasses.replace(
                e,
                cond=torch.zeros_like(e.cond),
                pooled=None if e.pooled is None else torch.zeros_like(e.pooled),
            )
            for e in conditioning.entries
        )
    )


@node("ConditioningSetTimestepRange", category=ADVANCED)
def conditioning_set_timestep_range(
    *, conditioning: Conditioning, start: Percent = 0.0, end: Percent = 1.0
) -> Conditioning:
    """Use the conditioning only between two points of the sampling run (0 = first step,
    1 = last), stored as start_percent and end_percent."""
    return set_values(conditioning, start_percent=start, end_percent=end)
