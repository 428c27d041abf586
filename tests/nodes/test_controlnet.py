"""ControlNet: loading every file layout bit-exact, the apply nodes' conditioning structure, and
the per-step residuals (shapes, zeros, step window, chains, strength, effect on the UNet)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from nodegraph import Context, InterruptFlag, Registry
from nodegraph.settings import Settings
from nodes import controlnet as cn_nodes
from nodes.model_management import ModelManager
from nodes.sd.checkpoint import CheckpointKeysError
from nodes.sd.controlnet import (
    control_for_uncond,
    control_residuals,
    load_controlnet,
    prepare_hint,
    tiny_controlnet,
    write_tiny_controlnet,
)
from nodes.sd.controlnet_convert import LDM_PREFIX, controlnet_diffusers_to_ldm
from nodes.sd.convert_ldm import unet_diffusers_to_ldm
from nodes.sd.detect import UnsupportedModelError
from nodes.sd.model_sampling import ModelSampling
from nodes.sd.tiny import tiny_components
from nodes.types import CondEntry, Conditioning, ControlLink, ControlNet

TOKENS = 5


@pytest.fixture(scope="module")
def reference() -> dict[str, torch.Tensor]:
    return tiny_controlnet(0).state_dict()


@pytest.fixture(scope="module")
def net() -> ControlNet:
    return ControlNet(model=tiny_controlnet(0), name="tiny")


def _same(model: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    sd = model.state_dict()
    assert sd.keys() == reference.keys()
    assert all(torch.equal(sd[k], reference[k]) for k in reference)


# --- loading ----------------------------------------------------------------------------------


def test_writer_is_deterministic_and_loads_bit_exact(tmp_path: Path, reference: dict) -> None:
    a = write_tiny_controlnet(tmp_path / "a.safetensors", seed=0)
    b = write_tiny_controlnet(tmp_path / "b.safetensors", seed=0)
    c = write_tiny_controlnet(tmp_path / "c.safetensors", seed=1)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    _same(load_controlnet(a), reference)


def test_v11_bare_and_v10_full_model_pth_load_bit_exact(tmp_path: Path, reference: dict) -> None:
    ldm = controlnet_diffusers_to_ldm(reference)
    torch.save(ldm, tmp_path / "control_v11p_sd15_tiny.pth")
    _same(load_controlnet(tmp_path / "control_v11p_sd15_tiny.pth"), reference)
    unet = unet_diffusers_to_ldm(tiny_components(0)[0].state_dict())
    full = {LDM_PREFIX + k: v for k, v in ldm.items()}
    full |= {"model.diffusion_model." + k: v for k, v in unet.items()}
    torch.save({"state_dict": full}, tmp_path / "control_sd15_tiny.pth")
    _same(load_controlnet(tmp_path / "control_sd15_tiny.pth"), reference)


def test_diffusers_file_and_folder_load_bit_exact(tmp_path: Path, reference: dict) -> None:
    save_file({k: v.contiguous() for k, v in reference.items()}, str(tmp_path / "d.safetensors"))
    _same(load_controlnet(tmp_path / "d.safetensors"), reference)
    tiny_controlnet(0).save_pretrained(tmp_path / "folder")
    _same(load_controlnet(tmp_path / "folder"), reference)


def test_diff_controlnet_adds_the_model_weights(tmp_path: Path, reference: dict) -> None:
    unet = tiny_components(0)[0]
    base = unet_diffusers_to_ldm(unet.state_dict())
    ldm = controlnet_diffusers_to_ldm(reference)
    diff = {LDM_PREFIX + k: (v - base[k] if k in base else v) for k, v in ldm.items()}
    assert any(k in base for k in ldm)
    diff["difference"] = torch.tensor([])
    save_file(diff, str(tmp_path / "diff.safetensors"))
    loaded = load_controlnet(tmp_path / "diff.safetensors", unet=unet)
    for key, value in loaded.state_dict().items():
        torch.testing.assert_close(value, reference[key], atol=1e-6, rtol=0)
    with pytest.raises(UnsupportedModelError, match="DiffControlNetLoader"):
        load_controlnet(tmp_path / "diff.safetensors")


def test_unsupported_and_broken_files_are_named(tmp_path: Path, reference: dict) -> None:
    save_file({"adapter.body.0.weight": torch.zeros(2)}, str(tmp_path / "t2i.safetensors"))
    with pytest.raises(UnsupportedModelError, match=r"t2i\.safetensors: not a ControlNet"):
        load_controlnet(tmp_path / "t2i.safetensors")
    ldm = controlnet_diffusers_to_ldm(reference)
    ldm.pop("zero_convs.3.0.bias")
    save_file(ldm, str(tmp_path / "broken.safetensors"))
    with pytest.raises(CheckpointKeysError, match=r"missing \(zero_convs\.3\.0\.bias\)"):
        load_controlnet(tmp_path / "broken.safetensors")


def test_loader_nodes_share_through_the_manager(tmp_path: Path, tiny_models: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    write_tiny_controlnet(models / "controlnet" / "tiny-controlnet.safetensors")
    settings = Settings(base_dir=tmp_path, models_dir=models)
    manager = ModelManager()
    ctx = Context("1", "p", settings, InterruptFlag(), services={"models": manager})
    a = cn_nodes.controlnet_loader(control_net_name="tiny-controlnet.safetensors", ctx=ctx)
    b = cn_nodes.controlnet_loader(control_net_name="tiny-controlnet.safetensors", ctx=ctx)
    assert a.model is b.model and manager.loads == 1
    with pytest.raises(FileNotFoundError, match="control_net_name"):
        cn_nodes.controlnet_loader(control_net_name="nope.safetensors", ctx=ctx)


def test_object_info_matches_comfyui(tmp_path: Path, tiny_models: Path) -> None:
    registry = Registry()
    registry.add_module(cn_nodes)
    info = registry.object_info(Settings(base_dir=tmp_path, models_dir=tiny_models))
    adv = info["ControlNetApplyAdvanced"]
    assert adv["output"] == ["CONDITIONING", "CONDITIONING"]
    assert adv["output_name"] == ["positive", "negative"]
    assert adv["input"]["required"]["end_percent"] == [
        "FLOAT",
        {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001},
    ]
    assert list(adv["input"]["optional"]) == ["vae"]
    assert info["ControlNetApply"]["input"]["required"]["strength"][1]["max"] == 10.0
    assert info["DiffControlNetLoader"]["input_order"]["required"] == ["model", "control_net_name"]
    assert info["ControlNetLoader"]["output"] == ["CONTROL_NET"]


# --- apply nodes ------------------------------------------------------------------------------


def _cond(n: int = 1) -> Conditioning:
    return Conditioning(tuple(CondEntry(torch.randn(1, TOKENS, 64)) for _ in range(n)))


def test_strength_zero_returns_inputs_unchanged(net: ControlNet) -> None:
    pos, neg, image = _cond(), _cond(), torch.rand(1, 16, 16, 3)
    assert (
        cn_nodes.controlnet_apply(conditioning=pos, control_net=net, image=image, strength=0.0)
        is pos
    )
    out = cn_nodes.controlnet_apply_advanced(
        positive=pos, negative=neg, control_net=net, image=image, strength=0.0
    )
    assert out[0] is pos and out[1] is neg


def test_advanced_shares_one_link_and_chains(net: ControlNet) -> None:
    pos, neg, image = _cond(2), _cond(), torch.rand(1, 16, 16, 3)
    p1, n1 = cn_nodes.controlnet_apply_advanced(
        positive=pos, negative=neg, control_net=net, image=image, strength=0.5,
        start_percent=0.2, end_percent=0.8,
    )  # fmt: skip
    links = {id(e.control) for e in (*p1.entries, *n1.entries)}
    assert len(links) == 1
    link = p1.entries[0].control
    assert (link.strength, link.start_percent, link.end_percent) == (0.5, 0.2, 0.8)
    assert link.previous is None and pos.entries[0].control is None
    p2, _ = cn_nodes.controlnet_apply_advanced(
        positive=p1, negative=n1, control_net=net, image=image, strength=1.0
    )
    assert p2.entries[0].control.previous is link
    assert p2.entries[0].extra["control_apply_to_uncond"] is False


def test_old_apply_marks_uncond_and_copies_to_negative(net: ControlNet) -> None:
    pos, neg, image = _cond(), _cond(), torch.rand(1, 16, 16, 3)
    out = cn_nodes.controlnet_apply(conditioning=pos, control_net=net, image=image, strength=0.7)
    entry = out.entries[0]
    assert entry.control.strength == 0.7 and entry.extra["control_apply_to_uncond"] is True
    filled = control_for_uncond(out, neg)
    assert filled.entries[0].control is entry.control
    assert torch.equal(filled.entries[0].cond, neg.entries[0].cond)
    assert control_for_uncond(pos, neg) is neg
    with pytest.raises(ValueError, match="ControlNetApply: image"):
        cn_nodes.controlnet_apply(
            conditioning=pos, control_net=net, image=torch.rand(1, 16, 16), strength=1.0
        )


# --- residuals --------------------------------------------------------------------------------

SAMPLING = ModelSampling.sd1()


def _batch(items: int, per_item: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    rows = items * per_item
    x = torch.randn(rows, 4, 8, 8, generator=g)
    context = torch.randn(rows, TOKENS, 64, generator=g)
    return x, torch.full((rows,), 500.0), context


def _run(links: list, per_item: int = 1, sigma: float = 1.0, seed: int = 0):
    x, t, c = _batch(len(links), per_item, seed)
    return control_residuals(
        links, x, t, c, sigma, SAMPLING.percent_to_sigma, per_item, "cpu", torch.float32
    )


def test_hint_resized_centre_cropped_and_cycled() -> None:
    hint = torch.zeros(2, 32, 48, 3)
    hint[1] = 1.0
    out = prepare_hint(hint, 4, 4, items=2, per_item=3)
    assert out.shape == (6, 3, 32, 32)
    assert [float(r.mean()) for r in out] == [0.0, 1.0, 0.0, 0.0, 1.0, 0.0]


def test_residual_shapes_zeros_and_inactive(net: ControlNet) -> None:
    link = ControlLink(net, torch.rand(1, 64, 64, 3), 1.0)
    down, mid = _run([link, None], per_item=2)
    assert len(down) == 12 and mid.shape == (4, 64, 1, 1)
    assert down[0].shape == (4, 32, 8, 8)
    assert all(float(r[2:].abs().max()) == 0.0 for r in (*down, mid))
    assert all(float(r[:2].abs().max()) > 0.0 for r in (*down, mid))
    assert _run([None, None]) is None
    late = ControlLink(net, torch.rand(1, 64, 64, 3), 1.0, start_percent=0.5, end_percent=1.0)
    start_sigma = SAMPLING.percent_to_sigma(0.5)
    assert _run([late], sigma=start_sigma * 1.01) is None
    assert _run([late], sigma=start_sigma) is not None
    with pytest.raises(ValueError, match="do not cover"):
        control_residuals(
            [link], *_batch(1, 3), 1.0, SAMPLING.percent_to_sigma, 2, "cpu", torch.float32
        )


def test_strength_scales_and_chains_sum(net: ControlNet) -> None:
    hint = torch.rand(1, 64, 64, 3)
    one = _run([ControlLink(net, hint, 1.0)])
    half = _run([ControlLink(net, hint, 0.5)])
    for a, b in zip((*one[0], one[1]), (*half[0], half[1]), strict=True):
        torch.testing.assert_close(b, a * 0.5)
    other_hint = torch.rand(1, 64, 64, 3)
    first = ControlLink(net, other_hint, 0.3)
    chained = _run([ControlLink(net, hint, 1.0, previous=first)])
    alone = _run([first])
    for c, a, b in zip(
        (*chained[0], chained[1]), (*one[0], one[1]), (*alone[0], alone[1]), strict=True
    ):
        torch.testing.assert_close(c, a + b)
    inactive_prev = ControlLink(net, other_hint, 0.3, start_percent=0.9, end_percent=1.0)
    only_top = _run([ControlLink(net, hint, 1.0, previous=inactive_prev)])
    torch.testing.assert_close(only_top[1], one[1])


def test_shared_link_batched_equals_separate(net: ControlNet) -> None:
    link = ControlLink(net, torch.rand(1, 64, 64, 3), 1.0)
    x, t, c = _batch(2, 1)
    together = control_residuals(
        [link, link], x, t, c, 1.0, SAMPLING.percent_to_sigma, 1, "cpu", torch.float32
    )
    for i in range(2):
        alone = control_residuals(
            [link], x[i : i + 1], t[i : i + 1], c[i : i + 1], 1.0,
            SAMPLING.percent_to_sigma, 1, "cpu", torch.float32,
        )  # fmt: skip
        torch.testing.assert_close(together[1][i : i + 1], alone[1], atol=1e-5, rtol=1e-5)


def test_residuals_change_the_unet_output_and_grow_with_strength(net: ControlNet) -> None:
    unet = tiny_components(0)[0]
    x, t, c = _batch(1, 1)
    hint = torch.rand(1, 64, 64, 3)
    with torch.inference_mode():
        plain = unet(x, t, encoder_hidden_states=c).sample
        changes = []
        for strength in (0.5, 1.0, 2.0):
            down, mid = _run([ControlLink(net, hint, strength)])
            out = unet(
                x, t, encoder_hidden_states=c,
                down_block_additional_residuals=down, mid_block_additional_residual=mid,
            ).sample  # fmt: skip
            changes.append(float((out - plain).abs().mean()))
    assert 0 < changes[0] < changes[1] < changes[2]


# --- workflow ---------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_canny_workflow_runs_and_strength_zero_matches_plain(
    tmp_path: Path, tiny_models: Path
) -> None:
    """LoadImage -> Canny -> ControlNetApplyAdvanced -> KSampler: the control changes the
    image; strength 0 gives exactly the image of the same graph without ControlNet."""
    import json

    import numpy as np
    from PIL import Image

    from nodegraph.engine import Engine

    models = tmp_path / "models"
    shutil.copytree(tiny_models, models)
    write_tiny_controlnet(models / "controlnet" / "tiny-controlnet.safetensors")
    settings = Settings(base_dir=tmp_path, models_dir=models, input_dir=REPO / "workflows/input")
    engine = Engine(settings)
    if "ControlNetApplyAdvanced" not in engine.registry.object_info(settings):
        engine.registry.add_module(cn_nodes)
    workflow = json.loads((REPO / "workflows/controlnet_canny.json").read_text())
    workflow["4"]["inputs"]["ckpt_name"] = "tiny-sd1.safetensors"
    workflow["12"]["inputs"]["control_net_name"] = "tiny-controlnet.safetensors"
    workflow["5"]["inputs"] |= {"width": 64, "height": 64}
    workflow["3"]["inputs"]["steps"] = 3

    def image(strength: float | None, prefix: str) -> np.ndarray:
        graph = json.loads(json.dumps(workflow))
        graph["9"]["inputs"]["filename_prefix"] = prefix
        if strength is None:  # the plain graph: sample straight from the prompts
            graph["3"]["inputs"] |= {"positive": ["6", 0], "negative": ["7", 0]}
            for key in ("10", "11", "12", "13"):
                del graph[key]
        else:
            graph["13"]["inputs"]["strength"] = strength
        result = engine.run(graph)
        assert result.status == "success", result.error
        saved = result.outputs["9"]["images"][0]
        with Image.open(settings.output_dir / saved["subfolder"] / saved["filename"]) as png:
            return np.asarray(png.convert("RGB"), dtype=np.int16)

    plain, zero, full = image(None, "plain"), image(0.0, "zero"), image(1.0, "full")
    assert np.array_equal(plain, zero)
    assert np.abs(full - plain).mean() > 0.5
