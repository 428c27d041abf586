"""Checkpoint files: single-file LDM save/load round trips, standalone parts, diffusers folders,
and clear errors for files that are not SD1.x checkpoints."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from nodes.sd import convert_ldm as conv
from nodes.sd.checkpoint import (
    CheckpointKeysError,
    load_checkpoint,
    load_text_encoder,
    load_unet,
    load_vae,
    save_ldm_checkpoint,
)
from nodes.sd.detect import UnsupportedModelError
from nodes.sd.state_dict import CheckpointFormatError, load_state_dict
from nodes.sd.tiny import make_tiny_models, tiny_components

Models = tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]


@pytest.fixture(scope="module")
def reference() -> Models:
    return tiny_components(0)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_tiny_models(tmp_path_factory.mktemp("models"), seed=0)


def assert_same(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Every parameter and buffer equal, bit for bit."""
    sa = {**dict(a.named_parameters()), **dict(a.named_buffers())}
    sb = {**dict(b.named_parameters()), **dict(b.named_buffers())}
    assert sa.keys() == sb.keys()
    different = [k for k in sa if sa[k].dtype != sb[k].dtype or not torch.equal(sa[k], sb[k])]
    assert not different, different[:5]


def test_single_file_round_trip_is_bit_exact(files: dict[str, Path], reference: Models) -> None:
    unet, text, vae = reference
    for name in ("checkpoint", "checkpoint_ckpt"):
        loaded = load_checkpoint(files[name])
        assert_same(loaded.unet, unet)
        assert_same(loaded.text_model, text)
        assert_same(loaded.vae, vae)
        for model in (loaded.unet, loaded.text_model, loaded.vae):
            assert not model.training
            assert not any(p.requires_grad for p in model.parameters())
        assert loaded.description.startswith(f"{files[name].name}: SD1.x: UNet 32/64/64/64 x2")


def test_ckpt_and_safetensors_hold_the_same_tensors(files: dict[str, Path]) -> None:
    st = load_state_dict(files["checkpoint"])
    ckpt = load_state_dict(files["checkpoint_ckpt"])
    assert st.keys() == ckpt.keys()
    assert all(torch.equal(st[k], ckpt[k]) and st[k].dtype == ckpt[k].dtype for k in st)
    raw = torch.load(files["checkpoint_ckpt"], weights_only=True)
    assert list(raw) == ["state_dict"]


def test_saved_file_uses_the_ldm_layout(files: dict[str, Path]) -> None:
    with safe_open(files["checkpoint"], "pt") as f:
        shapes = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        position_ids = f.get_tensor(f"{conv.CLIP_PREFIX}text_model.embeddings.position_ids")
    u, v = "model.diffusion_model.", "first_stage_model."
    assert shapes[f"{u}input_blocks.0.0.weight"] == [32, 4, 3, 3]
    assert shapes[f"{u}input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"] == [32, 64]
    assert shapes[f"{u}output_blocks.2.1.conv.weight"] == [64, 64, 3, 3]
    assert shapes[f"{u}output_blocks.5.2.conv.weight"] == [64, 64, 3, 3]
    assert shapes[f"{u}middle_block.1.proj_in.weight"] == [64, 64, 1, 1]
    assert shapes[f"{v}encoder.mid.attn_1.q.weight"] == [64, 64, 1, 1]
    assert shapes[f"{v}encoder.down.2.block.0.nin_shortcut.weight"] == [64, 32, 1, 1]
    assert shapes[f"{v}decoder.up.1.block.0.nin_shortcut.weight"] == [32, 64, 1, 1]
    assert shapes[f"{v}decoder.up.3.upsample.conv.weight"] == [64, 64, 3, 3]
    assert f"{v}decoder.up.0.upsample.conv.weight" not in shapes
    assert shapes["cond_stage_model.transformer.text_model.final_layer_norm.weight"] == [64]
    assert position_ids.dtype == torch.int64
    assert torch.equal(position_ids, torch.arange(77).unsqueeze(0))
    assert not any(k.startswith(("unet.", "vae.", "text_encoder.", "down_blocks")) for k in shapes)
    assert len(shapes) == sum(k.startswith((u, v, "cond_stage_model.")) for k in shapes)


