"""encode_text against transformers' own forward on a tiny seeded CLIP: shapes, weights, CLIP skip,
embeddings and chunks."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
import safetensors.torch
import torch

from nodes.sd.text_encode import encode_text, resolve_layer
from tests.nodes.tiny_clip import WIDTH, padded_ids, reference, tiny_clip, tiny_text_model

BOS, EOS = 49406, 49407


def token_vector(token: int) -> torch.Tensor:
    return tiny_text_model().get_input_embeddings().weight[token].detach().clone()


def save_embedding(folder: Path, name: str, rows: torch.Tensor) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(
        {"emb_params": rows.contiguous()}, str(folder / f"{name}.safetensors")
    )


def test_shapes_dtype_and_match_with_transformers() -> None:
    cond, pooled = encode_text(tiny_clip(), "a photo of a cat", None)
    assert cond.shape == (1, 77, WIDTH) and pooled.shape == (1, WIDTH)
    assert cond.dtype == pooled.dtype == torch.float32 and cond.device.type == "cpu"
    assert not cond.requires_grad
    last, ref_pooled, _ = reference(padded_ids("a photo of a cat"))
    torch.testing.assert_close(cond, last, rtol=0, atol=1e-6)
    torch.testing.assert_close(pooled, ref_pooled, rtol=0, atol=1e-6)


def test_deterministic() -> None:
    a = encode_text(tiny_clip(), "red circle", None)
    b = encode_text(tiny_clip(), "red circle", None)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_weight_one_is_plain_text() -> None:
    plain = encode_text(tiny_clip(), "a cat", None)
    weighted = encode_text(tiny_clip(), "a (cat:1.0)", None)
    assert torch.equal(plain[0], weighted[0]) and torch.equal(plain[1], weighted[1])


def test_weighting_formula() -> None:
    w = 1.5
    cond, pooled = encode_text(tiny_clip(), f"a (cat:{w}) photo", None)
    z, z_pooled, _ = reference(padded_ids("a cat photo"))
    z_empty, _, _ = reference(padded_ids(""))
    expected = z.clone()
    expected[0, 2] = (z[0, 2] - z_empty[0, 2]) * w + z_empty[0, 2]
    torch.testing.assert_close(cond, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(cond[0, 2], z[0, 2])
    torch.testing.assert_close(pooled, z_pooled, rtol=0, atol=1e-6)  # pooled is unweighted


def test_weight_zero_gives_the_empty_prompt_at_that_position() -> None:
    cond, _ = encode_text(tiny_clip(), "a (cat:0)", None)
    z_empty, _, _ = reference(padded_ids(""))
    torch.testing.assert_close(cond[0, 2], z_empty[0, 2], rtol=0, atol=1e-6)


def test_clip_skip_is_the_normed_penultimate_layer() -> None:
    last_cond, last_pooled = encode_text(tiny_clip(), "a photo of a cat", None)
    cond, pooled = encode_text(tiny_clip(layer_idx=-2), "a photo of a cat", None)
    _, _, hidden = reference(padded_ids("a photo of a cat"))
    with torch.no_grad():
        expected = tiny_text_model().final_layer_norm(hidden[-2])
    torch.testing.assert_close(cond, expected, rtol=0, atol=1e-6)
    assert not torch.allclose(cond, last_cond, atol=1e-3)
    assert torch.equal(pooled, last_pooled)  # pooled always comes from the last layer


def test_layer_minus_one_and_out_of_range_mean_last_layer() -> None:
    last, _ = encode_text(tiny_clip(), "a cat", None)
    assert torch.equal(encode_text(tiny_clip(layer_idx=-1), "a cat", None)[0], last)
    assert torch.equal(encode_text(tiny_clip(layer_idx=-24), "a cat", None)[0], last)
    assert resolve_layer(-2, 12) == 10 and resolve_layer(-12, 12) == 0
    assert resolve_layer(-13, 12) is None and resolve_layer(None, 12) is None


def test_long_prompt_concatenates_chunks_and_pools_the_first() -> None:
    text = " ".join(["cat"] * 100)
    cond, pooled = encode_text(tiny_clip(), text, None)
    assert cond.shape == (1, 154, WIDTH)
    first, first_pooled, _ = reference([BOS] + [2368] * 75 + [EOS])
    second, _, _ = reference([BOS] + [2368] * 25 + [EOS] * 51)
    torch.testing.assert_close(cond[:, :77], first, rtol=0, atol=1e-6)
    torch.testing.assert_close(cond[:, 77:], second, rtol=0, atol=1e-6)
    torch.testing.assert_close(pooled, first_pooled, rtol=0, atol=1e-6)


def test_embedding_equal_to_a_word_gives_that_word(tmp_path: Path) -> None:
    save_embedding(tmp_path, "kitty", token_vector(2368).unsqueeze(0))
    words = encode_text(tiny_clip(), "a photo of a cat", [tmp_path])
    embedded = encode_text(tiny_clip(), "a photo of a embedding:kitty", [tmp_path])
    torch.testing.assert_close(embedded[0], words[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(embedded[1], words[1], rtol=0, atol=1e-6)


def test_three_vector_embedding_with_weight(tmp_path: Path) -> None:
    rows = torch.stack([token_vector(t) for t in (1125, 539, 320)])  # "photo of a"
    save_embedding(tmp_path / "sub", "phrase", rows)
    words = encode_text(tiny_clip(), "a (photo of a:1.2) cat", [tmp_path])
    embedded = encode_text(tiny_clip(), "a (embedding:phrase:1.2) cat", [tmp_path])
    torch.testing.assert_close(embedded[0], words[0], rtol=0, atol=1e-5)


def test_embedding_of_the_wrong_width_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    save_embedding(tmp_path, "wide", torch.ones(2, WIDTH * 2))
    with caplog.at_level(logging.WARNING):
        cond, pooled = encode_text(tiny_clip(), "a embedding:wide cat", [tmp_path])
    plain = encode_text(tiny_clip(), "a cat", [tmp_path])
    torch.testing.assert_close(cond, plain[0], rtol=0, atol=1e-6)
    torch.testing.assert_close(pooled, plain[1], rtol=0, atol=1e-6)
    assert "does not match the text encoder width" in caplog.text


def test_runs_in_the_model_dtype() -> None:
    model64 = dataclasses.replace(tiny_clip(), text_model=_double_copy())
    cond64, pooled64 = encode_text(model64, "a (cat:1.3)", None)
    cond32, pooled32 = encode_text(tiny_clip(), "a (cat:1.3)", None)
    assert cond64.dtype == torch.float32
    torch.testing.assert_close(cond64, cond32, rtol=0, atol=1e-4)
    torch.testing.assert_close(pooled64, pooled32, rtol=0, atol=1e-4)


def _double_copy() -> torch.nn.Module:
    import copy

    return copy.deepcopy(tiny_text_model()).double()
