"""The SD1.x CLIP tokenizer (built offline from the vendored BPE vocabulary) and ComfyUI's
prompt tokenization: weights, `embedding:` names and packing into 77-token chunks."""

from __future__ import annotations

import functools
import gzip
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodes.sd.embeddings import find_embedding, load_embedding
from nodes.sd.prompt_weights import parse_prompt_weights

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

log = logging.getLogger(__name__)

VOCAB_PATH = Path(__file__).parent / "data" / "bpe_simple_vocab_16e6.txt.gz"
MERGE_COUNT = 49152 - 256 - 2
"""CLIP uses the first 48,894 merges of the file (49,408 tokens in all)."""
BOS, EOS = "<|startoftext|>", "<|endoftext|>"

CHUNK_LENGTH = 77
"""Tokens per chunk: BOS, 75 prompt tokens, EOS (SD1.x CLIP's context length)."""
MAX_WORD_LENGTH = 8
"""A word of at least this many tokens may be split across chunks; shorter ones move whole."""
EMBEDDING_PREFIX = "embedding:"

Token = int | torch.Tensor
"""A vocabulary id, or one embedding vector [width] that takes a token position."""
WeightedToken = tuple[Token, float]
Chunk = list[WeightedToken]

_EMBEDDING_SPLIT = re.compile(r"(?<=\s)" + re.escape(EMBEDDING_PREFIX))
_NAME_END = re.compile(r"[<\[]")


def _byte_symbols() -> list[str]:
    """CLIP's byte-to-unicode table, in vocabulary order (printable bytes first)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    codes = list(printable)
    extra = 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def read_bpe_vocab(path: Path = VOCAB_PATH) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Vocabulary and merges of a CLIP `bpe_simple_vocab_16e6.txt.gz` file."""
    lines = gzip.decompress(Path(path).read_bytes()).decode("utf-8").split("\n")
    pairs = [line.split() for line in lines[1 : MERGE_COUNT + 1]]
    if len(pairs) != MERGE_COUNT or any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"{path}: not a CLIP BPE vocabulary ({len(pairs)} merge lines)")
    merges = [(first, second) for first, second in pairs]
    symbols = _byte_symbols()
    tokens = [*symbols, *(s + "</w>" for s in symbols), *(a + b for a, b in merges), BOS, EOS]
    return {token: i for i, token in enumerate(tokens)}, merges


@functools.cache
def load_tokenizer() -> CLIPTokenizer:
    """The CLIP tokenizer of SD1.x (49,408 tokens, pads with EOS, 77 positions), built once
    per process in memory from the vendored vocabulary; nothing is downloaded or written."""
    from transformers import CLIPTokenizer

    vocab, merges = read_bpe_vocab()
    return CLIPTokenizer(
        vocab=vocab,
        merges=merges,  # type: ignore[arg-type]  # the tokenizers backend wants (a, b) pairs
        unk_token=EOS,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=EOS,
        model_max_length=CHUNK_LENGTH,
    )


def tokenize_with_weights(
    tokenizer: Any,
    text: str,
    embedding_dirs: Sequence[Path] | None = None,
    embedding_width: int | None = None,
) -> list[Chunk]:
    """Split a prompt into 77-token chunks of (token, weight), like ComfyUI's SD1 tokenizer.

    `embedding:<name>` loads a textual-inversion embedding from `embedding_dirs` (None turns
    the syntax off, so the words are tokenized as text); each of its vectors takes one position.
    """
    groups: list[Chunk] = []
    for segment, weight in parse_prompt_weights(text):
        for piece in _split_embeddings(segment):
            if piece.startswith(EMBEDDING_PREFIX) and embedding_dirs is not None:
                rows, leftover = _embedding_rows(
                    piece[len(EMBEDDING_PREFIX) :], embedding_dirs, embedding_width
                )
                if rows is not None:
                    groups.append([(row, weight) for row in rows])
                if not leftover:
                    continue
                piece = leftover
            groups.append([(t, weight) for t in _token_ids(tokenizer, piece)])
    return pack_chunks(
        groups, tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id
    )


def pack_chunks(
    groups: Sequence[Sequence[WeightedToken]],
    start: int,
    end: int,
    pad: int,
    length: int = CHUNK_LENGTH,
    max_word_length: int = MAX_WORD_LENGTH,
) -> list[Chunk]:
    """Pack token groups (words) into chunks of `length`: start token, tokens, end token,
    padding. A group that does not fit moves whole to the next chunk unless it has at least
    `max_word_length` tokens, in which case it is split at the chunk boundary."""
    room = length - 1  # the end token always needs a slot
    chunks: list[Chunk] = []
    chunk: Chunk = [(start, 1.0)]
    chunks.append(chunk)
    for group in groups:
        pending = list(group)
        splittable = len(pending) >= max_word_length
        while pending:
            if len(chunk) + len(pending) <= room:
                chunk.extend(pending)
                break
            free = room - len(chunk)
            if splittable:
                chunk.extend(pending[:free])
                pending = pending[free:]
                chunk.append((end, 1.0))
            else:
                chunk.append((end, 1.0))
                chunk.extend([(pad, 1.0)] * free)
            chunk = [(start, 1.0)]
            chunks.append(chunk)
    chunk.append((end, 1.0))
    chunk.extend([(pad, 1.0)] * (length - len(chunk)))
    return chunks


def _split_embeddings(segment: str) -> list[str]:
    """Cut a segment before every `embedding:` that follows whitespace; drop empty pieces."""
    first, *rest = _EMBEDDING_SPLIT.split(segment)
    pieces = [first, *(EMBEDDING_PREFIX + p for p in rest)]
    return [p for p in pieces if p]


def _embedding_rows(
    raw: str, dirs: Sequence[Path], width: int | None
) -> tuple[torch.Tensor | None, str]:
    """Resolve the text after `embedding:` into (vectors or None, leftover text to tokenize).

    The name ends at whitespace, `<` or `[`; trailing (and leading) commas are stripped and
    retried, and then go back to the text. A missing one is logged and dropped.
    """
    words = raw.strip("\n").split()
    name = words[0] if words else ""
    leftover = " ".join(words[1:])
    cut = _NAME_END.search(name)
    if cut is not None:
        leftover = name[cut.start() :] + (" " + leftover if leftover else "")
        name = name[: cut.start()]
    rows = _load(name, dirs, width)
    if rows is None:
        stripped = name.strip(",")
        if len(stripped) < len(name):
            rows = _load(stripped, dirs, width)
            leftover = f"{name[len(stripped) :]} {leftover}"
    if rows is None:
        log.warning("warning, embedding:%s does not exist, ignoring", name)
    return rows, leftover


def _load(name: str, dirs: Sequence[Path], width: int | None) -> torch.Tensor | None:
    path = find_embedding(name, dirs)
    if path is None:
        return None
    try:
        return load_embedding(path, width)
    except Exception as ex:
        log.warning("error loading embedding %s (%s), skipping it: %s", name, path, ex)
        return None


def _token_ids(tokenizer: Any, text: str) -> list[int]:
    """Vocabulary ids of `text` without BOS/EOS (no length warning: chunking handles it)."""
    ids: list[int] = tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"]
    return ids
