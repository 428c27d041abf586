"""Conditioning nodes: ComfyUI's /object_info declarations and each node's output."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import safetensors.torch
import torch

import nodes.conditioning as cn
from nodegraph import Context, InterruptFlag, Registry
from nodegraph.settings import Settings
from nodes.model_management import SERVICE, ModelManager
from nodes.sd.text_encode import encode_text
from nodes.types import CondEntry, Conditioning
from tests.nodes.tiny_clip import WIDTH, tiny_clip, tiny_text_model

STRENGTH = ["FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01}]
COND = ["CONDITIONING"]
SIZE = ["INT", {"default": 64, "min": 64, "max": 16384, "step": 8}]
OFFSET = ["INT", {"default": 0, "min": 0, "max": 16384, "step": 8}]
PERCENT = {"min": 0, "max": 1.0, "step": 0.01}

EXPECTED_INPUTS = {
    "CLIPTextEncode": {
        "text": ["STRING", {"multiline": True, "dynamicPrompts": True}],
        "clip": ["CLIP"],
    },
    "CLIPSetLastLayer": {
        "clip": ["CLIP"],
        "stop_at_clip_layer": ["INT", {"default": -1, "min": -24, "max": -1, "step": 1}],
    },
    "ConditioningCombine": {"conditioning_1": COND, "conditioning_2": COND},
    "ConditioningAverage": {
        "conditioning_to": COND,
        "conditioning_from": COND,
        "conditioning_to_strength": [
            "FLOAT",
            {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01},
        ],
    },
    "ConditioningConcat": {"conditioning_to": COND, "conditioning_from": COND},
    "ConditioningSetArea": {
        "conditioning": COND,
        "width": SIZE,
        "height": SIZE,
        "x": OFFSET,
        "y": OFFSET,
        "strength": STRENGTH,
    },
    "ConditioningSetAreaPercentage": {
        "conditioning": COND,
        "width": ["FLOAT", {"default": 1.0, **PERCENT}],
        "height": ["FLOAT", {"default": 1.0, **PERCENT}],
        "x": ["FLOAT", {"default": 0, **PERCENT}],
        "y": ["FLOAT", {"default": 0, **PERCENT}],
        "strength": STRENGTH,
    },
    "ConditioningSetAreaStrength": {"conditioning": COND, "strength": STRENGTH},
    "ConditioningSetMask": {
        "conditioning": COND,
        "mask": ["MASK"],
        "strength": STRENGTH,
        "set_cond_area": [["default", "mask bounds"]],
    },
    "ConditioningZeroOut": {"conditioning": COND},
    "ConditioningSetTimestepRange": {
        "conditioning": COND,
        "start": ["FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001}],
        "end": ["FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001}],
    },
}

CATEGORIES = {
    "ConditioningZeroOut": "advanced/conditioning",
    "ConditioningSetTimestepRange": "advanced/conditioning",
}


@pytest.fixture(scope="module")
def info() -> dict[str, dict[str, object]]:
    registry = Registry()
    registry.add_module(cn)
    for old, new in cn.ALIASES.items():
        registry.alias(old, new)
    return registry.object_info()


@pytest.mark.parametrize("name", list(EXPECTED_INPUTS))
def test_object_info_matches_comfyui(info: dict[str, dict[str, object]], name: str) -> None:
    entry = info[name]
    assert entry["input"] == {"required": EXPECTED_INPUTS[name]}
    assert entry["input_order"] == {"required": list(EXPECTED_INPUTS[name])}
    output = "CLIP" if name == "CLIPSetLastLayer" else "CONDITIONING"
    assert entry["output"] == [output] and entry["output_name"] == [output]
    assert entry["category"] == CATEGORIES.get(name, "conditioning")


def test_old_average_name_is_an_alias(info: dict[str, dict[str, object]]) -> None:
    assert cn.ALIASES == {"ConditioningAverage ": "ConditioningAverage"}
    assert info["ConditioningAverage "]["input"] == info["ConditioningAverage"]["input"]


def entry(value: float, tokens: int = 77, pooled: float | None = None) -> CondEntry:
    return CondEntry(
        cond=torch.full((1, tokens, 4), value),
        pooled=None if pooled is None else torch.full((1, 4), pooled),
    )


def cond(*entries: CondEntry) -> Conditioning:
    return Conditioning(tuple(entries))


def context(base: Path) -> Context:
    return Context(
        node_id="1", prompt_id="p", settings=Settings(base_dir=base), interrupt=InterruptFlag()
    )


def test_clip_text_encode_uses_the_embeddings_folder(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "embeddings"
    folder.mkdir(parents=True)
    vector = tiny_text_model().get_input_embeddings().weight[2368].detach().clone()
    safetensors.torch.save_file({"emb_params": vector[None]}, str(folder / "kitty.safetensors"))
    out = cn.clip_text_encode(text="a embedding:kitty", clip=tiny_clip(), ctx=context(tmp_path))
    (only,) = out.entries
    expected, pooled = encode_text(tiny_clip(), "a cat", None)
    torch.testing.assert_close(only.cond, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(only.pooled, pooled, rtol=0, atol=1e-6)
    assert only.area is None and only.strength == 1.0 and only.mask is None


class ShiftOutput:
    """A clip patch that adds `amount` to the final layer norm's bias while applied."""

    def __init__(self, amount: float) -> None:
        self.amount = amount

    @contextmanager
    def applied(self, model: torch.nn.Module) -> Iterator[None]:
        bias = model.final_layer_norm.bias
        saved = bias.detach().clone()
        with torch.no_grad():
            bias.add_(self.amount)
        try:
            yield
        finally:
            with torch.no_grad():
                bias.copy_(saved)


