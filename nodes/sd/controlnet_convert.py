"""ControlNet weights between lllyasviel's LDM layout and diffusers' ControlNetModel layout, and
the ControlNetModel config detected from LDM weight names and shapes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

from nodes.sd.convert_ldm import unet_diffusers_to_ldm
from nodes.sd.detect import (
    NORM_GROUPS,
    SD1_HEADS,
    UnsupportedModelError,
    _cross_attention_width,
    _unet_levels,
)

StateDict = dict[str, torch.Tensor]

LDM_PREFIX = "control_model."
"""lllyasviel v1.0 `.pth` files and webui safetensors keep the ControlNet under this prefix."""
LDM_MARKER = "zero_convs.0.0.weight"
DIFFUSERS_MARKER = "controlnet_cond_embedding.conv_in.weight"

_HINT = "controlnet_cond_embedding."
_HINT_CONV = re.compile(r"input_hint_block\.(\d+)\.weight")
_UNET_PARTS = ("conv_in.", "time_embedding.", "down_blocks.", "mid_block.")


def controlnet_diffusers_to_ldm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """ControlNetModel weights -> bare lllyasviel names (`input_blocks.*`, `zero_convs.N.0.*`,
    `input_hint_block.*`, `middle_block_out.0.*`); the exact inverse of diffusers' converter."""
    unet_part = {k: v for k, v in sd.items() if k.startswith(_UNET_PARTS)}
    out = unet_diffusers_to_ldm(unet_part)
    hint_blocks = {int(k.split(".")[2]) for k in sd if k.startswith(_HINT + "blocks.")}
    last = 2 * (len(hint_blocks) + 1)
    for key, value in sd.items():
        if key.startswith(_UNET_PARTS):
            continue
        out[_controlnet_key(key, last)] = value
    return out


def _controlnet_key(key: str, last_hint: int) -> str:
    head, _, leaf = key.rpartition(".")
    if head == _HINT + "conv_in":
        return f"input_hint_block.0.{leaf}"
    if head == _HINT + "conv_out":
        return f"input_hint_block.{last_hint}.{leaf}"
    if m := re.fullmatch(re.escape(_HINT) + r"blocks\.(\d+)", head):
        return f"input_hint_block.{2 * (int(m[1]) + 1)}.{leaf}"
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)", head):
        return f"zero_convs.{m[1]}.0.{leaf}"
    if head == "controlnet_mid_block":
        return f"middle_block_out.0.{leaf}"
    raise UnsupportedModelError(f"cannot map ControlNet weight {key!r} to the lllyasviel layout")


def controlnet_ldm_to_diffusers(
    ldm: Mapping[str, torch.Tensor], config: dict[str, Any]
) -> StateDict:
    """Bare lllyasviel names -> ControlNetModel names (diffusers' own converter)."""
    return convert_controlnet_checkpoint(dict(ldm), dict(config))


def detect_controlnet(ldm: Mapping[str, Any]) -> dict[str, Any]:
    """ControlNetModel kwargs for bare lllyasviel ControlNet weights (SD1.x family)."""
    if "input_blocks.0.0.weight" not in ldm or "time_embed.0.weight" not in ldm:
        raise UnsupportedModelError("ControlNet weights lack input_blocks.0.0 / time_embed.0")
    levels = _unet_levels(ldm, "")
    layer_counts = {len(level) for level in levels}
    if len(layer_counts) != 1:
        raise UnsupportedModelError(f"ControlNet levels have different layer counts {layer_counts}")
    attention = [level[0][1] for level in levels]
    depths = {d for level in levels for _, has, d in level if has}
    cross = _cross_attention_width(ldm, "")
    if not depths or cross is None:
        raise UnsupportedModelError("ControlNet without cross-attention is not an SD1.x ControlNet")
    if len(depths) != 1:
        raise UnsupportedModelError(f"ControlNet with mixed transformer depths {sorted(depths)}")
    proj = next(k for k in ldm if re.fullmatch(r"input_blocks\.\d+\.1\.proj_in\.weight", k))
    if len(ldm[proj].shape) == 2 or cross == 1024:
        raise UnsupportedModelError(
            f"SD2.x ControlNet ({cross}-wide cross-attention); only SD1.x ControlNets are supported"
        )
    hint = _hint_channels(ldm)
    return {
        "in_channels": ldm["input_blocks.0.0.weight"].shape[1],
        "conditioning_channels": hint[0],
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "block_out_channels": [level[0][0] for level in levels],
        "layers_per_block": layer_counts.pop(),
        "cross_attention_dim": cross,
        "attention_head_dim": SD1_HEADS,
        "transformer_layers_per_block": depths.pop(),
        "use_linear_projection": False,
        "norm_num_groups": NORM_GROUPS,
        "conditioning_embedding_out_channels": hint[1:],
    }


def _hint_channels(ldm: Mapping[str, Any]) -> list[int]:
    """[image channels, *embedding widths] from the hint block's convolutions: conv 0 widens
    the image, then each width has a same-width conv and a strided conv to the next width."""
    convs = sorted(int(m[1]) for k in ldm if (m := _HINT_CONV.fullmatch(k)))
    if len(convs) < 2 or len(convs) % 2:
        raise UnsupportedModelError(f"ControlNet hint block has unexpected convolutions {convs}")
    outs = [ldm[f"input_hint_block.{i}.weight"].shape[0] for i in convs]
    first = ldm[f"input_hint_block.{convs[0]}.weight"].shape[1]
    return [first, outs[0], *outs[2:-1:2]]
