"""Encode a prompt with the SD1.x CLIP text model the way ComfyUI does (weights, embeddings,
CLIP skip, 77-token chunks) and return (cond, pooled)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from nodes.sd.tokenizer import Chunk, WeightedToken, tokenize_with_weights
from nodes.types import Clip

log = logging.getLogger(__name__)


def encode_text(
    clip: Clip, text: str, embedding_dirs: Sequence[Path] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Encode `text` into (cond [1, 77*chunks, width], pooled [1, width]), float32 on the CPU.

    `embedding_dirs` are searched for `embedding:<name>` (None: the syntax is plain text).
    """
    width = clip.text_model.get_input_embeddings().weight.shape[1]
    chunks = tokenize_with_weights(clip.tokenizer, text, embedding_dirs, width)
    return encode_chunks(
        clip.text_model,
        chunks,
        layer_idx=clip.layer_idx,
        special=(clip.tokenizer.bos_token_id, clip.tokenizer.eos_token_id),
        pad=clip.tokenizer.pad_token_id,
    )


def encode_chunks(
    text_model: Any,
    chunks: Sequence[Chunk],
    *,
    layer_idx: int | None,
    special: tuple[int, int],
    pad: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run weighted token chunks through the text model (ComfyUI's encode_token_weights).

    Where any weight differs from 1, the empty prompt is encoded in the same batch and each
    weighted position becomes (z - z_empty) * w + z_empty. The pooled output is the final
    hidden state at the first chunk's end token, whatever the CLIP skip.
    """
    start, end = special
    weights = torch.tensor([[w for _, w in chunk] for chunk in chunks], dtype=torch.float32)
    has_weights = bool((weights != 1.0).any())
    sequences: list[Sequence[WeightedToken]] = list(chunks)
    if has_weights:
        empty: list[WeightedToken] = [(start, 1.0), (end, 1.0)]
        sequences.append(empty + [(pad, 1.0)] * (len(sequences[0]) - len(empty)))

    table = text_model.get_input_embeddings()
    with torch.no_grad():
        inputs = [_input_rows(table, seq, end, pad) for seq in sequences]
        rows = torch.stack([r for r, _ in inputs])
        last, chosen = run_text_model(text_model, rows, layer_idx)
        z = (chosen if chosen is not None else last).float().cpu()
        pooled = last[0:1, inputs[0][1]].float().cpu()
        count = len(chunks)
        out = z[:count]
        if has_weights:
            w = weights.unsqueeze(-1)
            z_empty = z[-1:]
            out = torch.where(w != 1.0, (out - z_empty) * w + z_empty, out)
    return out.reshape(1, count * out.shape[1], out.shape[2]), pooled


def run_text_model(
    text_model: Any, inputs_embeds: torch.Tensor, layer_idx: int | None
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run the CLIP transformer on token vectors [batch, tokens, width].

    Returns the final-layer-normed last hidden state and, when `layer_idx` picks an earlier
    layer (CLIP skip, -2 = penultimate), that layer's output through the final layer norm too.
    """
    from transformers.masking_utils import create_causal_mask

    inner = getattr(text_model, "text_model", text_model)  # transformers < 5.6 nested it
    layers = inner.encoder.layers
    stop = resolve_layer(layer_idx, len(layers))
    hidden = inner.embeddings(inputs_embeds=inputs_embeds)
    mask = create_causal_mask(
        config=text_model.config,
        inputs_embeds=hidden,
        attention_mask=None,
        past_key_values=None,
    )
    chosen = None
    for index, layer in enumerate(layers):
        hidden = layer(hidden, mask, is_causal=True)
        if index == stop:
            chosen = hidden
    last = inner.final_layer_norm(hidden)
    return last, (inner.final_layer_norm(chosen) if chosen is not None else None)


def resolve_layer(layer_idx: int | None, num_layers: int) -> int | None:
    """The 0-based layer whose output CLIP skip selects, or None for the last layer.

    Like ComfyUI: negative values count from the end, and values beyond the depth of the
    model fall back to the last layer.
    """
    if layer_idx is None or abs(layer_idx) > num_layers:
        return None
    index = layer_idx if layer_idx >= 0 else num_layers + layer_idx
    if index >= num_layers - 1:
        return None
    return index


def _input_rows(
    table: torch.nn.Embedding, sequence: Sequence[WeightedToken], end: int, pad: int
) -> tuple[torch.Tensor, int]:
    """Token vectors of one chunk with embedding vectors spliced in, and its end position.

    Vectors whose width differs from the encoder are dropped with a warning and the chunk is
    padded at the end instead (ComfyUI does the same, weights keep their original positions).
    """
    weight: torch.Tensor = table.weight
    width = int(weight.shape[1])
    kept: list[int | torch.Tensor] = []
    for token, _ in sequence:
        if isinstance(token, torch.Tensor) and token.shape[-1] != width:
            log.warning(
                "embedding vector of width %d does not match the text encoder width %d; "
                "ignoring it",
                token.shape[-1],
                width,
            )
            continue
        kept.append(token)
    kept.extend([pad] * (len(sequence) - len(kept)))
    ids = torch.tensor(
        [t if isinstance(t, int) else 0 for t in kept], dtype=torch.long, device=weight.device
    )
    rows = table(ids)
    vectors = [(i, t) for i, t in enumerate(kept) if isinstance(t, torch.Tensor)]
    if vectors:
        rows = rows.clone()
        index = torch.tensor([i for i, _ in vectors], device=weight.device)
        rows[index] = torch.stack([t.reshape(width) for _, t in vectors]).to(weight)
    end_position = next(
        (i for i, t in enumerate(kept) if isinstance(t, int) and t == end), len(kept) - 1
    )
    return rows, end_position
