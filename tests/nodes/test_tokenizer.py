"""The vendored CLIP tokenizer and ComfyUI's tokenization into weighted 77-token chunks."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

import pytest
import torch

from nodes.sd.tokenizer import (
    VOCAB_PATH,
    load_tokenizer,
    pack_chunks,
    read_bpe_vocab,
    tokenize_with_weights,
)

BOS, EOS = 49406, 49407
CAT, RED, CIRCLE, BLUE = 2368, 736, 7117, 1746


def ids(chunk: list[tuple[object, float]]) -> list[object]:
    return [t for t, _ in chunk]


def weights(chunk: list[tuple[object, float]]) -> list[float]:
    return [w for _, w in chunk]


def test_vendored_vocabulary_is_the_real_clip_one() -> None:
    assert hashlib.md5(VOCAB_PATH.read_bytes()).hexdigest() == "933b7abbbbde62c36f02f0e6ccde464f"
    assert (VOCAB_PATH.parent / "CLIP_LICENSE").read_text().count("MIT") >= 1
    vocab, merges = read_bpe_vocab()
    assert len(vocab) == 49408 and len(merges) == 48894
    assert vocab["<|startoftext|>"] == BOS and vocab["<|endoftext|>"] == EOS


def test_known_clip_ids() -> None:
    tok = load_tokenizer()
    assert tok("a photo of a cat")["input_ids"] == [BOS, 320, 1125, 539, 320, 2368, EOS]
    assert tok("red circle blue")["input_ids"] == [BOS, RED, CIRCLE, BLUE, EOS]
    assert tok("Red  CIRCLE\nblue")["input_ids"] == [BOS, RED, CIRCLE, BLUE, EOS]
    assert len(tok) == 49408
    assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (BOS, EOS, EOS)
    assert tok.model_max_length == 77


def test_tokenizer_is_cached_and_fast() -> None:
    first = load_tokenizer()
    started = time.perf_counter()
    again = load_tokenizer()
    assert again is first
    assert time.perf_counter() - started < 0.1


def test_plain_prompt_is_one_padded_chunk() -> None:
    chunks = tokenize_with_weights(load_tokenizer(), "a photo of a cat")
    assert len(chunks) == 1 and len(chunks[0]) == 77
    assert ids(chunks[0])[:7] == [BOS, 320, 1125, 539, 320, CAT, EOS]
    assert ids(chunks[0])[7:] == [EOS] * 70
    assert weights(chunks[0]) == [1.0] * 77


def test_empty_prompt() -> None:
    (chunk,) = tokenize_with_weights(load_tokenizer(), "")
    assert ids(chunk) == [BOS] + [EOS] * 76


def test_weights_follow_tokens_and_specials_stay_at_one() -> None:
    (chunk,) = tokenize_with_weights(load_tokenizer(), "red (circle:1.5) ((blue))")
    assert ids(chunk)[:5] == [BOS, RED, CIRCLE, BLUE, EOS]
    assert weights(chunk)[:5] == [1.0, 1.0, 1.5, 1.1 * 1.1, 1.0]
    assert set(weights(chunk)[5:]) == {1.0}


def test_long_prompt_spans_two_chunks_of_77() -> None:
    chunks = tokenize_with_weights(load_tokenizer(), " ".join(["cat"] * 100))
    assert [len(c) for c in chunks] == [77, 77]
    # one segment of 100 tokens is a "large word": it fills the first chunk and continues
    assert ids(chunks[0]) == [BOS] + [CAT] * 75 + [EOS]
    assert ids(chunks[1]) == [BOS] + [CAT] * 25 + [EOS] * 51


def test_short_word_moves_whole_to_the_next_chunk() -> None:
    text = " ".join(["cat"] * 74) + " (red circle:1.2)"
    first, second = tokenize_with_weights(load_tokenizer(), text)
    assert ids(first) == [BOS] + [CAT] * 74 + [EOS, EOS]
    assert ids(second)[:4] == [BOS, RED, CIRCLE, EOS]
    assert weights(second)[:4] == [1.0, 1.2, 1.2, 1.0]


def test_word_of_eight_tokens_splits_at_the_boundary() -> None:
    eight = "red circle blue red circle blue red circle"
    first, second = tokenize_with_weights(load_tokenizer(), " ".join(["cat"] * 74) + f"({eight})")
    assert ids(first) == [BOS] + [CAT] * 74 + [RED, EOS]
    assert ids(second)[:9] == [BOS, CIRCLE, BLUE, RED, CIRCLE, BLUE, RED, CIRCLE, EOS]
    assert weights(first)[75] == pytest.approx(1.1) and weights(second)[1] == pytest.approx(1.1)


def test_pack_chunks_rules() -> None:
    w = 1.0
    groups = [[(1, w)] * 70, [(2, w)] * 7, [(3, w)] * 3]
    first, second = pack_chunks(groups, start=9, end=8, pad=0, length=77)
    assert ids(first) == [9] + [1] * 70 + [8] + [0] * 5
    assert ids(second)[:12] == [9] + [2] * 7 + [3] * 3 + [8]
    # exactly 75 tokens fit in one chunk
    (only,) = pack_chunks([[(1, w)] * 75], start=9, end=8, pad=0)
    assert ids(only) == [9] + [1] * 75 + [8]
    # a very long word spans three chunks
    three = pack_chunks([[(1, w)] * 160], start=9, end=8, pad=0)
    assert [ids(c).count(1) for c in three] == [75, 75, 10]


def write_embedding(folder: Path, name: str, rows: torch.Tensor) -> Path:
    import safetensors.torch

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    safetensors.torch.save_file({"emb_params": rows.contiguous()}, str(path))
    return path


def test_embedding_rows_take_positions_with_the_surrounding_weight(tmp_path: Path) -> None:
    rows = torch.arange(3 * 4, dtype=torch.float32).reshape(3, 4)
    write_embedding(tmp_path, "style", rows)
    (chunk,) = tokenize_with_weights(load_tokenizer(), "red (embedding:style:1.3) blue", [tmp_path])
    tokens = ids(chunk)
    assert tokens[:2] == [BOS, RED]
    assert all(torch.equal(tokens[2 + i], rows[i]) for i in range(3))  # type: ignore[arg-type]
    assert tokens[5:7] == [BLUE, EOS]
    assert weights(chunk)[2:5] == [1.3, 1.3, 1.3]


def test_embedding_syntax_rules(tmp_path: Path) -> None:
    write_embedding(tmp_path / "sub", "style", torch.ones(1, 4))
    tok = load_tokenizer()

    def vectors(text: str) -> int:
        (chunk,) = tokenize_with_weights(tok, text, [tmp_path])
        return sum(isinstance(t, torch.Tensor) for t in ids(chunk))

    assert vectors("embedding:style") == 1  # found in a subfolder, extension omitted
    assert vectors("embedding:sub/style.safetensors") == 1
    assert vectors("red\tembedding:style") == 1  # any whitespace before it
    assert vectors("red,embedding:style") == 0  # must follow whitespace
    (chunk,) = tokenize_with_weights(tok, "embedding:style,, red", [tmp_path])
    assert isinstance(ids(chunk)[1], torch.Tensor)
    assert ids(chunk)[2:4] == tok(",, red", add_special_tokens=False)["input_ids"]
    (chunk,) = tokenize_with_weights(tok, "embedding:style[red]", [tmp_path])
    assert ids(chunk)[2:5] == tok("[red]", add_special_tokens=False)["input_ids"]


def test_embedding_syntax_is_text_without_folders() -> None:
    tok = load_tokenizer()
    (chunk,) = tokenize_with_weights(tok, "embedding:style", None)
    assert ids(chunk)[:-1] != [BOS] + [EOS] * 75
    assert all(isinstance(t, int) for t in ids(chunk))


def test_missing_embedding_warns_and_is_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        (chunk,) = tokenize_with_weights(load_tokenizer(), "red embedding:nope blue", [tmp_path])
    assert ids(chunk)[:4] == [BOS, RED, BLUE, EOS]
    assert "warning, embedding:nope does not exist, ignoring" in caplog.text


def test_embedding_names_cannot_escape_the_folder(tmp_path: Path) -> None:
    inside = tmp_path / "embeddings"
    inside.mkdir()
    write_embedding(tmp_path, "outside", torch.ones(1, 4))
    (chunk,) = tokenize_with_weights(load_tokenizer(), "embedding:../outside", [inside])
    assert ids(chunk) == [BOS] + [EOS] * 76
