"""LoRA: key mapping (kohya diffusers/LDM names, CLIP, PEFT spellings), delta math (linear, LoCon,
Tucker), the patch's bit-exact restore, the nodes and the tiny kohya file."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nodegraph import Context, InterruptFlag, Registry
from nodegraph.settings import Settings
from nodes import conditioning, loaders, lora
from nodes.model_management import ModelManager
from nodes.sd import lora as sd_lora
from nodes.sd.lora import (
    TEXT,
    UNET,
    LoraFile,
    LoraPatch,
    LoraWeights,
    kohya_name,
    match,
    name_table,
    parse_lora,
    tiny_lora_tensors,
    write_tiny_lora,
)
from nodes.sd.tiny import tiny_components

LORA = "tiny-lora.safetensors"


@pytest.fixture(scope="module")
def parts() -> tuple[torch.nn.Module, torch.nn.Module]:
    unet, text_model, _ = tiny_components(0)
    return unet, text_model


@pytest.fixture(scope="module")
def models_dir(tiny_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lora_models")
    shutil.copytree(tiny_models, root, dirs_exist_ok=True)
    write_tiny_lora(root / "loras" / LORA, seed=0)
    write_tiny_lora(root / "loras" / "other.safetensors", seed=1)
    return root


@pytest.fixture
def ctx(tmp_path: Path, models_dir: Path) -> Context:
    settings = Settings(base_dir=tmp_path, models_dir=models_dir)
    return Context("1", "p", settings, InterruptFlag(), services={"models": ModelManager()})


def snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items()}


def same(module: torch.nn.Module, saved: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(v, saved[k]) for k, v in module.state_dict().items())


# --- key mapping -----------------------------------------------------------------------------


def test_unet_names_in_diffusers_and_ldm_spelling(parts: tuple) -> None:
    table = name_table(parts[0])
    q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    assert table["lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q"] == q
    assert table["lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q"] == q
    assert (
        table["lora_unet_input_blocks_2_1_proj_in"] == "down_blocks.0.attentions.1.proj_in.weight"
    )
    assert (
        table["lora_unet_middle_block_1_transformer_blocks_0_attn2_to_k"]
        == "mid_block.attentions.0.transformer_blocks.0.attn2.to_k.weight"
    )
    assert (
        table["lora_unet_output_blocks_3_1_transformer_blocks_0_ff_net_2"]
        == "up_blocks.1.attentions.0.transformer_blocks.0.ff.net.2.weight"
    )
    assert table["lora_unet_input_blocks_1_0_in_layers_2"] == "down_blocks.0.resnets.0.conv1.weight"
    assert (
        table["lora_unet_down_blocks_0_resnets_0_conv1"] == "down_blocks.0.resnets.0.conv1.weight"
    )
    params = dict(parts[0].named_parameters())
    assert all(name in params for name in table.values())


def test_clip_names_rooted_at_text_model(parts: tuple) -> None:
    table = name_table(parts[1])
    key = "lora_te_text_model_encoder_layers_1_self_attn_q_proj"
    assert table[key] == "encoder.layers.1.self_attn.q_proj.weight"
    params = dict(parts[1].named_parameters())
    assert all(name in params for name in table.values())


def test_other_spellings_become_kohya_names() -> None:
    assert kohya_name("lora_te1_text_model_encoder_layers_0_mlp_fc1") == (
        "lora_te_text_model_encoder_layers_0_mlp_fc1"
    )
    assert kohya_name("text_encoder.text_model.encoder.layers.0.self_attn.q_proj") == (
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    )
    assert kohya_name("text_encoder.encoder.layers.0.self_attn.q_proj") == (
        "lora_te_text_model_encoder_layers_0_self_attn_q_proj"
    )
    assert kohya_name("unet.down_blocks.0.attentions.0.proj_in") == (
        "lora_unet_down_blocks_0_attentions_0_proj_in"
    )
    assert kohya_name("diffusion_model.input_blocks.1.1.proj_in") == (
        "lora_unet_input_blocks_1_1_proj_in"
    )


def test_peft_keys_parse_and_match(parts: tuple) -> None:
    base = "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_v"
    found = parse_lora(
        {f"{base}.lora_A.weight": torch.ones(2, 32), f"{base}.lora_B.weight": torch.ones(32, 2)}
    )
    (weights,) = found.layers.values()
    assert weights.alpha is None
    got = match(found, parts[0], UNET)
    assert list(got.weights) == [base.removeprefix("unet.") + ".weight"]


def test_layer_without_down_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="no down weight"):
        parse_lora({"lora_unet_conv_in.lora_up.weight": torch.ones(4, 2)})


# --- delta math ------------------------------------------------------------------------------


def test_linear_delta_is_scaled_product(parts: tuple) -> None:
    unet = parts[0]
    gen = torch.Generator().manual_seed(3)
    up, down = torch.randn(32, 4, generator=gen), torch.randn(4, 32, generator=gen)
    key = "lora_unet_input_blocks_1_1_transformer_blocks_0_attn1_to_q"
    found = parse_lora(
        {
            f"{key}.lora_up.weight": up.half(),
            f"{key}.lora_down.weight": down.half(),
            f"{key}.alpha": torch.tensor(2.0),
        }
    )
    param = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    got = match(found, unet, UNET)
    assert list(got.weights) == [param]
    base = unet.get_parameter(param).detach().clone()
    expected = base + up.half().float() @ down.half().float() * (2.0 / 4) * 0.7
    with LoraPatch("t", got.weights, 0.7).applied(unet):
        assert torch.allclose(unet.get_parameter(param), expected, atol=1e-6)
    assert torch.equal(unet.get_parameter(param), base)


def test_locon_conv_delta_equals_the_two_convolutions() -> None:
    gen = torch.Generator().manual_seed(5)
    down, up = torch.randn(4, 8, 3, 3, generator=gen), torch.randn(16, 4, 1, 1, generator=gen)
    x = torch.randn(1, 8, 10, 10, generator=gen)
    delta = LoraWeights(up=up, down=down, alpha=4.0).delta(torch.Size((16, 8, 3, 3)), 1.0)
    chained = F.conv2d(F.conv2d(x, down, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-4)


def test_tucker_mid_delta_equals_the_three_convolutions() -> None:
    gen = torch.Generator().manual_seed(6)
    down = torch.randn(4, 8, 1, 1, generator=gen)
    mid = torch.randn(4, 4, 3, 3, generator=gen)
    up = torch.randn(16, 4, 1, 1, generator=gen)
    x = torch.randn(1, 8, 10, 10, generator=gen)
    weights = LoraWeights(up=up, down=down, alpha=2.0, mid=mid)
    shape = torch.Size((16, 8, 3, 3))
    assert weights.numel(shape) == shape.numel()
    delta = weights.delta(shape, 2.0)  # alpha / rank * strength = 1
    chained = F.conv2d(F.conv2d(F.conv2d(x, down), mid, padding=1), up)
    assert torch.allclose(F.conv2d(x, delta, padding=1), chained, atol=1e-4)


def test_shape_mismatch_is_not_applied(parts: tuple, caplog: pytest.LogCaptureFixture) -> None:
    key = "lora_unet_conv_in"
    found = parse_lora(
        {f"{key}.lora_up.weight": torch.ones(7, 2), f"{key}.lora_down.weight": torch.ones(2, 5)}
    )
    with caplog.at_level(logging.WARNING):
        got = match(found, parts[0], UNET)
    assert not got.weights and got.unmatched == (key,)
    assert "does not fit" in caplog.text


# --- the patch -------------------------------------------------------------------------------


def tiny_file() -> LoraFile:
    return parse_lora(tiny_lora_tensors(0))


def test_tiny_file_matches_every_key(parts: tuple, tmp_path: Path) -> None:
    path = write_tiny_lora(tmp_path / "a.safetensors", seed=0)
    loaded = sd_lora.load_lora(path)
    assert not loaded.unknown
    unet_match = match(loaded, parts[0], UNET)
    clip_match = match(loaded, parts[1], TEXT)
    assert not unet_match.unmatched and not clip_match.unmatched
    assert len(unet_match.weights) + len(clip_match.weights) == len(loaded.layers)
    assert "down_blocks.0.resnets.0.conv1.weight" in unet_match.weights  # the LoCon layer
    assert len(clip_match.weights) == 4 * 2  # q/k/v/out in both tiny CLIP layers
    assert all(w.rank == 4 and w.alpha == 2.0 for w in loaded.layers.values())
    again = write_tiny_lora(tmp_path / "b.safetensors", seed=0)
    other = write_tiny_lora(tmp_path / "c.safetensors", seed=1)
    assert path.read_bytes() == again.read_bytes() != other.read_bytes()


def test_patch_restores_bit_exact_and_on_exception(parts: tuple) -> None:
    unet = parts[0]
    saved = snapshot(unet)
    patch = LoraPatch("t", match(tiny_file(), unet, UNET).weights, 1.0)
    with patch.applied(unet):
        changed = [k for k, v in unet.state_dict().items() if not torch.equal(v, saved[k])]
        assert len(changed) == len(patch.weights)
    assert same(unet, saved)
    with pytest.raises(RuntimeError, match="boom"), patch.applied(unet):
        raise RuntimeError("boom")
    assert same(unet, saved)


def test_chained_patches_add_and_restore(parts: tuple) -> None:
    text_model = parts[1]
    saved = snapshot(text_model)
    weights = match(tiny_file(), text_model, TEXT).weights
    param = next(iter(weights))
    one, two = LoraPatch("a", weights, 0.5), LoraPatch("b", weights, 0.25)
    with one.applied(text_model), two.applied(text_model):
        expected = saved[param] + weights[param].delta(saved[param].shape, 0.75)
        assert torch.allclose(text_model.get_parameter(param), expected, atol=1e-6)
    assert same(text_model, saved)


def test_strength_zero_patch_changes_nothing(parts: tuple) -> None:
    unet = parts[0]
    saved = snapshot(unet)
    with LoraPatch("t", match(tiny_file(), unet, UNET).weights, 0.0).applied(unet):
        assert same(unet, saved)


# --- nodes -----------------------------------------------------------------------------------


def encode(clip: object, ctx: Context) -> torch.Tensor:
    return conditioning.clip_text_encode(clip=clip, text="a red circle", ctx=ctx).entries[0].cond


def test_loader_nodes_patch_payloads_and_share_base(ctx: Context) -> None:
    model, clip, _ = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    saved = snapshot(model.unet), snapshot(clip.text_model)
    plain = encode(clip, ctx)
    new_model, new_clip = lora.lora_loader(
        model=model, clip=clip, lora_name=LORA, strength_model=1.0, strength_clip=1.0, ctx=ctx
    )
    assert new_model.unet is model.unet and new_clip.text_model is clip.text_model
    assert len(new_model.patches) == 1 and len(new_clip.patches) == 1
    assert not model.patches and not clip.patches
    patched = encode(new_clip, ctx)
    stronger = encode(
        lora.lora_loader(
            model=model, clip=clip, lora_name=LORA, strength_model=1.0, strength_clip=2.0, ctx=ctx
        )[1],
        ctx,
    )
    assert not torch.allclose(patched, plain, atol=1e-3)
    assert (stronger - plain).abs().mean() > (patched - plain).abs().mean()
    assert torch.equal(encode(clip, ctx), plain)  # a second user of the base sees no LoRA
    assert same(model.unet, saved[0]) and same(clip.text_model, saved[1])
    chained = lora.lora_loader(
        model=new_model, clip=new_clip, lora_name="other.safetensors", ctx=ctx
    )
    assert len(chained[0].patches) == 2 and len(chained[1].patches) == 2
    assert ctx.services["models"].loads == 3  # checkpoint + two LoRA files, each read once


def test_strength_zero_returns_inputs(ctx: Context) -> None:
    model, clip, _ = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    out = lora.lora_loader(
        model=model, clip=clip, lora_name=LORA, strength_model=0.0, strength_clip=0.0, ctx=ctx
    )
    assert out[0] is model and out[1] is clip
    assert lora.lora_loader_model_only(model=model, lora_name=LORA, strength_model=0, ctx=ctx) is (
        model
    )
    only_clip = lora.lora_loader(
        model=model, clip=clip, lora_name=LORA, strength_model=0.0, strength_clip=1.0, ctx=ctx
    )
    assert only_clip[0] is model and len(only_clip[1].patches) == 1


def test_model_only_patches_the_unet(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    model, _, _ = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    with caplog.at_level(logging.WARNING):
        out = lora.lora_loader_model_only(model=model, lora_name=LORA, ctx=ctx)
    (patch,) = out.patches
    assert len(patch.weights) == 129 and patch.strength == 1.0
    assert "not loaded" not in caplog.text  # text-encoder layers are ignored quietly


def test_unmatched_keys_warn(ctx: Context, caplog: pytest.LogCaptureFixture) -> None:
    from safetensors.torch import save_file

    tensors = tiny_lora_tensors(0)
    tensors["lora_unet_no_such_layer.lora_up.weight"] = torch.ones(4, 2)
    tensors["lora_unet_no_such_layer.lora_down.weight"] = torch.ones(2, 4)
    tensors["lora_te2_text_model_x.lora_up.weight"] = torch.ones(4, 2)
    tensors["lora_te2_text_model_x.lora_down.weight"] = torch.ones(2, 4)
    tensors["lora_unet_conv_in.hada_w1_a"] = torch.ones(2, 2)
    save_file(tensors, str(Path(ctx.settings.models_dir) / "loras" / "extra.safetensors"))
    model, clip, _ = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    with caplog.at_level(logging.WARNING):
        out = lora.lora_loader(model=model, clip=clip, lora_name="extra.safetensors", ctx=ctx)
    assert "lora key not loaded" in caplog.text and "3 keys" in caplog.text
    for key in ("lora_unet_no_such_layer", "lora_te2_text_model_x", "hada_w1_a"):
        assert key in caplog.text
    assert len(out[0].patches[0].weights) == 129


def test_missing_file_names_node_and_input(ctx: Context) -> None:
    model, clip, _ = loaders.checkpoint_loader_simple(ckpt_name="tiny-sd1.safetensors", ctx=ctx)
    with pytest.raises(FileNotFoundError, match=r"LoraLoader: lora_name 'nope\.safetensors'"):
        lora.lora_loader(model=model, clip=clip, lora_name="nope.safetensors", ctx=ctx)
    with pytest.raises(ValueError, match="LoraLoader: strength_clip must be a finite number"):
        lora.lora_loader(
            model=model, clip=clip, lora_name=LORA, strength_clip=float("nan"), ctx=ctx
        )


def test_object_info_matches_comfyui(models_dir: Path, tmp_path: Path) -> None:
    registry = Registry()
    registry.add_module(lora)
    info = registry.object_info(Settings(base_dir=tmp_path, models_dir=models_dir))
    strength = ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}]
    full = info["LoraLoader"]
    assert list(full["input"]["required"]) == [
        "model",
        "clip",
        "lora_name",
        "strength_model",
        "strength_clip",
    ]
    assert full["input"]["required"]["model"] == ["MODEL"]
    names = full["input"]["required"]["lora_name"][0]
    assert {"other.safetensors", LORA} <= set(names) and names == sorted(names)
    assert full["input"]["required"]["strength_clip"] == strength
    assert full["output"] == ["MODEL", "CLIP"] and full["category"] == "loaders"
    assert full["display_name"] == "Load LoRA"
    only = info["LoraLoaderModelOnly"]
    assert list(only["input"]["required"]) == ["model", "lora_name", "strength_model"]
    assert only["input"]["required"]["strength_model"] == strength
    assert only["output"] == ["MODEL"] and only["category"] == "loaders"


# --- workflows -------------------------------------------------------------------------------


def run_images(engine: object, workflow: dict, output_dir: Path) -> list:
    import numpy as np
    from PIL import Image

    result = engine.run(workflow)
    assert result.status == "success", result.error
    arrays = []
    for ui in result.outputs.values():
        for image in ui.get("images", []):
            with Image.open(output_dir / image["subfolder"] / image["filename"]) as png:
                arrays.append(np.asarray(png.convert("RGB")).copy())
    assert arrays
    return arrays


def test_lora_workflow_does_not_contaminate_plain_runs(models_dir: Path, tmp_path: Path) -> None:
    import json

    import numpy as np

    import nodes
    from nodegraph.engine import Engine

    root = Path(__file__).resolve().parents[2] / "workflows"
    registry = Registry()
    nodes.register(registry)
    if "LoraLoader" not in registry:
        registry.add_module(lora)
    settings = Settings(base_dir=tmp_path, models_dir=models_dir)
    engine = Engine(settings, registry=registry)

    def small(name: str, **lora_inputs: float) -> dict:
        workflow = json.loads((root / name).read_text())
        workflow["4"]["inputs"]["ckpt_name"] = "tiny-sd1.safetensors"  # lora.json's model
        workflow["6"]["inputs"]["text"] = "a red circle"  # the same prompts in both files
        workflow["7"]["inputs"]["text"] = "blurry"
        if "20" in workflow:  # txt2img.json upscales before saving; lora.json does not
            del workflow["20"]
            workflow["9"]["inputs"]["images"] = ["8", 0]
        workflow["5"]["inputs"].update(width=64, height=64)
        workflow["3"]["inputs"].update(steps=3, cfg=7.0)  # the files' guidance differs
        if "10" in workflow:
            workflow["10"]["inputs"].update(lora_inputs)
        return workflow

    plain = run_images(engine, small("txt2img.json"), settings.output_dir)
    with_lora = run_images(engine, small("lora.json"), settings.output_dir)
    engine.free(unload_models=False)  # drop cached outputs, keep the shared checkpoint
    again = run_images(engine, small("txt2img.json"), settings.output_dir)
    zero = run_images(
        engine, small("lora.json", strength_model=0.0, strength_clip=0.0), settings.output_dir
    )
    assert np.array_equal(plain[0], again[0]) and np.array_equal(plain[0], zero[0])
    assert np.abs(with_lora[0].astype(int) - plain[0].astype(int)).mean() > 1.0
