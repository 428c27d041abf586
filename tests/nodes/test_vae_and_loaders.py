"""Loader nodes, the model manager's sharing and memory budget, and the VAE nodes (whole,
tiled, inpaint) on the tiny family."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from nodegraph import Context, InterruptFlag
from nodegraph.cli import main
from nodegraph.settings import Settings
from nodes import loaders, vae
from nodes.model_management import ModelManager, module_bytes
from nodes.types import Latent


@pytest.fixture
def ctx(tmp_path: Path, tiny_models: Path) -> Context:
    settings = Settings(base_dir=tmp_path, models_dir=tiny_models)
    return Context("1", "p", settings, InterruptFlag(), services={"models": ModelManager()})


def test_checkpoint_loader_shares_one_copy(ctx: Context) -> None:
    model, clip, first_vae = loaders.checkpoint_loader_simple(
        ckpt_name="tiny-sd1.safetensors", ctx=ctx
    )
    again = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    assert again[0].unet is model.unet and again[1].text_model is clip.text_model
    assert again[2].vae is first_vae.vae
    other = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.ckpt", ctx=ctx)
    assert other[0].unet is not model.unet
    for a, b in zip(other[0].unet.parameters(), model.unet.parameters(), strict=True):
        assert torch.equal(a, b)
    assert ctx.services["models"].loads == 2


def test_standalone_loaders(ctx: Context, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from nodes.sd.checkpoint import load_checkpoint

    loaded = load_checkpoint(ctx.models_dir / "checkpoints" / "tiny-sd1.safetensors")
    models = tmp_path / "models"
    shutil.copytree(ctx.models_dir, models)
    (models / "unet").mkdir()
    (models / "text_encoders").mkdir()
    save_file(dict(loaded.unet.state_dict()), str(models / "unet" / "u.safetensors"))
    clip_state = {k: v.contiguous() for k, v in loaded.text_model.state_dict().items()}
    save_file(clip_state, str(models / "text_encoders" / "c.safetensors"))
    settings = Settings(base_dir=tmp_path, models_dir=models)
    ctx = Context("1", "p", settings, InterruptFlag(), services={"models": ModelManager()})
    model = loaders.unet_loader(unet_name="u.safetensors", ctx=ctx)
    clip = loaders.clip_loader(clip_name="c.safetensors", ctx=ctx)
    loaded_vae = loaders.vae_loader(vae_name="tiny-vae.safetensors", ctx=ctx)
    for a, b in zip(model.unet.parameters(), loaded.unet.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(clip.text_model.parameters(), loaded.text_model.parameters(), strict=True):
        assert torch.equal(a, b)
    for a, b in zip(loaded_vae.vae.parameters(), loaded.vae.parameters(), strict=True):
        assert torch.equal(a, b)


def test_manager_evicts_least_recently_used_over_budget(tmp_path: Path) -> None:
    files = []
    for name in "abc":
        path = tmp_path / name
        path.write_text(name)
        files.append(path)
    layer = lambda: torch.nn.Linear(100, 100)  # noqa: E731
    size = module_bytes(layer())
    models = ModelManager(budget_bytes=int(size * 2.5))
    a = models.load("x", files[0], layer)
    models.load("x", files[1], layer)
    assert models.load("x", files[0], layer) is a  # touch a: b is now least recent
    models.load("x", files[2], layer)
    kept = {Path(p).name for _, p, _ in models.loaded()}
    assert kept == {"a", "c"}
    assert models.loads == 3
    files[0].write_text("changed file")  # a replaced file is loaded again
    assert models.load("x", files[0], layer) is not a


def test_device_and_dtype_choice() -> None:
    models = ModelManager(device="cpu")
    assert models.device.type == "cpu"
    assert models.dtypes.unet == torch.float32 and models.dtypes.vae == torch.float32


def test_vae_round_trip_and_tiled_matches_whole(ctx: Context) -> None:
    _, _, tiny_vae = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    torch.manual_seed(0)
    latent = Latent(samples=torch.randn(2, 4, 16, 16))
    image = vae.vae_decode(samples=latent, vae=tiny_vae, ctx=ctx)
    assert image.shape == (2, 128, 128, 3)
    tiled = vae.vae_decode_tiled(samples=latent, vae=tiny_vae, tile_size=64, overlap=32, ctx=ctx)
    assert tiled.shape == image.shape
    # each tile normalises and attends over itself only, so a (random) VAE differs somewhat
    assert (tiled - image).abs().mean() < 0.15
    encoded = vae.vae_encode(pixels=image, vae=tiny_vae, ctx=ctx)
    assert encoded.samples.shape == (2, 4, 16, 16)
    tiled_enc = vae.vae_encode_tiled(pixels=image, vae=tiny_vae, tile_size=64, overlap=32, ctx=ctx)
    assert tiled_enc.samples.shape == (2, 4, 16, 16)
    similarity = torch.nn.functional.cosine_similarity(
        tiled_enc.samples.flatten(), encoded.samples.flatten(), dim=0
    )
    assert similarity > 0.8


def test_vae_encode_crops_to_multiples_of_eight(ctx: Context) -> None:
    _, _, tiny_vae = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    out = vae.vae_encode(pixels=torch.rand(1, 70, 93, 3), vae=tiny_vae, ctx=ctx)
    assert out.samples.shape == (1, 4, 8, 11)


def test_vae_encode_for_inpaint_blanks_and_masks(ctx: Context) -> None:
    _, _, tiny_vae = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:32, 16:32] = 1
    out = vae.vae_encode_for_inpaint(
        pixels=torch.rand(1, 64, 64, 3), vae=tiny_vae, mask=mask, grow_mask_by=6, ctx=ctx
    )
    assert out.samples.shape == (1, 4, 8, 8)
    assert out.noise_mask is not None and out.noise_mask.shape == (1, 1, 64, 64)
    grown = out.noise_mask[0, 0]
    assert grown[16:32, 16:32].min() == 1 and grown[14, 14] == 1 and grown[0, 0] == 0
    # the masked pixels were set to grey before encoding: same latent for any content there
    pixels = torch.rand(1, 64, 64, 3)
    a = vae.vae_encode_for_inpaint(pixels=pixels, vae=tiny_vae, mask=mask, grow_mask_by=0, ctx=ctx)
    pixels[:, 16:32, 16:32] = 0.0
    b = vae.vae_encode_for_inpaint(pixels=pixels, vae=tiny_vae, mask=mask, grow_mask_by=0, ctx=ctx)
    assert torch.allclose(a.samples, b.samples)


def test_bad_latent_names_the_node(ctx: Context) -> None:
    _, _, tiny_vae = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    with pytest.raises(ValueError, match=r"VAEDecode: samples has shape \[1, 3, 8, 8\]"):
        vae.vae_decode(samples=Latent(samples=torch.zeros(1, 3, 8, 8)), vae=tiny_vae, ctx=ctx)


def test_tiling_blends_seams_exactly_for_local_operations() -> None:
    from nodes.sd.vae_codec import tiled

    x = torch.randn(2, 4, 37, 21)

    def up(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.interpolate(t, scale_factor=8, mode="nearest")[:, :3]

    assert torch.allclose(tiled(up, x, 16, 6, 8, 3), up(x), atol=1e-5)
    y = torch.randn(1, 3, 200, 136)

    def down(t: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(t, 8)

    assert torch.allclose(tiled(down, y, 64, 32, 1 / 8, 3), down(y), atol=1e-5)


def test_make_tiny_models_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["make-tiny-models", str(tmp_path), "--seed", "0"]) == 0
    assert (tmp_path / "checkpoints" / "tiny-sd1.safetensors").is_file()
    assert (tmp_path / "checkpoints" / "tiny-sd1.ckpt").is_file()
    assert (tmp_path / "vae" / "tiny-vae.safetensors").is_file()


def test_diffusers_folders_load_through_both_loader_nodes(tmp_path: Path) -> None:
    import json

    from nodes.sd.tiny import tiny_components

    unet, text, tiny_vae = tiny_components(3)
    for folder in ("checkpoints", "diffusers"):
        root = tmp_path / "models" / folder / "tiny-diffusers"
        unet.save_pretrained(root / "unet")
        tiny_vae.save_pretrained(root / "vae")
        text.save_pretrained(root / "text_encoder")
        (root / "model_index.json").write_text(
            json.dumps({"_class_name": "StableDiffusionPipeline"})
        )
    settings = Settings(base_dir=tmp_path)
    ctx = Context("1", "p", settings, InterruptFlag(), services={"models": ModelManager()})
    bundled = "nodegraph-demo-sd1.safetensors"
    assert loaders.checkpoint_names(settings) == [bundled, "tiny-diffusers"]
    assert loaders.diffusers_names(settings) == ["tiny-diffusers"]
    for model, _, _ in (
        loaders.checkpoint_loader_simple(ckpt_name="tiny-diffusers", ctx=ctx),
        loaders.diffusers_loader(model_path="tiny-diffusers", ctx=ctx),
    ):
        for a, b in zip(model.unet.parameters(), unet.parameters(), strict=True):
            assert torch.equal(a, b)
