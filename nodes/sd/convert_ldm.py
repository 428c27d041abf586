"""Rename SD1.x weights between the LDM single-file layout and diffusers/transformers layouts.

LDM -> diffusers uses diffusers' own converters for the UNet and VAE (with our detected configs)
and a prefix mapping for CLIP. diffusers -> LDM is ours: generic in levels and layers (read from
the keys), the exact inverse, so a round trip is bit-exact.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch
from diffusers.loaders.single_file_utils import (
    convert_ldm_unet_checkpoint,
    convert_ldm_vae_checkpoint,
)

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_PREFIX = "cond_stage_model.transformer."
"""LDM prefixes; the CLIP weights follow as `text_model.*` (Hugging Face names)."""

TEXT_MODEL = "text_model."
POSITION_IDS = "embeddings.position_ids"

StateDict = dict[str, torch.Tensor]


def strip_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    """The entries under `prefix`, with the prefix removed."""
    return {k[len(prefix) :]: v for k, v in sd.items() if k.startswith(prefix)}


def add_prefix(sd: Mapping[str, torch.Tensor], prefix: str) -> StateDict:
    return {prefix + k: v for k, v in sd.items()}


# --- LDM -> diffusers -------------------------------------------------------------------------


def unet_ldm_to_diffusers(ldm: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> StateDict:
    """UNet weights with bare LDM names (`input_blocks.*`) -> UNet2DConditionModel names."""
    return convert_ldm_unet_checkpoint(add_prefix(ldm, UNET_PREFIX), dict(config))


def vae_ldm_to_diffusers(ldm: Mapping[str, torch.Tensor], config: Mapping[str, Any]) -> StateDict:
    """VAE weights with bare LDM names (`encoder.down.*`) -> AutoencoderKL names; the mid-block
    attention's 1x1 convolutions become linear weights."""
    return convert_ldm_vae_checkpoint(add_prefix(ldm, VAE_PREFIX), dict(config))


def clip_ldm_to_transformers(ldm: Mapping[str, torch.Tensor], *, flattened: bool) -> StateDict:
    """CLIP weights after `cond_stage_model.transformer.` -> CLIPTextModel names: transformers
    >= 5.6 drops the `text_model.` level (`flattened`); `position_ids` is a buffer, not a weight."""
    bare = {(k[len(TEXT_MODEL) :] if k.startswith(TEXT_MODEL) else k): v for k, v in ldm.items()}
    bare.pop(POSITION_IDS, None)
    return bare if flattened else add_prefix(bare, TEXT_MODEL)


# --- diffusers -> LDM -------------------------------------------------------------------------

