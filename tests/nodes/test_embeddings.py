"""Textual-inversion files: A1111 .pt, safetensors variants, lists, bundles, legacy zips, lookup."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch
import torch

from nodes.sd.embeddings import EmbeddingFormatError, find_embedding, load_embedding

WIDTH = 64


def vectors(n: int, seed: int = 0, width: int = WIDTH) -> torch.Tensor:
    return torch.randn(n, width, generator=torch.Generator().manual_seed(seed))


def a1111_pt(path: Path, rows: torch.Tensor) -> Path:
    data = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": torch.nn.Parameter(rows.clone())},
        "name": path.stem,
        "step": 1500,
        "sd_checkpoint": "abc123",
        "sd_checkpoint_name": "model",
    }
    torch.save(data, path)
    return path


@pytest.mark.parametrize("count", [1, 3])
def test_a1111_pt(tmp_path: Path, count: int) -> None:
    rows = vectors(count)
    loaded = load_embedding(a1111_pt(tmp_path / "x.pt", rows), WIDTH)
    assert loaded.dtype == torch.float32 and not loaded.requires_grad
    assert torch.equal(loaded, rows)


@pytest.mark.parametrize("count", [1, 3])
def test_safetensors_emb_params(tmp_path: Path, count: int) -> None:
    rows = vectors(count, seed=1)
    path = tmp_path / "x.safetensors"
    safetensors.torch.save_file({"emb_params": rows}, str(path))
    assert torch.equal(load_embedding(path, WIDTH), rows)


def test_safetensors_keyed_by_encoder_picks_clip_l(tmp_path: Path) -> None:
    clip_l, clip_g = vectors(2, seed=2), vectors(2, seed=3, width=96)
    path = tmp_path / "sdxl.safetensors"
    safetensors.torch.save_file({"clip_g": clip_g, "clip_l": clip_l}, str(path))
    assert torch.equal(load_embedding(path, WIDTH), clip_l)


def test_single_vector_and_half_precision(tmp_path: Path) -> None:
    row = vectors(1, seed=4)[0].half()
    path = tmp_path / "one.pt"
    torch.save({"emb": row}, path)
    loaded = load_embedding(path, WIDTH)
    assert loaded.shape == (1, WIDTH) and loaded.dtype == torch.float32
    assert torch.equal(loaded[0], row.float())


def test_list_of_dicts_keeps_rows_of_the_encoder_width(tmp_path: Path) -> None:
    a, b, other = vectors(2, seed=5), vectors(1, seed=6), vectors(1, seed=7, width=32)
    path = tmp_path / "list.pt"
    torch.save([{"a": a, "skip": other}, {"b": b}], path)
    assert torch.equal(load_embedding(path, WIDTH), torch.cat([a, b]))


def test_embedding_bundled_in_a_lora(tmp_path: Path) -> None:
    rows = vectors(2, seed=8)
    path = tmp_path / "lora.safetensors"
    tensors = {"lora_unet_x.alpha": torch.tensor(1.0), "bundle_emb.style.string_to_param.*": rows}
    safetensors.torch.save_file(tensors, str(path))
    assert torch.equal(load_embedding(path, WIDTH), rows)


class NotAllowed:
    """Any class makes torch's weights-only loader refuse the file."""


def test_legacy_pickle_is_read_as_raw_floats_without_unpickling(tmp_path: Path) -> None:
    rows = vectors(12, seed=9)  # 768 floats: the smallest record ComfyUI accepts
    path = tmp_path / "legacy.pt"
    torch.save({"obj": NotAllowed(), "vec": rows}, path)
    assert torch.equal(load_embedding(path, WIDTH), rows)


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a pickle")
    with pytest.raises(EmbeddingFormatError, match=r"bad\.pt"):
        load_embedding(path, WIDTH)
    empty = tmp_path / "empty.pt"
    torch.save({"name": "no tensors"}, empty)
    with pytest.raises(EmbeddingFormatError, match="no embedding vectors"):
        load_embedding(empty, WIDTH)


def test_lookup_order_and_extensions(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "nested").mkdir(parents=True)
    second.mkdir()
    (second / "style.pt").write_bytes(b"x")
    (first / "nested" / "style.bin").write_bytes(b"x")
    (second / "exact").write_bytes(b"x")
    assert find_embedding("style", [first, second]) == first / "nested" / "style.bin"
    assert find_embedding("style", [second, first]) == second / "style.pt"
    assert find_embedding("exact", [first, second]) == second / "exact"
    assert find_embedding("nested/style", [first]) == first / "nested" / "style.bin"
    assert find_embedding("missing", [first, second]) is None
    assert find_embedding("", [first]) is None


def test_lookup_rejects_paths_outside_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "embeddings"
    folder.mkdir()
    (tmp_path / "secret.pt").write_bytes(b"x")
    assert find_embedding("../secret", [folder]) is None
    assert find_embedding(str(tmp_path / "secret.pt"), [folder]) is None
