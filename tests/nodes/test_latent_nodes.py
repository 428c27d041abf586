"""Latent nodes without a model: shapes, values, noise masks and batch indexes."""

from __future__ import annotations

import pytest
import torch

from nodegraph import Registry
from nodes import latent
from nodes.types import Latent


def numbered(batch: int = 1, height: int = 4, width: int = 4) -> Latent:
    """A latent whose every value is distinct, to see where values went."""
    values = torch.arange(batch * 4 * height * width, dtype=torch.float32)
    return Latent(samples=values.reshape(batch, 4, height, width))


def test_empty_latent_image() -> None:
    out = latent.empty_latent_image(width=128, height=64, batch_size=2)
    assert out.samples.shape == (2, 4, 8, 16)
    assert out.samples.dtype == torch.float32 and out.samples.device.type == "cpu"
    assert not out.samples.any()
    assert out.noise_mask is None and out.batch_index is None


def test_latent_upscale_sizes() -> None:
    src = numbered(height=8, width=16)
    same = latent.latent_upscale(
        samples=src, upscale_method="bilinear", width=0, height=0, crop="disabled"
    )
    assert same is src
    aspect = latent.latent_upscale(
        samples=src, upscale_method="nearest-exact", width=0, height=128, crop="disabled"
    )
    assert aspect.samples.shape == (1, 4, 16, 32)
    at_least_64 = latent.latent_upscale(
        samples=src, upscale_method="bislerp", width=16, height=200, crop="center"
    )
    assert at_least_64.samples.shape == (1, 4, 25, 8)
    by = latent.latent_upscale_by(samples=src, upscale_method="bicubic", scale_by=1.5)
    assert by.samples.shape == (1, 4, 12, 24)


def test_latent_upscale_keeps_mask_and_indexes() -> None:
    src = Latent(numbered().samples, noise_mask=torch.ones(1, 1, 4, 4), batch_index=(3,))
    out = latent.latent_upscale_by(samples=src, upscale_method="area", scale_by=2.0)
    assert out.noise_mask is src.noise_mask and out.batch_index == (3,)


def test_latent_composite_pastes_and_clips() -> None:
    to = Latent(torch.zeros(2, 4, 4, 4))
    pasted = latent.latent_composite(
        samples_to=to, samples_from=Latent(torch.ones(1, 4, 3, 3)), x=16, y=8, feather=0
    )
    expected = torch.zeros(4, 4)
    expected[1:4, 2:4] = 1  # clipped at the right edge
    assert torch.equal(pasted.samples[1, 2], expected)
    assert not to.samples.any()  # the input is left alone
    outside = latent.latent_composite(
        samples_to=to, samples_from=Latent(torch.ones(1, 4, 3, 3)), x=64, y=0, feather=0
    )
    assert not outside.samples.any()


def test_latent_composite_feathers_inner_edges() -> None:
    out = latent.latent_composite(
        samples_to=Latent(torch.zeros(1, 4, 4, 4)),
        samples_from=Latent(torch.ones(1, 4, 4, 4)),
        x=8,
        y=0,
        feather=16,
    )
    # only the left edge lies inside the destination: it fades over 2 cells (0.5, 1)
    assert out.samples[0, 0].tolist() == [[0.0, 0.5, 1.0, 1.0]] * 4
    with pytest.raises(ValueError, match="LatentComposite: samples_from"):
        latent.latent_composite(
            samples_to=Latent(torch.zeros(2, 4, 4, 4)),
            samples_from=Latent(torch.zeros(3, 4, 4, 4)),
        )


def test_repeat_latent_batch() -> None:
    src = Latent(
        numbered(batch=2).samples,
        noise_mask=torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4)]),
        batch_index=(0, 2),
    )
    out = latent.repeat_latent_batch(samples=src, amount=3)
    assert out.samples.shape == (6, 4, 4, 4)
    assert torch.equal(out.samples[4], src.samples[0])
    assert out.noise_mask is not None and out.noise_mask.shape == (6, 1, 4, 4)
    assert [m.max().item() for m in out.noise_mask] == [0, 1, 0, 1, 0, 1]
    assert out.batch_index == (0, 2, 3, 5, 6, 8)
    single_mask = Latent(src.samples, noise_mask=torch.ones(1, 1, 4, 4))
    assert latent.repeat_latent_batch(samples=single_mask, amount=2).noise_mask.shape[0] == 1


