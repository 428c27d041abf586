"""Work out an SD1.x checkpoint's architecture from its LDM weight names and shapes.

Only names and `.shape` are read, so detection also works on meta tensors. The results are
configs for diffusers' UNet2DConditionModel and AutoencoderKL and a transformers CLIPTextConfig.
Other model families are recognised by their marker keys and refused with UnsupportedModelError.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from transformers import CLIPTextConfig

from nodes.sd.convert_ldm import CLIP_PREFIX, TEXT_MODEL, UNET_PREFIX, VAE_PREFIX

SD1_HEADS = 8
"""SD1.x attention uses 8 heads in every block (diffusers' `attention_head_dim=8`)."""
CLIP_HEAD_WIDTH = 64
NORM_GROUPS = 32
SD1_SCALING_FACTOR = 0.18215
ONLY_SD1 = "only SD1.x checkpoints are supported"

Shapes = Mapping[str, Any]
"""A state dict, or anything mapping names to objects with `.shape`."""


class UnsupportedModelError(ValueError):
    """The weights belong to a model family other than SD1.x (or to no known model)."""


@dataclass(frozen=True)
class Sd1Architecture:
    """What a full SD1.x checkpoint holds, as configs for the diffusers/transformers classes."""

    unet: dict[str, Any]
    vae: dict[str, Any]
    clip: CLIPTextConfig
    vae_conv_attention: bool
    """True when the VAE mid-block attention is stored as 1x1 convolutions (SD1.x files)."""

    def describe(self) -> str:
        u, v, c = self.unet, self.vae, self.clip
        attention = [i for i, t in enumerate(u["down_block_types"]) if t.startswith("CrossAttn")]
        inpaint = f", {u['in_channels']} input channels" if u["in_channels"] != 4 else ""
        return (
            f"SD1.x: UNet {_widths(u['block_out_channels'])} x{u['layers_per_block']} "
            f"(cross-attention {u['cross_attention_dim']}, attention at levels "
            f"{','.join(map(str, attention))}{inpaint}); VAE {_widths(v['block_out_channels'])} "
            f"({v['latent_channels']} latent channels); CLIP text {c.hidden_size} wide x "
            f"{c.num_hidden_layers} layers"
        )


def _widths(widths: list[int]) -> str:
    return "/".join(map(str, widths))


def detect_checkpoint(sd: Shapes) -> Sd1Architecture:
    """The architecture of a full LDM checkpoint (UNet + VAE + CLIP text encoder)."""
    refuse_other_families(sd)
    has_vae = f"{VAE_PREFIX}encoder.conv_in.weight" in sd
    clip_prefix = _clip_root(sd)
    has_clip = clip_prefix is not None
    if f"{UNET_PREFIX}input_blocks.0.0.weight" not in sd or not (has_vae and has_clip):
        missing = [
            name
            for name, ok in (
                ("UNet (model.diffusion_model.*)", f"{UNET_PREFIX}input_blocks.0.0.weight" in sd),
                ("VAE (first_stage_model.*)", has_vae),
                ("CLIP text encoder (cond_stage_model.transformer.text_model.*)", has_clip),
            )
            if not ok
        ]
        raise UnsupportedModelError(
            f"not a full SD1.x checkpoint: no {' or '.join(missing)} weights found "
            f"(first keys: {_first_keys(sd)})"
        )
    return Sd1Architecture(
        unet=detect_unet(sd, UNET_PREFIX),
        vae=detect_vae(sd, VAE_PREFIX),
        clip=detect_clip(sd, clip_prefix or ""),
        vae_conv_attention=vae_attention_is_conv(sd, VAE_PREFIX),
    )


def _clip_root(sd: Shapes) -> str | None:
    """Where a checkpoint's CLIP weights live: `...transformer.text_model.` (usual) or, in files
    written by old transformers versions, directly under `...transformer.`."""
    for prefix in (CLIP_PREFIX + TEXT_MODEL, CLIP_PREFIX):
        if f"{prefix}embeddings.token_embedding.weight" in sd:
            return prefix
    return None


_FAMILIES = (
    ("conditioner.embedders.", "SDXL checkpoint (conditioner.embedders text encoders)"),
    ("model.diffusion_model.joint_blocks.", "SD3 checkpoint (MMDiT joint_blocks)"),
    ("double_blocks.", "Flux model (double_blocks)"),
    ("model.diffusion_model.double_blocks.", "Flux model (double_blocks)"),
    ("cond_stage_model.model.", "SD2.x checkpoint (OpenCLIP text encoder cond_stage_model.model)"),
    ("lora_unet_", "LoRA file, not a checkpoint"),
    ("lora_te", "LoRA file, not a checkpoint"),
    ("control_model.", "ControlNet, not a checkpoint"),
    ("input_hint_block.", "ControlNet, not a checkpoint"),
    ("zero_convs.", "ControlNet, not a checkpoint"),
)


def refuse_other_families(sd: Shapes, prefix: str = "") -> None:
    """Raise UnsupportedModelError naming the family when marker keys of a non-SD1 model show."""
    for marker, family in _FAMILIES:
        if any(k.startswith(marker) for k in sd):
            raise UnsupportedModelError(f"{family}; {ONLY_SD1}")
    if any(".lora_down." in k or ".lora_A." in k for k in sd):
        raise UnsupportedModelError(f"LoRA file, not a checkpoint; {ONLY_SD1}")
    if f"{prefix}label_emb.0.0.weight" in sd:
        cross = _cross_attention_width(sd, prefix)
        family = "SDXL UNet" if cross in (1280, 2048) else "class-conditioned UNet"
        width = f", {cross}-wide cross-attention" if cross else ""
        raise UnsupportedModelError(f"{family} (label_emb{width}); {ONLY_SD1}")


# --- UNet -------------------------------------------------------------------------------------


def detect_unet(sd: Shapes, prefix: str = UNET_PREFIX) -> dict[str, Any]:
    """diffusers UNet2DConditionModel config from LDM UNet weights under `prefix`."""
    refuse_other_families(sd, prefix)
    conv_in = _shape(sd, f"{prefix}input_blocks.0.0.weight", "UNet")
    levels = _unet_levels(sd, prefix)
    layers = {len(level) for level in levels}
    if len(layers) != 1:
        raise UnsupportedModelError(f"UNet levels have different layer counts {sorted(layers)}")
    widths = [level[0][0] for level in levels]
    attention = [level[0][1] for level in levels]
    depths = {d for level in levels for _, has, d in level if has}
    cross = _cross_attention_width(sd, prefix)
    if not depths or cross is None:
        raise UnsupportedModelError("UNet without cross-attention blocks is not an SD1.x UNet")
    linear = len(_shape(sd, _first_key(sd, prefix, r"input_blocks\.\d+\.1\.proj_in\.weight"))) == 2
    if linear or cross == 1024:
        raise UnsupportedModelError(
            f"SD2.x UNet ({cross}-wide cross-attention, "
            f"{'linear' if linear else 'convolution'} projections); {ONLY_SD1}"
        )
    if len(depths) != 1:
        raise UnsupportedModelError(f"UNet with mixed transformer depths {sorted(depths)}")
    _require_sd1_widths(sd, prefix, widths)
    if f"{prefix}middle_block.1.proj_in.weight" not in sd:
        raise UnsupportedModelError("UNet without a mid-block attention is not an SD1.x UNet")
    n = len(levels)
    up_attention = [
        f"{prefix}output_blocks.{b * (len(levels[0]) + 1)}.1.proj_in.weight" in sd for b in range(n)
    ]
    if up_attention != attention[::-1]:
        raise UnsupportedModelError("UNet output blocks do not mirror its input blocks")
    return {
        "sample_size": 64,
        "in_channels": conv_in[1],
        "out_channels": _shape(sd, f"{prefix}out.2.weight", "UNet")[0],
        "down_block_types": ["CrossAttnDownBlock2D" if a else "DownBlock2D" for a in attention],
        "up_block_types": ["CrossAttnUpBlock2D" if a else "UpBlock2D" for a in attention[::-1]],
        "mid_block_type": "UNetMidBlock2DCrossAttn",
        "block_out_channels": widths,
        "layers_per_block": len(levels[0]),
        "cross_attention_dim": cross,
        "attention_head_dim": SD1_HEADS,
        "transformer_layers_per_block": depths.pop(),
        "use_linear_projection": False,
        "norm_num_groups": NORM_GROUPS,
    }


def _unet_levels(sd: Shapes, prefix: str) -> list[list[tuple[int, bool, int]]]:
    """Input blocks grouped by level: (width, has attention, transformer depth) per layer."""
    levels: list[list[tuple[int, bool, int]]] = [[]]
    i = 1
    while True:
        block = f"{prefix}input_blocks.{i}."
        if f"{block}0.op.weight" in sd:
            levels.append([])
        elif f"{block}0.in_layers.2.weight" in sd:
            width = _shape(sd, f"{block}0.out_layers.3.weight", "UNet")[0]
            depth = len(_matches(sd, re.escape(block) + r"1\.transformer_blocks\.(\d+)\."))
            levels[-1].append((width, depth > 0, depth))
        else:
            break
        i += 1
    if not levels[-1] or any(not level for level in levels):
        raise UnsupportedModelError(f"UNet input blocks do not form SD1.x levels (stopped at {i})")
    for level in levels:
        if len({w for w, _, _ in level}) != 1 or len({a for _, a, _ in level}) != 1:
            raise UnsupportedModelError("UNet layers within one level differ in width or attention")
    return levels


def _cross_attention_width(sd: Shapes, prefix: str) -> int | None:
    key = _first_key(sd, prefix, r".*transformer_blocks\.\d+\.attn2\.to_k\.weight", required=False)
    return _shape(sd, key)[1] if key else None


def _require_sd1_widths(sd: Shapes, prefix: str, widths: list[int]) -> None:
    time = _shape(sd, f"{prefix}time_embed.0.weight", "UNet")[0]
    if time != 4 * widths[0]:
        raise UnsupportedModelError(f"UNet time embedding width {time} is not 4 x {widths[0]}")
    for w in widths:
        if w % NORM_GROUPS or w % SD1_HEADS:
            raise UnsupportedModelError(
                f"UNet width {w} does not split into {NORM_GROUPS} groups and {SD1_HEADS} heads"
            )


# --- VAE --------------------------------------------------------------------------------------


def detect_vae(sd: Shapes, prefix: str = VAE_PREFIX) -> dict[str, Any]:
    """diffusers AutoencoderKL config from LDM VAE weights under `prefix`."""
    conv_in = _shape(sd, f"{prefix}encoder.conv_in.weight", "VAE")
    n = len(_matches(sd, re.escape(prefix) + r"encoder\.down\.(\d+)\.block\.0\.conv1\.weight"))
    if n == 0:
        raise UnsupportedModelError("VAE encoder has no down blocks (encoder.down.*)")
    widths = [_shape(sd, f"{prefix}encoder.down.{i}.block.0.conv2.weight")[0] for i in range(n)]
    layers = len(_matches(sd, re.escape(prefix) + r"encoder\.down\.0\.block\.(\d+)\.conv1\.weight"))
    for i in range(n):
        up = _matches(sd, re.escape(prefix) + rf"decoder\.up\.{i}\.block\.(\d+)\.conv1\.weight")
        has_down = f"{prefix}encoder.down.{i}.downsample.conv.weight" in sd
        if len(up) != layers + 1 or has_down != (i < n - 1):
            raise UnsupportedModelError(f"VAE level {i} does not have the SD1.x block layout")
    latent = _shape(sd, f"{prefix}decoder.conv_in.weight", "VAE")[1]
    for w in widths:
        if w % NORM_GROUPS:
            raise UnsupportedModelError(f"VAE width {w} is not divisible by {NORM_GROUPS}")
    return {
        "sample_size": 512,
        "in_channels": conv_in[1],
        "out_channels": _shape(sd, f"{prefix}decoder.conv_out.weight", "VAE")[0],
        "down_block_types": ["DownEncoderBlock2D"] * n,
        "up_block_types": ["UpDecoderBlock2D"] * n,
        "block_out_channels": widths,
        "layers_per_block": layers,
        "latent_channels": latent,
        "norm_num_groups": NORM_GROUPS,
        "scaling_factor": SD1_SCALING_FACTOR,
        "use_quant_conv": f"{prefix}quant_conv.weight" in sd,
        "use_post_quant_conv": f"{prefix}post_quant_conv.weight" in sd,
        "mid_block_add_attention": f"{prefix}encoder.mid.attn_1.q.weight" in sd,
    }


def vae_attention_is_conv(sd: Shapes, prefix: str = VAE_PREFIX) -> bool:
    """True when the VAE mid-block attention weights are 1x1 convolutions (SD1.x files)."""
    key = f"{prefix}encoder.mid.attn_1.q.weight"
    return key not in sd or len(_shape(sd, key)) == 4


# --- CLIP -------------------------------------------------------------------------------------


def detect_clip(sd: Shapes, prefix: str = CLIP_PREFIX + TEXT_MODEL) -> CLIPTextConfig:
    """transformers CLIPTextConfig from Hugging Face CLIP text weights under `prefix`."""
    vocab, hidden = _shape(sd, f"{prefix}embeddings.token_embedding.weight", "CLIP")
    positions = _shape(sd, f"{prefix}embeddings.position_embedding.weight", "CLIP")[0]
    layers = len(_matches(sd, re.escape(prefix) + r"encoder\.layers\.(\d+)\.self_attn\.q_proj\."))
    if layers == 0:
        raise UnsupportedModelError("CLIP text encoder has no layers (encoder.layers.*)")
    mlp = _shape(sd, f"{prefix}encoder.layers.0.mlp.fc1.weight", "CLIP")[0]
    heads = max(1, hidden // CLIP_HEAD_WIDTH)
    if hidden % heads:
        raise UnsupportedModelError(f"CLIP width {hidden} does not split into {heads} heads")
    return CLIPTextConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=mlp,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        max_position_embeddings=positions,
        hidden_act="quick_gelu",
        projection_dim=hidden,
    )


# --- helpers ----------------------------------------------------------------------------------


def _shape(sd: Shapes, key: str, what: str = "model") -> tuple[int, ...]:
    if key not in sd:
        raise UnsupportedModelError(f"{what} weight {key} is missing (keys: {_first_keys(sd)})")
    return tuple(sd[key].shape)


def _matches(sd: Shapes, pattern: str) -> set[str]:
    regex = re.compile(pattern)
    return {m.group(1) for k in sd if (m := regex.match(k))}


def _first_key(sd: Shapes, prefix: str, pattern: str, *, required: bool = True) -> str:
    regex = re.compile(re.escape(prefix) + pattern)
    for k in sd:
        if regex.fullmatch(k):
            return k
    if required:
        raise UnsupportedModelError(f"no weight matching {prefix}{pattern} found")
    return ""


def _first_keys(sd: Shapes, count: int = 5) -> str:
    keys = list(sd)[:count]
    return ", ".join(keys) + (", ..." if len(sd) > count else "") if keys else "none"
