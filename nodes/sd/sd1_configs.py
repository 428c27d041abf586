"""SD1.x architecture presets as constructor configs: the real SD1.5 sizes and the tiny family
(same structure, small widths), so tests, benchmarks and training build models one way."""

from __future__ import annotations

from typing import Any

CLIP_VOCAB = 49408
CLIP_POSITIONS = 77


def unet_config(channels: tuple[int, ...], cross_dim: int, sample_size: int) -> dict[str, Any]:
    """UNet2DConditionModel kwargs: cross-attention on every level but the last, like SD1."""
    levels = len(channels)
    return {
        "sample_size": sample_size,
        "in_channels": 4,
        "out_channels": 4,
        "block_out_channels": channels,
        "layers_per_block": 2,
        "down_block_types": ("CrossAttnDownBlock2D",) * (levels - 1) + ("DownBlock2D",),
        "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (levels - 1),
        "cross_attention_dim": cross_dim,
        "attention_head_dim": 8,
        "norm_num_groups": 32,
    }


def vae_config(channels: tuple[int, ...], sample_size: int) -> dict[str, Any]:
    """AutoencoderKL kwargs: four levels give the f=8 downsampling and SD's LDM key layout."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "block_out_channels": channels,
        "down_block_types": ("DownEncoderBlock2D",) * len(channels),
        "up_block_types": ("UpDecoderBlock2D",) * len(channels),
        "layers_per_block": 2,
        "latent_channels": 4,
        "norm_num_groups": 32,
        "sample_size": sample_size,
        "scaling_factor": 0.18215,
    }


def clip_config(hidden: int, layers: int, mlp: int) -> dict[str, Any]:
    """CLIPTextConfig kwargs with the real vocabulary, so real token ids and embeddings fit;
    heads follow CLIP's 64-wide convention."""
    return {
        "vocab_size": CLIP_VOCAB,
        "hidden_size": hidden,
        "intermediate_size": mlp,
        "num_hidden_layers": layers,
        "num_attention_heads": max(1, hidden // 64),
        "max_position_embeddings": CLIP_POSITIONS,
        "hidden_act": "quick_gelu",
        "projection_dim": hidden,
    }


SD15_UNET = unet_config((320, 640, 1280, 1280), 768, 64)
SD15_VAE = vae_config((128, 256, 512, 512), 512)
SD15_CLIP = clip_config(768, 12, 3072)

TINY_UNET = unet_config((32, 64, 64, 64), 64, 8)
TINY_VAE = vae_config((32, 32, 64, 64), 64)
TINY_CLIP = clip_config(64, 2, 256)
