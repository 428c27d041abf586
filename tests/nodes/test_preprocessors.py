"""Canny (kornia-equivalent) and Scribble XDoG preprocessors: algorithm steps, edges, nodes."""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
import torch

from nodegraph import Registry
from nodes import preprocessors
from nodes.sd import canny as canny_mod
from nodes.sd import xdog

STEP_PEAK = 2.587
"""Sobel magnitude (after the sigma-1 blur) at the middle pixel of a 0 -> 0.5 -> 1 step."""


def ringed_square(size: int = 16, lo: int = 3, hi: int = 13, contrast: float = 1.0) -> torch.Tensor:
    """[1, 3, size, size]: a square of `contrast` on black whose outer ring is half as bright, so
    the step is centred on that ring and the edge must lie exactly on it."""
    img = torch.zeros(1, 3, size, size)
    img[..., lo:hi, lo:hi] = contrast / 2
    img[..., lo + 1 : hi - 1, lo + 1 : hi - 1] = contrast
    return img


def vertical_step(height: int, width: int, column: int, contrasts: torch.Tensor) -> torch.Tensor:
    """[1, 1, H, W] stepping up at `column` (half way there), by contrasts[row] in each row."""
    img = torch.zeros(1, 1, height, width)
    img[0, 0, :, column] = contrasts / 2
    img[0, 0, :, column + 1 :] = contrasts[:, None]
    return img


# -- building blocks ----------------------------------------------------------------------------


def test_grey_uses_bt601_weights() -> None:
    rgb = torch.tensor([0.2, 0.5, 0.9]).view(1, 3, 1, 1)
    grey = canny_mod.to_grey(rgb)
    assert grey.shape == (1, 1, 1, 1)
    assert grey.item() == pytest.approx(0.299 * 0.2 + 0.587 * 0.5 + 0.114 * 0.9, abs=1e-6)


def test_gaussian_kernel_is_normalised_and_symmetric() -> None:
    taps = canny_mod.gaussian_kernel1d(5, 1.0, dtype=torch.float64)
    expected = np.exp(-((np.arange(5) - 2.0) ** 2) / 2)
    np.testing.assert_allclose(taps.numpy(), expected / expected.sum(), rtol=1e-12)


def test_blur_keeps_constants_and_reflects_at_borders() -> None:
    flat = torch.full((2, 1, 6, 7), 0.25)
    assert torch.allclose(canny_mod.gaussian_blur(flat, 5, 1.0), flat)
    img = torch.zeros(1, 1, 5, 5)
    img[0, 0, 1, 2] = 1.0
    out = canny_mod.gaussian_blur(img, 5, 1.0)
    taps = canny_mod.gaussian_kernel1d(5, 1.0, dtype=torch.float32)
    # Reflect padding mirrors row 1 onto row -1, so row 0 sees the pixel twice.
    assert out[0, 0, 0, 2].item() == pytest.approx((taps[3] + taps[1]).item() * taps[2].item())


def test_sobel_is_unnormalised_and_replicates_edges() -> None:
    ramp = torch.arange(6.0).view(1, 1, 1, 6).expand(1, 1, 4, 6)
    gx, gy = canny_mod.sobel_gradients(ramp)
    assert torch.allclose(gx[..., 1:-1], torch.full_like(gx[..., 1:-1], 8.0))
    assert torch.allclose(gx[..., 0], torch.full_like(gx[..., 0], 4.0))  # replicate border
    assert torch.allclose(gy, torch.zeros_like(gy))