def test_load_in_half_precision(files: dict[str, Path]) -> None:
    loaded = load_checkpoint(files["checkpoint"], dtype=torch.float16)
    assert {p.dtype for p in loaded.unet.parameters()} == {torch.float16}
    assert {p.dtype for p in loaded.vae.parameters()} == {torch.float16}
    assert loaded.text_model.embeddings.position_ids.dtype == torch.int64


def test_extras_beside_the_models_are_ignored(tmp_path: Path, files: dict[str, Path]) -> None:
    sd = load_file(files["checkpoint"])
    sd["alphas_cumprod"] = torch.linspace(1, 0, 1000)
    sd["model_ema.decay"] = torch.tensor(0.9999)
    sd["model_ema.diffusion_modelinput_blocks00weight"] = torch.zeros(1)
    save_file(sd, tmp_path / "extras.safetensors")
    loaded = load_checkpoint(tmp_path / "extras.safetensors")
    assert loaded.unet.config.cross_attention_dim == 64


def test_lightning_ckpt_loads(tmp_path: Path, files: dict[str, Path], reference: Models) -> None:
    """A training checkpoint with Lightning callback metadata, as SD1.x .ckpt files carry."""
    names = ["pytorch_lightning", "pytorch_lightning.callbacks"]
    names.append("pytorch_lightning.callbacks.model_checkpoint")
    for name in names:
        sys.modules[name] = types.ModuleType(name)
    callback = type("ModelCheckpoint", (), {"__module__": names[-1]})
    sys.modules[names[-1]].ModelCheckpoint = callback  # type: ignore[attr-defined]
    try:
        obj = {"state_dict": load_file(files["checkpoint"]), "callbacks": {callback: {}}}
        torch.save(obj, tmp_path / "trained.ckpt")
    finally:
        for name in names:
            del sys.modules[name]
    loaded = load_checkpoint(tmp_path / "trained.ckpt")
    assert_same(loaded.unet, reference[0])


def test_standalone_vae(files: dict[str, Path], reference: Models, tmp_path: Path) -> None:
    vae = reference[2]
    assert_same(load_vae(files["vae"]), vae)
    assert_same(load_vae(files["checkpoint"]), vae)  # a checkpoint's VAE
    save_file(vae.state_dict(), tmp_path / "diffusers_vae.safetensors")
    assert_same(load_vae(tmp_path / "diffusers_vae.safetensors"), vae)
    linear = conv.vae_diffusers_to_ldm(vae.state_dict(), conv_attention=False)
    save_file(conv.add_prefix(linear, "first_stage_model."), tmp_path / "linear.safetensors")
    assert_same(load_vae(tmp_path / "linear.safetensors"), vae)


def test_standalone_unet(reference: Models, tmp_path: Path) -> None:
    unet = reference[0]
    ldm = conv.unet_diffusers_to_ldm(unet.state_dict())
    variants = {
        "bare.safetensors": ldm,
        "prefixed.safetensors": conv.add_prefix(ldm, conv.UNET_PREFIX),
        "diffusers.safetensors": {k: v.contiguous() for k, v in unet.state_dict().items()},
    }
    for name, sd in variants.items():
        save_file(sd, tmp_path / name)
        assert_same(load_unet(tmp_path / name), unet)


def test_standalone_text_encoder(reference: Models, tmp_path: Path) -> None:
    text = reference[1]
    flat = text.state_dict()
    variants = {
        "flat.safetensors": flat,
        "hf.safetensors": {
            **conv.add_prefix(flat, "text_model."),
            "text_projection.weight": torch.zeros(64, 64),
        },
        "ldm.safetensors": conv.add_prefix(conv.clip_transformers_to_ldm(flat), conv.CLIP_PREFIX),
    }
    for name, sd in variants.items():
        save_file(sd, tmp_path / name)
        assert_same(load_text_encoder(tmp_path / name), text)