def test_latent_from_batch() -> None:
    src = numbered(batch=4)
    out = latent.latent_from_batch(samples=src, batch_index=1, length=2)
    assert torch.equal(out.samples, src.samples[1:3]) and out.batch_index == (1, 2)
    clamped = latent.latent_from_batch(samples=src, batch_index=10, length=5)
    assert torch.equal(clamped.samples, src.samples[3:]) and clamped.batch_index == (3,)
    again = latent.latent_from_batch(samples=out, batch_index=1, length=1)
    assert again.batch_index == (2,)
    masks = torch.arange(2, dtype=torch.float32).reshape(2, 1, 1, 1).expand(2, 1, 4, 4)
    cycled = latent.latent_from_batch(
        samples=Latent(src.samples, noise_mask=masks), batch_index=2, length=2
    )
    assert cycled.noise_mask is not None
    assert [m.max().item() for m in cycled.noise_mask] == [0.0, 1.0]


def test_set_latent_noise_mask_reshapes() -> None:
    out = latent.set_latent_noise_mask(samples=numbered(batch=2), mask=torch.rand(2, 32, 32))
    assert out.noise_mask is not None and out.noise_mask.shape == (2, 1, 32, 32)
    flat = latent.set_latent_noise_mask(samples=numbered(), mask=torch.rand(32, 32))
    assert flat.noise_mask is not None and flat.noise_mask.shape == (1, 1, 32, 32)
    with pytest.raises(ValueError, match="SetLatentNoiseMask: mask must be a MASK"):
        latent.set_latent_noise_mask(samples=numbered(), mask=torch.rand(32))


def test_latent_batch_joins_and_indexes() -> None:
    first = Latent(numbered(batch=2).samples, batch_index=(5, 6))
    out = latent.latent_batch(samples1=first, samples2=numbered(height=8, width=8))
    assert out.samples.shape == (3, 4, 4, 4)
    assert out.batch_index == (5, 6, 0)
    assert torch.equal(out.samples[:2], first.samples)


def test_latent_composite_masked() -> None:
    dest = Latent(torch.zeros(1, 4, 4, 4))
    half = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # right half of the source
    out = latent.latent_composite_masked(
        destination=dest, source=Latent(torch.ones(1, 4, 2, 2)), x=8, y=8, mask=half
    )
    expected = torch.zeros(4, 4)
    expected[1:3, 2] = 1
    assert torch.equal(out.samples[0, 3], expected)
    whole = latent.latent_composite_masked(
        destination=dest, source=Latent(torch.ones(1, 4, 2, 2)), resize_source=True
    )
    assert whole.samples.min() == 1.0


def test_bad_latent_is_named() -> None:
    with pytest.raises(ValueError, match="LatentUpscaleBy: samples must be a LATENT"):
        latent.latent_upscale_by(
            samples=Latent(torch.zeros(4, 4)), upscale_method="bilinear", scale_by=2.0
        )
    with pytest.raises(ValueError, match="has no pixels"):
        latent.latent_upscale_by(samples=numbered(), upscale_method="bilinear", scale_by=0.01)


def test_object_info_matches_comfyui() -> None:
    registry = Registry()
    registry.add_module(latent)
    info = registry.object_info()
    assert info["EmptyLatentImage"]["input"] == {
        "required": {
            "width": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
            "height": ["INT", {"default": 512, "min": 16, "max": 16384, "step": 8}],
            "batch_size": ["INT", {"default": 1, "min": 1, "max": 4096}],
        }
    }
    assert (info["EmptyLatentImage"]["category"], info["EmptyLatentImage"]["output"]) == (
        "latent",
        ["LATENT"],
    )
    assert info["LatentUpscale"]["input"]["required"]["upscale_method"] == [
        ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"]
    ]
    assert info["LatentFromBatch"]["input"]["required"] == {
        "samples": ["LATENT"],
        "batch_index": ["INT", {"default": 0, "min": 0, "max": 63}],
        "length": ["INT", {"default": 1, "min": 1, "max": 64}],
    }
    assert info["LatentComposite"]["input_order"]["required"] == [
        "samples_to",
        "samples_from",
        "x",
        "y",
        "feather",
    ]
    assert info["SetLatentNoiseMask"]["category"] == "latent/inpaint"
    assert info["LatentCompositeMasked"]["input"]["optional"] == {"mask": ["MASK"]}