def test_clip_text_encode_applies_patches_through_the_model_manager(tmp_path: Path) -> None:
    ctx = dataclasses.replace(context(tmp_path), services={SERVICE: ModelManager(device="cpu")})
    clip = dataclasses.replace(tiny_clip(), patches=(ShiftOutput(0.5),))
    patched = cn.clip_text_encode(text="a cat", clip=clip, ctx=ctx).entries[0]
    plain, pooled = encode_text(tiny_clip(), "a cat", None)
    torch.testing.assert_close(patched.cond, plain + 0.5, rtol=0, atol=1e-5)
    torch.testing.assert_close(patched.pooled, pooled + 0.5, rtol=0, atol=1e-5)
    assert torch.equal(encode_text(tiny_clip(), "a cat", None)[0], plain)  # patch removed


def test_clip_text_encode_without_clip_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="CLIPTextEncode: clip input is invalid"):
        cn.clip_text_encode(text="a", clip=None, ctx=context(tmp_path))  # type: ignore[arg-type]


def test_clip_set_last_layer_copies_the_clip() -> None:
    clip = tiny_clip()
    skipped = cn.clip_set_last_layer(clip=clip, stop_at_clip_layer=-2)
    assert skipped.layer_idx == -2 and clip.layer_idx is None
    assert skipped.text_model is clip.text_model and skipped.tokenizer is clip.tokenizer
    with pytest.raises(ValueError, match="CLIPSetLastLayer: stop_at_clip_layer"):
        cn.clip_set_last_layer(clip=clip, stop_at_clip_layer=0)


def test_combine_concatenates_the_lists() -> None:
    a, b, c = entry(1), entry(2), entry(3)
    out = cn.conditioning_combine(conditioning_1=cond(a, b), conditioning_2=cond(c))
    assert out.entries == (a, b, c)


def test_average_lerps_cond_and_pooled() -> None:
    out = cn.conditioning_average(
        conditioning_to=cond(entry(1.0, pooled=10.0)),
        conditioning_from=cond(entry(3.0, pooled=20.0)),
        conditioning_to_strength=0.25,
    )
    (e,) = out.entries
    torch.testing.assert_close(e.cond, torch.full((1, 77, 4), 0.25 * 1 + 0.75 * 3))
    torch.testing.assert_close(e.pooled, torch.full((1, 4), 0.25 * 10 + 0.75 * 20))


def test_average_cuts_or_zero_pads_the_source_and_keeps_other_fields() -> None:
    target = CondEntry(cond=torch.ones(1, 154, 4), area=(8, 8, 0, 0), strength=0.5)
    out = cn.conditioning_average(
        conditioning_to=cond(target, entry(1.0, tokens=2)),
        conditioning_from=cond(entry(3.0, tokens=77, pooled=5.0)),
        conditioning_to_strength=0.5,
    )
    long, short = out.entries
    torch.testing.assert_close(long.cond[:, :77], torch.full((1, 77, 4), 2.0))
    torch.testing.assert_close(long.cond[:, 77:], torch.full((1, 77, 4), 0.5))  # zero padding
    assert long.area == (8, 8, 0, 0) and long.strength == 0.5
    torch.testing.assert_close(long.pooled, torch.full((1, 4), 5.0))  # to had none: from's
    assert short.cond.shape == (1, 2, 4)


