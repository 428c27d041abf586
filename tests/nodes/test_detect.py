"""Architecture detection from LDM weights, and the LDM <-> diffusers renaming it relies on."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.sd import convert_ldm as conv
from nodes.sd.checkpoint import ldm_state_dict
from nodes.sd.detect import (
    UnsupportedModelError,
    detect_checkpoint,
    detect_clip,
    detect_unet,
    detect_vae,
    vae_attention_is_conv,
)
from nodes.sd.sd1_configs import TINY_CLIP, TINY_UNET, TINY_VAE

SD15_UNET = {"block_out_channels": (320, 640, 1280, 1280), "cross_attention_dim": 768}
SD15_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "layers_per_block": 2,
}
CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}


def meta_models(
    unet: dict[str, Any], vae: dict[str, Any], clip: dict[str, Any]
) -> tuple[UNet2DConditionModel, CLIPTextModel, AutoencoderKL]:
    """Real-size models cost nothing on the meta device: only shapes exist."""
    with torch.device("meta"):
        return (
            UNet2DConditionModel(**unet),
            CLIPTextModel(CLIPTextConfig(**{"hidden_act": "quick_gelu", **clip})),
            AutoencoderKL(**vae),
        )


@pytest.fixture(scope="module")
def sd15() -> dict[str, torch.Tensor]:
    return ldm_state_dict(*meta_models(SD15_UNET, SD15_VAE, CLIP_L))


@pytest.fixture(scope="module")
def tiny() -> dict[str, torch.Tensor]:
    return ldm_state_dict(*meta_models(TINY_UNET, TINY_VAE, TINY_CLIP))


def shape(sd: dict[str, torch.Tensor], key: str) -> list[int]:
    return list(sd[key].shape)


def test_sd15_ldm_names_and_shapes_match_real_files(sd15: dict[str, torch.Tensor]) -> None:
    u, v, c = "model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer."
    expected = {
        f"{u}input_blocks.0.0.weight": [320, 4, 3, 3],
        f"{u}time_embed.0.weight": [1280, 320],
        f"{u}input_blocks.1.1.proj_in.weight": [320, 320, 1, 1],
        f"{u}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": [320, 768],
        f"{u}input_blocks.3.0.op.weight": [320, 320, 3, 3],
        f"{u}input_blocks.4.0.skip_connection.weight": [640, 320, 1, 1],
        f"{u}input_blocks.11.0.out_layers.3.weight": [1280, 1280, 3, 3],
        f"{u}middle_block.1.transformer_blocks.0.ff.net.0.proj.weight": [10240, 1280],
        f"{u}middle_block.2.emb_layers.1.weight": [1280, 1280],
        f"{u}output_blocks.2.1.conv.weight": [1280, 1280, 3, 3],
        f"{u}output_blocks.5.2.conv.weight": [1280, 1280, 3, 3],
        f"{u}output_blocks.8.2.conv.weight": [640, 640, 3, 3],
        f"{u}output_blocks.11.1.proj_out.weight": [320, 320, 1, 1],
        f"{u}out.2.weight": [4, 320, 3, 3],
        f"{v}encoder.down.1.block.0.nin_shortcut.weight": [256, 128, 1, 1],
        f"{v}encoder.down.0.downsample.conv.weight": [128, 128, 3, 3],
        f"{v}encoder.mid.attn_1.q.weight": [512, 512, 1, 1],
        f"{v}decoder.mid.attn_1.proj_out.weight": [512, 512, 1, 1],
        f"{v}decoder.up.0.block.0.nin_shortcut.weight": [128, 256, 1, 1],
        f"{v}decoder.up.3.upsample.conv.weight": [512, 512, 3, 3],
        f"{v}decoder.norm_out.weight": [128],
        f"{v}quant_conv.weight": [8, 8, 1, 1],
        f"{c}text_model.embeddings.token_embedding.weight": [49408, 768],
        f"{c}text_model.embeddings.position_ids": [1, 77],
        f"{c}text_model.encoder.layers.11.mlp.fc1.weight": [3072, 768],
        f"{c}text_model.final_layer_norm.weight": [768],
    }
    assert {k: shape(sd15, k) for k in expected} == expected
    counts = {p: sum(k.startswith(p) for k in sd15) for p in (u, v, c)}
    assert counts == {u: 686, v: 248, c: 197}
    assert f"{v}decoder.up.4.block.0.conv1.weight" not in sd15


def test_sd15_detection(sd15: dict[str, torch.Tensor]) -> None:
    arch = detect_checkpoint(sd15)
    assert arch.unet["block_out_channels"] == [320, 640, 1280, 1280]
    assert arch.unet["layers_per_block"] == 2
    assert arch.unet["cross_attention_dim"] == 768
    assert arch.unet["attention_head_dim"] == 8
    assert arch.unet["use_linear_projection"] is False
    assert arch.unet["down_block_types"] == ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
    assert arch.unet["up_block_types"] == ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3
    assert (arch.unet["in_channels"], arch.unet["out_channels"]) == (4, 4)
    assert arch.vae["block_out_channels"] == [128, 256, 512, 512]
    assert (arch.vae["layers_per_block"], arch.vae["latent_channels"]) == (2, 4)
    assert arch.vae_conv_attention is True
    c = arch.clip
    assert (c.hidden_size, c.num_hidden_layers, c.intermediate_size) == (768, 12, 3072)
    assert (c.num_attention_heads, c.vocab_size, c.max_position_embeddings) == (12, 49408, 77)
    assert c.hidden_act == "quick_gelu"
    assert "UNet 320/640/1280/1280 x2 (cross-attention 768" in arch.describe()


def test_tiny_family_detection(tiny: dict[str, torch.Tensor]) -> None:
    arch = detect_checkpoint(tiny)
    for key in ("layers_per_block", "cross_attention_dim", "attention_head_dim", "in_channels"):
        assert arch.unet[key] == TINY_UNET[key], key
    assert arch.unet["block_out_channels"] == list(TINY_UNET["block_out_channels"])
    assert arch.unet["down_block_types"] == list(TINY_UNET["down_block_types"])
    assert arch.unet["up_block_types"] == list(TINY_UNET["up_block_types"])
    assert arch.vae["block_out_channels"] == list(TINY_VAE["block_out_channels"])
    assert arch.clip.num_attention_heads == 1
    assert (arch.clip.hidden_size, arch.clip.num_hidden_layers) == (64, 2)
    assert arch.clip.intermediate_size == 256


@pytest.mark.parametrize("hidden,heads", [(32, 1), (64, 1), (128, 2), (1024, 16)])
def test_clip_heads_follow_the_64_wide_convention(hidden: int, heads: int) -> None:
    sd = {
        "embeddings.token_embedding.weight": torch.empty(100, hidden, device="meta"),
        "embeddings.position_embedding.weight": torch.empty(77, hidden, device="meta"),
        "encoder.layers.0.self_attn.q_proj.weight": torch.empty(hidden, hidden, device="meta"),
        "encoder.layers.0.mlp.fc1.weight": torch.empty(4 * hidden, hidden, device="meta"),
    }
    config = detect_clip(sd, prefix="")
    assert config.num_attention_heads == heads
    assert (config.vocab_size, config.num_hidden_layers) == (100, 1)


def test_generic_levels_round_trip_bit_exact() -> None:
    """A layout unlike SD (3 levels, 1 layer, no attention in the middle level) converts both
    ways."""
    torch.manual_seed(3)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64, 96),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=48,
        attention_head_dim=8,
    )
    vae = AutoencoderKL(
        block_out_channels=(32, 64),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        layers_per_block=1,
    )
    for model, to_ldm, detect, to_diffusers in (
        (unet, conv.unet_diffusers_to_ldm, detect_unet, conv.unet_ldm_to_diffusers),
        (vae, conv.vae_diffusers_to_ldm, detect_vae, conv.vae_ldm_to_diffusers),
    ):
        original = model.state_dict()
        ldm = to_ldm(original)
        config = detect(ldm, prefix="")
        back = to_diffusers(ldm, config)
        assert back.keys() == original.keys()
        assert all(torch.equal(back[k], original[k]) for k in original)
    ldm_unet = conv.unet_diffusers_to_ldm(unet.state_dict())
    assert "output_blocks.1.2.conv.weight" in ldm_unet  # upsampler after an attention
    assert "output_blocks.3.1.conv.weight" in ldm_unet  # upsampler right after the resnet
    assert "input_blocks.2.0.op.weight" in ldm_unet
    assert detect_unet(ldm_unet, prefix="")["down_block_types"][1] == "DownBlock2D"


def test_vae_attention_layout_is_reported(tiny: dict[str, torch.Tensor]) -> None:
    vae = {k: v for k, v in tiny.items() if k.startswith("first_stage_model.")}
    assert vae_attention_is_conv(vae, "first_stage_model.")
    linear = dict(vae)
    for name in ("q", "k", "v", "proj_out"):
        key = f"first_stage_model.encoder.mid.attn_1.{name}.weight"
        linear[key] = linear[key][:, :, 0, 0]
    assert not vae_attention_is_conv(linear, "first_stage_model.")


def with_shapes(sd: dict[str, torch.Tensor], shapes: dict[str, tuple[int, ...]]) -> dict[str, Any]:
    return {**sd, **{k: torch.empty(size, device="meta") for k, size in shapes.items()}}


def test_sd2_unet_is_refused() -> None:
    unet, text, vae = meta_models(
        {**SD15_UNET, "cross_attention_dim": 1024, "use_linear_projection": True},
        SD15_VAE,
        CLIP_L,
    )
    sd = ldm_state_dict(unet, text, vae)
    with pytest.raises(UnsupportedModelError, match=r"SD2\.x UNet \(1024-wide cross-attention"):
        detect_checkpoint(sd)


def test_sdxl_unet_is_refused(tiny: dict[str, torch.Tensor]) -> None:
    sd = {k: v for k, v in tiny.items() if "attn2.to_k" not in k}
    u = "model.diffusion_model."
    sd = with_shapes(
        sd,
        {
            f"{u}label_emb.0.0.weight": (1280, 2816),
            f"{u}input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (64, 2048),
        },
    )
    with pytest.raises(
        UnsupportedModelError,
        match=r"SDXL UNet \(label_emb, 2048-wide cross-attention\); only SD1\.x checkpoints",
    ):
        detect_checkpoint(sd)


@pytest.mark.parametrize(
    "key,family",
    [
        ("conditioner.embedders.0.transformer.text_model.x", "SDXL checkpoint"),
        ("model.diffusion_model.joint_blocks.0.x", "SD3"),
        ("double_blocks.0.img_attn.qkv.weight", "Flux"),
        ("cond_stage_model.model.token_embedding.weight", "SD2.x checkpoint"),
        ("lora_unet_down_blocks_0.alpha", "LoRA"),
        ("control_model.input_hint_block.0.weight", "ControlNet"),
    ],
)
def test_other_families_are_named(tiny: dict[str, torch.Tensor], key: str, family: str) -> None:
    sd: dict[str, Any] = {**tiny, key: torch.empty(1, device="meta")}
    with pytest.raises(UnsupportedModelError, match=family):
        detect_checkpoint(sd)


def test_partial_checkpoint_names_what_is_missing(tiny: dict[str, torch.Tensor]) -> None:
    no_vae = {k: v for k, v in tiny.items() if not k.startswith("first_stage_model.")}
    with pytest.raises(UnsupportedModelError, match=r"no VAE \(first_stage_model\.\*\) weights"):
        detect_checkpoint(no_vae)
    with pytest.raises(UnsupportedModelError, match=r"UNet weight .* is missing"):
        detect_unet({"foo": torch.empty(1)}, prefix="")


def test_inconsistent_unet_is_refused(tiny: dict[str, torch.Tensor]) -> None:
    prefix = "model.diffusion_model."
    no_attention = {k: v for k, v in tiny.items() if not k.startswith(f"{prefix}output_blocks.3.1")}
    with pytest.raises(UnsupportedModelError, match="do not mirror"):
        detect_checkpoint(no_attention)
