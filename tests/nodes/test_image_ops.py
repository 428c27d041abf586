"""common_upscale (every method, crop, bislerp) and the pixel image/mask nodes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from nodegraph import Registry
from nodes import image_ops
from nodes.sd.resize import bislerp, common_upscale, slerp


def grid(height: int, width: int, channels: int = 1) -> torch.Tensor:
    """[1, C, H, W] holding 0, 1, 2, ... so every pixel is recognisable."""
    return torch.arange(channels * height * width, dtype=torch.float32).reshape(
        1, channels, height, width
    )


# -- common_upscale ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["nearest-exact", "bilinear", "area", "bicubic", "bislerp"])
def test_every_method_gives_the_target_shape(method: str) -> None:
    x = torch.rand(2, 4, 5, 7)
    out = common_upscale(x, 11, 3, method, "disabled")
    assert out.shape == (2, 4, 3, 11) and out.dtype == x.dtype


def test_nearest_exact_repeats_pixels() -> None:
    out = common_upscale(grid(2, 2), 4, 4, "nearest-exact", "disabled")
    expected = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    assert torch.equal(out[0, 0], expected.float())


def test_area_averages_blocks() -> None:
    out = common_upscale(grid(2, 4), 2, 1, "area", "disabled")
    assert torch.equal(out[0, 0], torch.tensor([[(0 + 1 + 4 + 5) / 4, (2 + 3 + 6 + 7) / 4]]))


def test_center_crop_keeps_the_middle() -> None:
    # 2x6 to a square: the outer two columns on each side go, then nearest keeps the rest
    out = common_upscale(grid(2, 6), 2, 2, "nearest-exact", "center")
    assert torch.equal(out[0, 0], torch.tensor([[2.0, 3.0], [8.0, 9.0]]))
    tall = common_upscale(grid(6, 2), 2, 2, "nearest-exact", "center")
    assert torch.equal(tall[0, 0], torch.tensor([[4.0, 5.0], [6.0, 7.0]]))


def test_lanczos_matches_pil_on_8_bit_pixels() -> None:
    rgb = torch.rand(1, 3, 6, 5)
    out = common_upscale(rgb, 9, 4, "lanczos", "disabled")
    pixels = np.clip(255.0 * rgb[0].movedim(0, -1).numpy(), 0, 255).astype(np.uint8)
    resized = PILImage.fromarray(pixels).resize((9, 4), resample=PILImage.Resampling.LANCZOS)
    expected = torch.from_numpy(np.asarray(resized).astype(np.float32) / 255.0).movedim(-1, 0)
    assert out.shape == (1, 3, 4, 9)
    assert torch.equal(out[0], expected)
    assert common_upscale(torch.rand(1, 1, 3, 3), 6, 6, "lanczos", "disabled").shape == (1, 1, 6, 6)
    assert common_upscale(torch.rand(1, 2, 3, 3), 6, 6, "lanczos", "disabled").shape == (1, 2, 6, 6)


def test_bislerp_keeps_endpoints_and_lengths() -> None:
    x = torch.randn(1, 4, 3, 3)
    out = bislerp(x, 12, 12)
    for row, col in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        torch.testing.assert_close(out[0, :, row, col], x[0, :, row, col])
    same = bislerp(x, 3, 3)
    torch.testing.assert_close(same, x)
    unit = torch.nn.functional.normalize(torch.randn(1, 4, 2, 2), dim=1)
    torch.testing.assert_close(bislerp(unit, 7, 5).norm(dim=1), torch.ones(1, 5, 7))


def test_slerp_turns_along_the_circle() -> None:
    a = torch.tensor([[1.0, 0.0]]).T[None]  # [1, 2, 1]: vectors along dim 1
    b = torch.tensor([[0.0, 2.0]]).T[None]
    half = slerp(a, b, torch.tensor(0.5))
    torch.testing.assert_close(half[0, :, 0], torch.tensor([1.5, 1.5]) / math.sqrt(2))
    opposite = slerp(a, -a, torch.tensor(0.25))  # no great circle: linear blend
    torch.testing.assert_close(opposite[0, :, 0], torch.tensor([0.5, 0.0]))
    zero = slerp(a, torch.zeros_like(a), torch.tensor(0.5))
    assert torch.isfinite(zero).all()


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="unknown upscale method 'cubic'"):
        common_upscale(grid(2, 2), 4, 4, "cubic", "disabled")
    with pytest.raises(ValueError, match="unknown crop 'middle'"):
        common_upscale(grid(2, 2), 4, 4, "bilinear", "middle")
    with pytest.raises(ValueError, match="has no pixels"):
        common_upscale(grid(2, 2), 0, 4, "bilinear", "disabled")


# -- image nodes ------------------------------------------------------------------------------


def image(batch: int = 1, height: int = 4, width: int = 6, channels: int = 3) -> torch.Tensor:
    return torch.rand(batch, height, width, channels)


def test_image_scale_sizes() -> None:
    img = image(height=4, width=6)
    same = image_ops.image_scale(
        image=img, upscale_method="bilinear", width=0, height=0, crop="disabled"
    )
    assert same is img
    keep_aspect = image_ops.image_scale(
        image=img, upscale_method="nearest-exact", width=0, height=8, crop="disabled"
    )
    assert keep_aspect.shape == (1, 8, 12, 3)
    exact = image_ops.image_scale(
        image=img, upscale_method="lanczos", width=5, height=5, crop="center"
    )
    assert exact.shape == (1, 5, 5, 3)
    by = image_ops.image_scale_by(image=img, upscale_method="area", scale_by=0.5)
    assert by.shape == (1, 2, 3, 3)


def test_image_scale_to_total_pixels() -> None:
    out = image_ops.image_scale_to_total_pixels(
        image=image(height=20, width=40), upscale_method="bilinear", megapixels=0.01
    )
    # 0.01 MP = 10485 pixels at 2:1 -> 145 x 72
    assert out.shape == (1, 72, 145, 3)


def test_invert_and_errors() -> None:
    img = image()
    torch.testing.assert_close(image_ops.image_invert(image=img), 1.0 - img)
    with pytest.raises(ValueError, match="ImageInvert: image must be an IMAGE"):
        image_ops.image_invert(image=torch.rand(4, 4, 3))


def test_image_batch_resizes_and_adds_alpha() -> None:
    first, second = image(batch=2, channels=4), image(batch=1, height=8, width=12)
    out = image_ops.image_batch(image1=first, image2=second)
    assert out.shape == (3, 4, 6, 4)
    assert torch.equal(out[:2], first)
    assert torch.equal(out[2, ..., 3], torch.ones(4, 6))
    with pytest.raises(ValueError, match="ImageBatch: images with 3 and 2 channels"):
        image_ops.image_batch(image1=image(), image2=image(channels=2))


def test_empty_image_colour() -> None:
    out = image_ops.empty_image(width=3, height=2, batch_size=2, color=0xFF8000)
    assert out.shape == (2, 2, 3, 3) and out.dtype == torch.float32
    assert torch.equal(out[1, 1, 2], torch.tensor([1.0, 128 / 255, 0.0]))


def test_pad_for_outpaint_image_and_mask() -> None:
    img = torch.rand(2, 10, 10, 3)
    padded, mask = image_ops.image_pad_for_outpaint(
        image=img, left=8, top=0, right=0, bottom=16, feathering=2
    )
    assert padded.shape == (2, 26, 18, 3) and mask.shape == (1, 26, 18)
    assert torch.equal(padded[:, :10, 8:], img)
    assert (padded[:, :, :8] == 0.5).all() and (padded[:, 10:] == 0.5).all()
    assert (mask[0, :, :8] == 1).all() and (mask[0, 10:] == 1).all()
    inner = mask[0, :10, 8:]
    # fading from the left edge (distance d: ((2 - d) / 2)^2) and from the bottom edge
    # (distance 10 - row); nothing at the top and right, which were not padded
    assert inner[0, :3].tolist() == [1.0, 0.25, 0.0]
    assert inner[9, 5].item() == 0.25  # one row above the bottom edge
    assert inner[9, 0].item() == 1.0 and inner[8, 5].item() == 0.0 and inner[0, 9].item() == 0.0
    no_fit = image_ops.image_pad_for_outpaint(
        image=img, left=8, top=0, right=0, bottom=0, feathering=5
    )[1]
    assert not no_fit[0, :, 8:].any()


def test_masks() -> None:
    solid = image_ops.solid_mask(value=0.25, width=3, height=2)
    assert solid.shape == (1, 2, 3) and (solid == 0.25).all()
    torch.testing.assert_close(image_ops.invert_mask(mask=solid), torch.full((1, 2, 3), 0.75))
    assert image_ops.invert_mask(mask=torch.zeros(2, 3)).shape == (1, 2, 3)


def test_object_info_matches_comfyui() -> None:
    registry = Registry()
    registry.add_module(image_ops)
    info = registry.object_info()
    size = {"default": 512, "min": 0, "max": 16384, "step": 1}
    assert info["ImageScale"]["input"] == {
        "required": {
            "image": ["IMAGE"],
            "upscale_method": [["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]],
            "width": ["INT", size],
            "height": ["INT", size],
            "crop": [["disabled", "center"]],
        }
    }
    assert (info["ImageScale"]["category"], info["ImageScale"]["display_name"]) == (
        "image/upscaling",
        "Upscale Image",
    )
    pad = info["ImagePadForOutpaint"]
    assert pad["input_order"]["required"] == [
        "image",
        "left",
        "top",
        "right",
        "bottom",
        "feathering",
    ]
    assert pad["input"]["required"]["feathering"] == [
        "INT",
        {"default": 40, "min": 0, "max": 16384, "step": 1},
    ]
    assert pad["output"] == ["IMAGE", "MASK"]
    assert info["ImageScaleBy"]["input"]["required"]["scale_by"] == [
        "FLOAT",
        {"default": 1.0, "min": 0.01, "max": 8.0, "step": 0.01},
    ]