def test_diffusers_folder(tmp_path: Path) -> None:
    unet, text, vae = tiny_components(5)
    root = tmp_path / "tiny-diffusers"
    unet.save_pretrained(root / "unet")
    vae.save_pretrained(root / "vae")
    text.save_pretrained(root / "text_encoder")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    loaded = load_checkpoint(root)
    assert_same(loaded.unet, unet)
    assert_same(loaded.text_model, text)
    assert_same(loaded.vae, vae)
    assert loaded.description.startswith("tiny-diffusers (diffusers): SD1.x")
    old_names = {  # diffusers < 0.14 VAE attention names, as in SD1.5's own folder
        k.replace(".to_q.", ".query.").replace(".to_out.0.", ".proj_attn."): v
        for k, v in vae.state_dict().items()
    }
    assert any(".query." in k for k in old_names)
    save_file(old_names, root / "vae" / "diffusion_pytorch_model.safetensors")
    assert_same(load_checkpoint(root).vae, vae)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    with pytest.raises(UnsupportedModelError, match="StableDiffusionXLPipeline"):
        load_checkpoint(root)
    with pytest.raises(FileNotFoundError, match=r"no model_index\.json"):
        load_checkpoint(root / "unet")


def test_missing_and_unexpected_keys_are_named(tmp_path: Path, files: dict[str, Path]) -> None:
    sd = load_file(files["checkpoint"])
    del sd["model.diffusion_model.input_blocks.1.1.proj_out.weight"]
    sd["model.diffusion_model.input_blocks.1.1.extra.weight"] = torch.zeros(1)
    save_file(sd, tmp_path / "broken.safetensors")
    with pytest.raises(CheckpointKeysError) as info:
        load_checkpoint(tmp_path / "broken.safetensors")
    message = str(info.value)
    assert message.startswith("broken.safetensors: UNet weights do not match")
    assert "1 missing (model.diffusion_model.input_blocks.1.1.proj_out.weight)" in message
    assert "1 unexpected (model.diffusion_model.input_blocks.1.1.extra.weight)" in message


def test_wrong_shapes_are_named(tmp_path: Path, files: dict[str, Path]) -> None:
    sd = load_file(files["checkpoint"])
    sd["first_stage_model.encoder.mid.attn_1.q.weight"] = torch.zeros(64, 64, 3, 3)
    save_file(sd, tmp_path / "shapes.safetensors")
    with pytest.raises(CheckpointKeysError, match=r"encoder\.mid\.attn_1\.q\.weight \[64, 64, 3"):
        load_checkpoint(tmp_path / "shapes.safetensors")


def test_unsupported_and_unreadable_files(tmp_path: Path, files: dict[str, Path]) -> None:
    sd = load_file(files["checkpoint"])
    sd["conditioner.embedders.1.model.token_embedding.weight"] = torch.zeros(2, 2)
    save_file(sd, tmp_path / "xl.safetensors")
    with pytest.raises(UnsupportedModelError, match=r"^xl\.safetensors: SDXL checkpoint"):
        load_checkpoint(tmp_path / "xl.safetensors")
    with pytest.raises(UnsupportedModelError, match=r"not a full SD1\.x checkpoint"):
        load_checkpoint(files["vae"])
    text = tmp_path / "readme.safetensors"
    text.write_text("this is a text file, not weights\n")
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(bytes(range(7, 255)) * 40)
    empty = tmp_path / "empty.safetensors"
    empty.write_bytes(b"")
    for path, problem in ((text, "neither a safetensors"), (junk, "neither"), (empty, "empty")):
        with pytest.raises(CheckpointFormatError, match=problem) as info:
            load_checkpoint(path)
        assert path.name in str(info.value)
    with pytest.raises(FileNotFoundError, match="no such model file"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_truncated_safetensors_is_a_format_error(tmp_path: Path, files: dict[str, Path]) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(files["vae"].read_bytes()[:100_000])
    with pytest.raises(CheckpointFormatError, match=r"cut\.safetensors"):
        load_state_dict(cut)


def test_state_dict_unwraps_and_drops_metadata(tmp_path: Path) -> None:
    torch.save({"state_dict": {"a": torch.ones(2), "step": 3}, "epoch": 1}, tmp_path / "w.ckpt")
    assert list(load_state_dict(tmp_path / "w.ckpt")) == ["a"]
    torch.save({"b": torch.zeros(1), "name": "x"}, tmp_path / "flat.pt")
    assert list(load_state_dict(tmp_path / "flat.pt")) == ["b"]


def test_save_refuses_unknown_extension(tmp_path: Path, reference: Models) -> None:
    with pytest.raises(ValueError, match=r"unknown checkpoint extension '\.onnx'"):
        save_ldm_checkpoint(tmp_path / "m.onnx", *reference)