def reference_nms(magnitude: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Per-pixel non-maximum suppression written as plainly as possible."""
    steps = [(0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1), (-1, 0), (-1, 1)]
    height, width = magnitude.shape
    out = np.zeros_like(magnitude)

    def at(y: int, x: int) -> float:
        return float(magnitude[y, x]) if 0 <= y < height and 0 <= x < width else 0.0

    for y in range(height):
        for x in range(width):
            octant = int(np.round(angle[y, x] * 4 / np.pi))
            ahead, behind = steps[octant % 8], steps[(octant + 4) % 8]
            centre = float(magnitude[y, x])
            if centre - at(y + ahead[0], x + ahead[1]) > 0 and (
                centre - at(y + behind[0], x + behind[1]) > 0
            ):
                out[y, x] = centre
    return out


def reference_hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Breadth-first flood from every strong pixel through 8-connected weak pixels."""
    keep = strong.copy()
    queue = deque(zip(*np.nonzero(strong), strict=True))
    height, width = strong.shape
    while queue:
        y, x = queue.popleft()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                ny, nx = y + dy, x + dx
                if 0 <= ny < height and 0 <= nx < width and weak[ny, nx] and not keep[ny, nx]:
                    keep[ny, nx] = True
                    queue.append((ny, nx))
    return keep


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nms_and_hysteresis_match_plain_references(seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    img = canny_mod.gaussian_blur(torch.rand(1, 1, 19, 23, generator=gen), 5, 1.0)
    gx, gy = canny_mod.sobel_gradients(img)
    magnitude = torch.sqrt(gx * gx + gy * gy + 1e-6)
    angle = torch.atan2(gy, gx)
    ours = canny_mod.non_max_suppression(magnitude, angle)[0, 0].numpy()
    expected = reference_nms(magnitude[0, 0].numpy(), angle[0, 0].numpy())
    np.testing.assert_array_equal(ours, expected)

    values = torch.from_numpy(ours)
    low, high = np.quantile(ours[ours > 0], [0.3, 0.8])
    strong, weak = values > high, (values > low) & (values <= high)
    kept = canny_mod.hysteresis(strong[None, None], weak[None, None])[0, 0].numpy()
    np.testing.assert_array_equal(kept, reference_hysteresis(strong.numpy(), weak.numpy()))
    assert weak.numpy().sum() > kept.sum() - strong.numpy().sum() > 0  # some weak kept, not all


# -- edges ------------------------------------------------------------------------------------


def test_square_edges_lie_exactly_on_its_border_one_pixel_wide() -> None:
    _, edges = canny_mod.canny(ringed_square(), 0.4, 0.8)
    e = edges[0, 0]
    assert set(e.unique().tolist()) <= {0.0, 1.0}
    for row in range(5, 11):  # away from the corners every row crosses the border twice
        assert torch.nonzero(e[row]).flatten().tolist() == [3, 12]
        assert torch.nonzero(e[:, row]).flatten().tolist() == [3, 12]
    ring = torch.zeros_like(e, dtype=torch.bool)
    ring[2:14, 2:14] = True
    ring[5:11, 5:11] = False  # nothing deep inside
    assert not e[~ring].any()


def test_higher_threshold_removes_weak_edges() -> None:
    contrasts = torch.tensor([1.0] * 8 + [0.0] * 4 + [0.1] * 8)
    img = torch.zeros(1, 1, 20, 24)
    img[..., :8, :] = vertical_step(8, 24, 6, contrasts[:8])
    img[..., 12:, :] = vertical_step(8, 24, 16, contrasts[12:])
    _, both = canny_mod.canny(img, 0.1, 0.2)
    assert both[0, 0, 2:6, 6].all() and both[0, 0, 14:18, 16].all()  # 0.1 step: ~0.26 > 0.2
    _, strong_only = canny_mod.canny(img, 0.3, 0.5)
    assert strong_only[0, 0, 2:6, 6].all()
    assert not strong_only[0, 0, 12:, :].any()


def test_hysteresis_keeps_weak_edges_connected_to_strong_ones() -> None:
    # One column edge fading from strong (top) to weak (bottom), plus an unconnected weak edge
    # (contrast 0.2 everywhere) further right.
    img = vertical_step(20, 30, 8, torch.linspace(0.6, 0.15, 20))
    img[0, 0, :, 20] += 0.1
    img[0, 0, :, 21:] += 0.2
    low, high = 0.3, 0.8
    magnitude, edges = canny_mod.canny(img, low, high)
    column = magnitude[0, 0, :, 8]
    assert (column[:5] > high).all() and (low < column[14:]).all() and (column[14:] < high).all()
    assert (low < magnitude[0, 0, 2:18, 20]).all() and (magnitude[0, 0, :, 20] < high).all()
    assert edges[0, 0, :, 8].all()  # the weak bottom is kept through the strong top
    assert not edges[0, 0, :, 18:].any()  # the lone weak edge goes
    _, marked = canny_mod.canny(img, low, high, use_hysteresis=False)
    assert marked[0, 0, 2, 8] == 1 and marked[0, 0, 16, 8] == 0.5 and marked[0, 0, 10, 20] == 0.5


def test_flat_image_has_no_edges_and_bad_thresholds_fail() -> None:
    _, edges = canny_mod.canny(torch.full((1, 3, 8, 8), 0.7), 0.1, 0.2)
    assert not edges.any()
    with pytest.raises(ValueError, match="low_threshold"):
        canny_mod.canny(torch.zeros(1, 1, 4, 4), 0.5, 0.4)


# -- nodes --------------------------------------------------------------------------------------


def test_canny_node_shape_dtype_range_and_batch() -> None:
    first = ringed_square().movedim(1, -1)
    second = torch.rand(1, 16, 16, 3, generator=torch.Generator().manual_seed(3))
    batch = torch.cat([first, second])
    out = preprocessors.canny_node(image=batch, low_threshold=0.4, high_threshold=0.8)
    assert out.shape == (2, 16, 16, 3) and out.dtype == torch.float32
    assert set(out.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(out[..., 0], out[..., 2])
    alone = preprocessors.canny_node(image=second, low_threshold=0.4, high_threshold=0.8)
    assert torch.equal(out[1:], alone)
    assert out[0, 8, 3].all() and not out[0, 8, 8].any()
    rgba = torch.cat([batch, torch.ones(2, 16, 16, 1)], dim=-1)
    assert torch.equal(preprocessors.canny_node(image=rgba), out)


def test_canny_node_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="Canny: low_threshold"):
        preprocessors.canny_node(
            image=torch.zeros(1, 8, 8, 3), low_threshold=0.9, high_threshold=0.5
        )
    with pytest.raises(ValueError, match="Canny: image"):
        preprocessors.canny_node(image=torch.zeros(8, 8, 3))


def test_reflect101_matches_numpy_reflect() -> None:
    for length, pad in [(5, 2), (4, 3), (3, 7), (1, 4)]:
        values = np.arange(length)
        index = xdog.reflect101_index(length, pad).numpy()
        np.testing.assert_array_equal(values[index], np.pad(values, pad, mode="reflect"))


def test_xdog_draws_dark_lines_white_and_scales_to_resolution() -> None:
    img = torch.ones(1, 64, 96, 3)
    img[:, 30:32, 10:80, :] = 0.0  # a dark horizontal line on white
    out = preprocessors.scribble_xdog(image=img, threshold=32, resolution=64)
    assert out.shape == (1, 64, 96, 3)
    assert set(out.unique().tolist()) == {0.0, 1.0}
    assert out[0, 30:32, 20:70].all()
    assert not out[0, :20].any() and not out[0, 45:].any()
    assert not out[0, 31, 5].any() and not out[0, 31, 90].any()
    bigger = preprocessors.scribble_xdog(image=img, threshold=32, resolution=128)
    assert bigger.shape == (1, 128, 192, 3)


def test_xdog_threshold_and_flat_images() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(2, 40, 40, 3, generator=gen)
    counts = [xdog.xdog_lines(img, t, 64).sum().item() for t in (1, 16, 48, 64)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    assert not xdog.xdog_lines(torch.full((1, 30, 30, 3), 0.5), 1, 64).any()
    with pytest.raises(ValueError, match="Scribble_XDoG_Preprocessor: threshold"):
        preprocessors.scribble_xdog(image=img, threshold=0, resolution=64)


def test_object_info_entries() -> None:
    registry = Registry()
    registry.add_module(preprocessors)
    info = registry.object_info()
    canny_info = info["Canny"]
    assert canny_info["category"] == "image/preprocessors"
    required = canny_info["input"]["required"]
    assert list(required) == ["image", "low_threshold", "high_threshold"]
    assert required["image"] == ["IMAGE"]
    assert required["low_threshold"] == [
        "FLOAT",
        {"default": 0.4, "min": 0.01, "max": 0.99, "step": 0.01},
    ]
    assert required["high_threshold"][1]["default"] == 0.8
    assert canny_info["output"] == ["IMAGE"] and canny_info["output_name"] == ["IMAGE"]
    xdog_info = info["Scribble_XDoG_Preprocessor"]
    assert xdog_info["display_name"] == "Scribble XDoG Lines"
    assert xdog_info["input"]["required"]["threshold"] == [
        "INT",
        {"default": 32, "min": 1, "max": 64, "step": 1},
    ]
    assert xdog_info["input"]["required"]["resolution"][1]["default"] == 512