def test_average_uses_only_the_first_source_entry(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        out = cn.conditioning_average(
            conditioning_to=cond(entry(0.0)),
            conditioning_from=cond(entry(1.0), entry(100.0)),
            conditioning_to_strength=0.0,
        )
    torch.testing.assert_close(out.entries[0].cond, torch.ones(1, 77, 4))
    assert "only the first one" in caplog.text
    with pytest.raises(ValueError, match="ConditioningAverage: conditioning_from is empty"):
        cn.conditioning_average(
            conditioning_to=cond(entry(0.0)), conditioning_from=cond(), conditioning_to_strength=1
        )


def test_concat_appends_tokens() -> None:
    out = cn.conditioning_concat(
        conditioning_to=cond(entry(1.0, pooled=7.0), entry(2.0, tokens=154)),
        conditioning_from=cond(entry(3.0)),
    )
    first, second = out.entries
    assert first.cond.shape == (1, 154, 4) and second.cond.shape == (1, 231, 4)
    assert torch.equal(first.cond[:, 77:], torch.full((1, 77, 4), 3.0))
    assert torch.equal(first.pooled, torch.full((1, 4), 7.0))
    wide = CondEntry(cond=torch.ones(1, 77, 8))
    with pytest.raises(ValueError, match=r"ConditioningConcat: .*width 4.*width 8"):
        cn.conditioning_concat(conditioning_to=cond(entry(1.0)), conditioning_from=cond(wide))


def test_set_area_in_latent_units() -> None:
    source = cond(entry(1.0), entry(2.0))
    out = cn.conditioning_set_area(
        conditioning=source, width=200, height=64, x=16, y=250, strength=2.5
    )
    for e, before in zip(out.entries, source.entries, strict=True):
        assert e.area == (8, 25, 31, 2) and e.strength == 2.5 and not e.set_area_to_bounds
        assert e.cond is before.cond
    assert source.entries[0].area is None and source.entries[0].strength == 1.0


def test_set_area_percentage_and_strength() -> None:
    out = cn.conditioning_set_area_percentage(
        conditioning=cond(entry(1.0)), width=0.5, height=0.25, x=0.5, y=0.75, strength=0.3
    )
    assert out.entries[0].area == ("percentage", 0.25, 0.5, 0.75, 0.5)
    assert out.entries[0].strength == 0.3
    again = cn.conditioning_set_area_strength(conditioning=out, strength=4.0)
    assert again.entries[0].strength == 4.0 and again.entries[0].area == out.entries[0].area


def test_set_mask() -> None:
    mask = torch.zeros(8, 8)
    mask[2:4, 3:6] = 1
    out = cn.conditioning_set_mask(
        conditioning=cond(entry(1.0)), mask=mask, strength=0.7, set_cond_area="mask bounds"
    )
    (e,) = out.entries
    assert e.mask is not None and e.mask.shape == (1, 8, 8) and torch.equal(e.mask[0], mask)
    assert e.mask_strength == 0.7 and e.set_area_to_bounds and e.strength == 1.0
    default = cn.conditioning_set_mask(
        conditioning=cond(entry(1.0)), mask=mask[None], strength=1.0, set_cond_area="default"
    )
    assert not default.entries[0].set_area_to_bounds and default.entries[0].mask.shape == (1, 8, 8)
    with pytest.raises(ValueError, match="ConditioningSetMask: mask must be"):
        cn.conditioning_set_mask(
            conditioning=cond(entry(1.0)),
            mask=torch.zeros(8),
            strength=1.0,
            set_cond_area="default",
        )


def test_zero_out_keeps_shapes_and_fields() -> None:
    source = CondEntry(cond=torch.ones(1, 77, 4), pooled=torch.ones(1, 4), strength=0.5)
    out = cn.conditioning_zero_out(conditioning=cond(source, entry(2.0)))
    first, second = out.entries
    assert torch.equal(first.cond, torch.zeros(1, 77, 4))
    assert torch.equal(first.pooled, torch.zeros(1, 4)) and first.strength == 0.5
    assert second.pooled is None and torch.equal(second.cond, torch.zeros(1, 77, 4))
    assert torch.equal(source.cond, torch.ones(1, 77, 4))


def test_timestep_range_sets_percents_without_touching_the_input() -> None:
    source = cond(CondEntry(cond=torch.ones(1, 77, 4), extra={"other": 1}))
    out = cn.conditioning_set_timestep_range(conditioning=source, start=0.2, end=0.8)
    assert out.entries[0].extra == {"other": 1, "start_percent": 0.2, "end_percent": 0.8}
    assert source.entries[0].extra == {"other": 1}


def test_nodes_compose_on_real_encodings(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    clip = cn.clip_set_last_layer(clip=tiny_clip(), stop_at_clip_layer=-2)
    a = cn.clip_text_encode(text="red circle", clip=clip, ctx=ctx)
    b = cn.clip_text_encode(text="blue", clip=tiny_clip(), ctx=ctx)
    mixed = cn.conditioning_average(
        conditioning_to=a, conditioning_from=b, conditioning_to_strength=1.0
    )
    assert torch.equal(mixed.entries[0].cond, a.entries[0].cond)
    assert mixed.entries[0].cond.shape == (1, 77, WIDTH)
