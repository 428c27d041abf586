"""The tiny SD1.x family: deterministic files, SD-shaped models, sane activations."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nodes.sd.sd1_configs import TINY_UNET
from nodes.sd.tiny import main, make_tiny_models, tiny_components

PROMPT_IDS = [49406, 320, 1125, 539, 320, 2368, 49407]  # "a photo of a cat"


def test_files_are_bit_identical_for_a_seed(tmp_path: Path) -> None:
    first = make_tiny_models(tmp_path / "a", seed=7)
    second = make_tiny_models(tmp_path / "b", seed=7)
    other = make_tiny_models(tmp_path / "c", seed=8)
    assert set(first) == {
        "checkpoint",
        "checkpoint_ckpt",
        "vae",
        "lora",
        "controlnet",
        "hypernetwork",
        "embedding",
    }
    assert first["checkpoint"] == tmp_path / "a" / "checkpoints" / "tiny-sd1.safetensors"
    assert first["checkpoint_ckpt"] == tmp_path / "a" / "checkpoints" / "tiny-sd1.ckpt"
    assert first["vae"] == tmp_path / "a" / "vae" / "tiny-vae.safetensors"
    for name in first:
        assert first[name].read_bytes() == second[name].read_bytes(), name
        assert first[name].read_bytes() != other[name].read_bytes(), name


def test_components_are_seeded_and_leave_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = tiny_components(1)
    assert torch.equal(torch.rand(3), expected)
    b = tiny_components(1)
    c = tiny_components(2)
    for ma, mb, mc in zip(a, b, c, strict=True):
        sa, sb, sc = ma.state_dict(), mb.state_dict(), mc.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
        assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].is_floating_point())


def test_architecture_is_sd1_shaped() -> None:
    unet, text, vae = tiny_components(0)
    assert unet.config.block_out_channels == TINY_UNET["block_out_channels"]
    assert len(unet.down_blocks) == 4 and len(unet.down_blocks[0].resnets) == 2
    assert unet.config.cross_attention_dim == text.config.hidden_size == 64
    assert text.config.vocab_size == 49408 and text.config.max_position_embeddings == 77
    assert text.config.num_attention_heads == 1 and text.config.num_hidden_layers == 2
    assert vae.config.latent_channels == 4 and len(vae.config.block_out_channels) == 4
    for model in (unet, text, vae):
        assert not model.training
        assert not any(p.requires_grad for p in model.parameters())


def test_random_weights_give_usable_activations() -> None:
    unet, text, vae = tiny_components(0)
    ids = torch.tensor([PROMPT_IDS + [49407] * (77 - len(PROMPT_IDS))])
    generator = torch.Generator().manual_seed(0)
    latent = torch.randn(1, 4, 8, 8, generator=generator)
    with torch.no_grad():
        context = text(ids).last_hidden_state
        eps = unet(latent, 999, encoder_hidden_states=context).sample
        image = vae.decode(latent / vae.config.scaling_factor).sample
        encoded = vae.encode(torch.rand(1, 3, 64, 64) * 2 - 1).latent_dist.mean
    assert context.shape == (1, 77, 64)
    assert eps.shape == latent.shape and image.shape == (1, 3, 64, 64)
    assert encoded.shape == (1, 4, 8, 8)
    for name, t in (("text", context), ("unet", eps), ("image", image), ("latent", encoded)):
        assert torch.isfinite(t).all(), name
        assert 1e-3 < t.std().item() < 100, (name, t.std().item())


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    for relative in ("checkpoints/tiny-sd1.safetensors", "checkpoints/tiny-sd1.ckpt"):
        assert (tmp_path / relative).is_file()
        assert str(tmp_path / relative) in out
    assert (tmp_path / "vae" / "tiny-vae.safetensors").is_file()
    expected = make_tiny_models(tmp_path / "again", seed=3)["vae"].read_bytes()
    assert (tmp_path / "vae" / "tiny-vae.safetensors").read_bytes() == expected
    with pytest.raises(SystemExit):
        main(["--seed", "x"])
