"""The demo model's procedural scenes: deterministic, captions name what is drawn, held-out
combinations never appear in training, shapes stay inside the image."""

from __future__ import annotations

import numpy as np

from nodes.demo.scenes import (
    COLORS,
    HELD_OUT,
    POSITIONS,
    SHAPES,
    batch,
    for_attributes,
    render,
    scene,
)


def test_same_seed_and_index_same_sample() -> None:
    a, captions_a = batch(3, 100, 8)
    b, captions_b = batch(3, 100, 8)
    assert np.array_equal(a, b) and captions_a == captions_b
    c, _ = batch(4, 100, 8)
    assert not np.array_equal(a, c)
    assert a.shape == (8, 3, 64, 64) and a.dtype == np.float32
    assert a.min() >= -1.0 and a.max() <= 1.0


def test_captions_name_colour_shape_background_and_position() -> None:
    for index in range(300):
        s = scene(0, index)
        assert s.color != s.background
        assert f"{s.color} {s.shape}" in s.caption
        assert f"{s.background} background" in s.caption
        assert s.position in s.caption
        assert ("two " in s.caption) == (s.count == 2)


def test_held_out_combinations_are_never_trained_on() -> None:
    assert len(HELD_OUT) >= 24
    seen = {
        (s.color, s.shape, s.background, s.position)
        for s in map(lambda i: scene(1, i), range(3000))
    }
    assert not seen & HELD_OUT
    assert {c for c, *_ in HELD_OUT} == set(COLORS)
    assert {s for _, s, *_ in HELD_OUT} == set(SHAPES)
    assert {p for *_, p in HELD_OUT} == set(POSITIONS)


def test_render_colours_mask_and_bounds() -> None:
    s = for_attributes("red", "circle", "blue", "in the top left")
    image, mask = render(s, 64)
    pixels, inside = np.asarray(image), np.asarray(mask) > 250
    assert inside.sum() > 200
    assert np.abs(pixels[inside] - COLORS["red"]).max() <= 1
    assert np.abs(pixels[np.asarray(mask) == 0] - COLORS["blue"]).max() <= 1
    ys, xs = np.nonzero(inside)
    assert xs.mean() < 32 and ys.mean() < 32  # top left
    for index in range(200):  # no shape touches the border
        _, m = render(scene(2, index), 32)
        edge = np.concatenate([np.asarray(m)[0], np.asarray(m)[-1], np.asarray(m)[:, 0]])
        assert edge.max() == 0
