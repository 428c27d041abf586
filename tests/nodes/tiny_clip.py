"""A seeded tiny SD1.x-shaped CLIP text encoder (real vocabulary size, width 64) for tests."""

from __future__ import annotations

import functools

import torch
from transformers import CLIPTextConfig, CLIPTextModel

from nodes.sd.tokenizer import load_tokenizer
from nodes.types import Clip

WIDTH = 64


@functools.cache
def tiny_text_model(seed: int = 0) -> CLIPTextModel:
    """Two layers, one head, quick_gelu, 49,408 tokens; shared, never modified by tests."""
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=49408,
        hidden_size=WIDTH,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=1,
        max_position_embeddings=77,
        hidden_act="quick_gelu",
    )
    return CLIPTextModel(config).eval()


def tiny_clip(seed: int = 0, layer_idx: int | None = None) -> Clip:
    return Clip(
        text_model=tiny_text_model(seed),
        tokenizer=load_tokenizer(),
        name="tiny",
        layer_idx=layer_idx,
    )


def reference(text_ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
    """transformers' own forward on one 77-token id sequence: (last, pooled, hidden_states)."""
    model = tiny_text_model()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([text_ids]), output_hidden_states=True)
    return out.last_hidden_state, out.pooler_output, out.hidden_states


def padded_ids(text: str) -> list[int]:
    """BOS + tokens + EOS padded with EOS to 77, as the HF tokenizer produces them."""
    ids: list[int] = load_tokenizer()(text, padding="max_length")["input_ids"]
    return ids