_UNET_RESNET = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_TOP = {
    "conv_in": "input_blocks.0.0",
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
_UNET_KEY = re.compile(
    r"(?P<kind>down_blocks|up_blocks)\.(?P<block>\d+)\."
    r"(?P<part>resnets|attentions|downsamplers|upsamplers)\.(?P<index>\d+)\.(?P<rest>.+)"
)
_MID_KEY = re.compile(r"mid_block\.(?P<part>resnets|attentions)\.(?P<index>\d+)\.(?P<rest>.+)")


def unet_diffusers_to_ldm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """UNet2DConditionModel weights -> bare LDM names, for any number of levels and layers."""
    layers = _count(sd, r"down_blocks\.0\.resnets\.(\d+)\.")
    up_attention = {int(m) for m in _matches(sd, r"up_blocks\.(\d+)\.attentions\.")}
    out: StateDict = {}
    for key, value in sd.items():
        out[_unet_key(key, layers, up_attention)] = value
    return out


def _unet_key(key: str, layers: int, up_attention: set[int]) -> str:
    for name, ldm in _UNET_TOP.items():
        if key.startswith(name + "."):
            return ldm + key[len(name) :]
    if m := _MID_KEY.fullmatch(key):
        index = int(m["index"]) * 2 if m["part"] == "resnets" else 1
        rest = _resnet_rest(m["rest"]) if m["part"] == "resnets" else m["rest"]
        return f"middle_block.{index}.{rest}"
    m = _UNET_KEY.fullmatch(key)
    if m is None:
        raise ValueError(f"cannot map diffusers UNet weight {key!r} to the LDM layout")
    block, index, part, rest = int(m["block"]), int(m["index"]), m["part"], m["rest"]
    if m["kind"] == "down_blocks":
        first = 1 + block * (layers + 1)
        if part == "resnets":
            return f"input_blocks.{first + index}.0.{_resnet_rest(rest)}"
        if part == "attentions":
            return f"input_blocks.{first + index}.1.{rest}"
        if part == "downsamplers":
            return f"input_blocks.{first + layers}.0.op.{rest.removeprefix('conv.')}"
    else:
        first = block * (layers + 1)
        if part == "resnets":
            return f"output_blocks.{first + index}.0.{_resnet_rest(rest)}"
        if part == "attentions":
            return f"output_blocks.{first + index}.1.{rest}"
        if part == "upsamplers":
            slot = 2 if block in up_attention else 1
            return f"output_blocks.{first + layers}.{slot}.{rest}"
    raise ValueError(f"cannot map diffusers UNet weight {key!r} to the LDM layout")


def _resnet_rest(rest: str) -> str:
    head, _, tail = rest.partition(".")
    if head not in _UNET_RESNET:
        raise ValueError(f"unknown UNet resnet weight {rest!r}")
    return f"{_UNET_RESNET[head]}.{tail}"


_VAE_TOP = {"conv_norm_out": "norm_out", "conv_in": "conv_in", "conv_out": "conv_out"}
_VAE_ATTENTION = {
    "group_norm": "norm",
    "to_q": "q",
    "to_k": "k",
    "to_v": "v",
    "to_out.0": "proj_out",
    "query": "q",
    "key": "k",
    "value": "v",
    "proj_attn": "proj_out",
}
_VAE_KEY = re.compile(
    r"(?P<coder>encoder|decoder)\.(?:(?P<top>conv_norm_out|conv_in|conv_out)"
    r"|(?P<blocks>down_blocks|up_blocks)\.(?P<block>\d+)\.(?P<part>resnets|downsamplers|upsamplers)"
    r"\.(?P<index>\d+)"
    r"|mid_block\.(?P<mid>resnets|attentions)\.(?P<mid_index>\d+))\.(?P<rest>.+)"
)


def vae_diffusers_to_ldm(
    sd: Mapping[str, torch.Tensor], *, conv_attention: bool = True
) -> StateDict:
    """AutoencoderKL weights -> bare LDM names; with `conv_attention` the mid-block attention
    projections are stored as 1x1 convolutions [C, C, 1, 1], as in SD1.x files."""
    levels = _count(sd, r"decoder\.up_blocks\.(\d+)\.")
    out: StateDict = {}
    for key, value in sd.items():
        if key.startswith(("quant_conv.", "post_quant_conv.")):
            out[key] = value
            continue
        m = _VAE_KEY.fullmatch(key)
        if m is None:
            raise ValueError(f"cannot map diffusers VAE weight {key!r} to the LDM layout")
        coder, rest = m["coder"], m["rest"]
        if m["top"]:
            out[f"{coder}.{_VAE_TOP[m['top']]}.{rest}"] = value
        elif m["mid"] == "resnets":
            out[f"{coder}.mid.block_{int(m['mid_index']) + 1}.{_vae_resnet(rest)}"] = value
        elif m["mid"] == "attentions":
            name, _, param = rest.rpartition(".")
            if name not in _VAE_ATTENTION:
                raise ValueError(f"unknown VAE attention weight {key!r}")
            if conv_attention and param == "weight" and value.ndim == 2 and name != "group_norm":
                value = value.reshape(*value.shape, 1, 1)
            out[f"{coder}.mid.attn_1.{_VAE_ATTENTION[name]}.{param}"] = value
        else:
            block, index, part = int(m["block"]), int(m["index"]), m["part"]
            level = block if coder == "encoder" else levels - 1 - block
            stage = "down" if coder == "encoder" else "up"
            if part == "resnets":
                name = f"{coder}.{stage}.{level}.block.{index}.{_vae_resnet(rest)}"
            else:
                sampler = "downsample" if part == "downsamplers" else "upsample"
                name = f"{coder}.{stage}.{level}.{sampler}.{rest}"
            out[name] = value
    return out


def _vae_resnet(rest: str) -> str:
    return rest.replace("conv_shortcut", "nin_shortcut", 1)


_LEGACY_VAE_KEY = re.compile(r"(.*\.attentions\.\d+\.)(query|key|value|proj_attn)(\.[^.]+)")
_LEGACY_VAE_NAMES = {"query": "to_q", "key": "to_k", "value": "to_v", "proj_attn": "to_out.0"}


def vae_current_attention_names(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """diffusers folders saved before diffusers 0.14 (SD1.5's own among them) name the VAE
    attention `query/key/value/proj_attn`; rename to today's `to_q/to_k/to_v/to_out.0`."""
    out: StateDict = {}
    for key, value in sd.items():
        if m := _LEGACY_VAE_KEY.fullmatch(key):
            key = f"{m[1]}{_LEGACY_VAE_NAMES[m[2]]}{m[3]}"
        out[key] = value
    return out


def clip_transformers_to_ldm(sd: Mapping[str, torch.Tensor]) -> StateDict:
    """CLIPTextModel weights (flattened or `text_model.*`) -> names after
    `cond_stage_model.transformer.`, i.e. `text_model.*`."""
    return {
        (k if k.startswith(TEXT_MODEL) else TEXT_MODEL + k): v
        for k, v in sd.items()
        if not k.endswith(POSITION_IDS)
    }


def _matches(sd: Mapping[str, Any], pattern: str) -> set[str]:
    regex = re.compile(pattern)
    return {m.group(1) for k in sd if (m := regex.match(k))}


def _count(sd: Mapping[str, Any], pattern: str) -> int:
    found = _matches(sd, pattern)
    if not found:
        raise ValueError(f"no weights match {pattern!r}: not a diffusers SD1.x layout")
    return max(int(i) for i in found) + 1
