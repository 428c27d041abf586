"""The demo evaluation's analyser reads rendered ground-truth scenes perfectly, and says so
when there is no shape at all."""

from __future__ import annotations

import numpy as np

from nodes.demo.analyse import mask_iou, read_scene
from nodes.demo.scenes import COLORS, HELD_OUT, for_attributes, render


def test_reads_every_held_out_scene_at_every_size() -> None:
    for color, shape, background, position in sorted(HELD_OUT):
        for size in ("small", "medium", "large"):
            image, mask = render(for_attributes(color, shape, background, position, size))
            reading = read_scene(np.asarray(image))
            assert (reading.color, reading.shape, reading.background, reading.position) == (
                color,
                shape,
                background,
                position,
            ), (color, shape, background, position, size)
            assert mask_iou(reading.mask, np.asarray(mask) > 127) > 0.9


def test_plain_image_has_no_shape() -> None:
    image = np.full((64, 64, 3), COLORS["green"], dtype=np.uint8)
    reading = read_scene(image)
    assert reading.background == "green" and reading.shape is None and reading.color is None
