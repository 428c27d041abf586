"""SaveImage, PreviewImage, LoadImage, LoadImageMask: file naming, PNG metadata, decoding,
fingerprints, validation, and a real engine run."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image as PILImage

from nodegraph import Context, InterruptFlag, Registry
from nodegraph.execute import Executor
from nodegraph.settings import Settings
from nodegraph.validate import validate_prompt
from nodes import image_io, image_ops

PROMPT = {"1": {"class_type": "EmptyImage", "inputs": {"width": 4}}}
WORKFLOW = {"nodes": [{"id": 1, "type": "EmptyImage"}], "links": [], "version": 0.4}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    s = Settings(base_dir=tmp_path)
    for folder in (s.input_dir, s.output_dir, s.temp_dir):
        folder.mkdir(parents=True)
    return s


@pytest.fixture
def ctx(settings: Settings) -> Context:
    return Context(node_id="9", prompt_id="p", settings=settings, interrupt=InterruptFlag())


def ramp(batch: int = 1, height: int = 3, width: int = 5, channels: int = 3) -> torch.Tensor:
    values = torch.linspace(0, 1, batch * height * width * channels)
    return values.reshape(batch, height, width, channels)


# -- save naming ------------------------------------------------------------------------------


def test_counter_continues_after_the_highest_existing_file(settings: Settings) -> None:
    out = settings.output_dir
    for name in ("ComfyUI_00007_.png", "ComfyUI_00002_.png", "Other_00050_.png", "ComfyUI.txt"):
        (out / name).write_bytes(b"x")
    path = image_io.save_image_path("ComfyUI", out, 8, 8)
    assert (path.filename, path.counter, path.subfolder) == ("ComfyUI", 8, "")
    assert image_io.save_image_path("Fresh", out, 8, 8).counter == 1


def test_subfolders_are_created_and_reported(settings: Settings, ctx: Context) -> None:
    result = image_io.save_image(images=ramp(batch=2), filename_prefix="a/b/shot", ctx=ctx)
    assert result.values == ()
    assert result.ui == {
        "images": [
            {"filename": "shot_00001_.png", "subfolder": "a/b", "type": "output"},
            {"filename": "shot_00002_.png", "subfolder": "a/b", "type": "output"},
        ]
    }
    assert (settings.output_dir / "a" / "b" / "shot_00002_.png").is_file()


@pytest.mark.parametrize("prefix", ["../escape", "a/../../escape", "/tmp/escape"])
def test_prefix_leaving_the_output_folder_is_refused(ctx: Context, prefix: str) -> None:
    with pytest.raises(ValueError, match=r"SaveImage: .*outside the output folder"):
        image_io.save_image(images=ramp(), filename_prefix=prefix, ctx=ctx)


def test_prefix_substitutions(settings: Settings) -> None:
    now = time.struct_time((2024, 3, 5, 7, 8, 9, 1, 65, 0))
    prefix = "%year%-%month%-%day%/%hour%%minute%%second%_%width%x%height%"
    path = image_io.save_image_path(prefix, settings.output_dir, 640, 480, now)
    assert (path.subfolder, path.filename) == ("2024-03-05", "070809_640x480")


def test_batch_num_and_never_overwriting(settings: Settings, ctx: Context) -> None:
    first = image_io.save_image(images=ramp(batch=2), filename_prefix="b_%batch_num%", ctx=ctx)
    names = [entry["filename"] for entry in first.ui["images"]]
    assert names == ["b_0_00001_.png", "b_1_00002_.png"]
    before = (settings.output_dir / "b_0_00001_.png").read_bytes()
    # the literal %batch_num% prefix never matches the saved names, so the counter restarts at 1
    second = image_io.save_image(images=ramp(), filename_prefix="b_%batch_num%", ctx=ctx)
    assert second.ui["images"][0]["filename"] == "b_0_00002_.png"
    assert (settings.output_dir / "b_0_00001_.png").read_bytes() == before


def test_png_holds_pixels_prompt_and_workflow(settings: Settings, ctx: Context) -> None:
    images = ramp(height=4, width=6)
    image_io.save_image(images=images, prompt=PROMPT, extra_pnginfo={"workflow": WORKFLOW}, ctx=ctx)
    with PILImage.open(settings.output_dir / "ComfyUI_00001_.png") as saved:
        assert saved.mode == "RGB" and saved.size == (6, 4)
        assert json.loads(saved.text["prompt"]) == PROMPT
        assert json.loads(saved.text["workflow"]) == WORKFLOW
        pixels = np.asarray(saved)
    expected = np.clip(images[0].numpy() * 255.0, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected)


def test_no_metadata_without_prompt_rgba_and_grey_kept(settings: Settings, ctx: Context) -> None:
    image_io.save_image(images=ramp(channels=4), filename_prefix="rgba", ctx=ctx)
    image_io.save_image(images=ramp(channels=1), filename_prefix="grey", ctx=ctx)
    with PILImage.open(settings.output_dir / "rgba_00001_.png") as saved:
        assert saved.mode == "RGBA" and "prompt" not in saved.text
    with PILImage.open(settings.output_dir / "grey_00001_.png") as saved:
        assert saved.mode == "L"


def test_save_rejects_non_images(ctx: Context) -> None:
    with pytest.raises(ValueError, match=r"SaveImage: images must be an IMAGE"):
        image_io.save_image(images=torch.zeros(4, 4), ctx=ctx)
    with pytest.raises(ValueError, match="2 channels"):
        image_io.save_image(images=torch.zeros(1, 4, 4, 2), ctx=ctx)


def test_preview_writes_temp_files(settings: Settings, ctx: Context) -> None:
    result = image_io.preview_image(images=ramp(batch=2), prompt=PROMPT, ctx=ctx)
    entries = result.ui["images"]
    assert [e["type"] for e in entries] == ["temp", "temp"]
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00001_\.png", entries[0]["filename"])
    assert re.fullmatch(r"ComfyUI_temp_[a-z]{5}_00002_\.png", entries[1]["filename"])
    assert (settings.temp_dir / entries[1]["filename"]).is_file()
    assert not list(settings.output_dir.iterdir())


# -- loading ----------------------------------------------------------------------------------


def write(folder: Path, name: str, array: np.ndarray, **save: Any) -> Path:
    path = folder / name
    PILImage.fromarray(array).save(path, **save)
    return path


def test_load_rgba_gives_mask_from_alpha(settings: Settings, ctx: Context) -> None:
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = [[0, 51, 102, 255]] * 3
    write(settings.input_dir, "a.png", rgba)
    image, mask = image_io.load_image(image="a.png", ctx=ctx)
    assert image.shape == (1, 3, 4, 3) and image.dtype == torch.float32
    assert torch.equal(image[0, 0, 0], torch.tensor([1.0, 0.0, 0.0]))
    assert mask.shape == (1, 3, 4)
    torch.testing.assert_close(mask[0, 0], torch.tensor([1.0, 0.8, 0.6, 0.0]))


def test_load_rgb_gives_64x64_zero_mask(settings: Settings, ctx: Context) -> None:
    rgb = np.full((5, 7, 3), 51, np.uint8)
    write(settings.input_dir, "b.jpg", rgb, quality=100)
    image, mask = image_io.load_image(image="b.jpg", ctx=ctx)
    assert image.shape == (1, 5, 7, 3)
    assert torch.allclose(image, torch.full_like(image, 0.2), atol=2 / 255)
    assert mask.shape == (1, 64, 64) and not mask.any()


def test_load_applies_exif_orientation(settings: Settings, ctx: Context) -> None:
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored sideways: rotate 90 degrees to display
    write(settings.input_dir, "rot.png", np.zeros((2, 6, 3), np.uint8), exif=exif)
    image, _ = image_io.load_image(image="rot.png", ctx=ctx)
    assert image.shape == (1, 6, 2, 3)


def test_multi_frame_images_become_a_batch_of_equal_sizes(settings: Settings, ctx: Context) -> None:
    frames = [
        PILImage.new("RGB", size, color)
        for size, color in (
            ((4, 3), (255, 0, 0)),
            ((4, 3), (0, 255, 0)),
            ((5, 5), (0, 0, 255)),  # a different size is skipped
        )
    ]
    frames[0].save(settings.input_dir / "anim.tiff", save_all=True, append_images=frames[1:])
    image, mask = image_io.load_image(image="anim.tiff", ctx=ctx)
    assert image.shape == (2, 3, 4, 3)
    assert torch.equal(image[1, 0, 0], torch.tensor([0.0, 1.0, 0.0]))
    assert mask.shape == (2, 64, 64)


def test_sixteen_bit_and_mode_i_keep_their_range(settings: Settings, ctx: Context) -> None:
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    write(settings.input_dir, "g16.png", values)
    write(settings.input_dir, "i32.tiff", values.astype(np.int32))
    for name in ("g16.png", "i32.tiff"):
        image, _ = image_io.load_image(image=name, ctx=ctx)
        assert image.shape == (1, 1, 3, 3)
        torch.testing.assert_close(image[0, 0, :, 0], torch.tensor([0.0, 32768 / 65535, 1.0]))


def test_annotated_names_pick_the_folder(settings: Settings, ctx: Context) -> None:
    write(settings.output_dir, "o.png", np.full((2, 2, 3), 255, np.uint8))
    image, _ = image_io.load_image(image="o.png [output]", ctx=ctx)
    assert image.min() == 1.0
    assert image_io.validate_image_file("o.png [output]", settings) is True
    assert image_io.validate_image_file("o.png", settings) == "Invalid image file: o.png"


def test_names_escaping_the_folder_are_refused(settings: Settings, ctx: Context) -> None:
    write(settings.base_dir, "secret.png", np.zeros((2, 2, 3), np.uint8))
    with pytest.raises(ValueError, match=r"LoadImage: image: .*inside the input folder"):
        image_io.load_image(image="../secret.png", ctx=ctx)
    assert image_io.validate_image_file("../secret.png", settings) == (
        "Invalid image file: ../secret.png"
    )


def test_missing_and_broken_files_name_the_node(settings: Settings, ctx: Context) -> None:
    with pytest.raises(FileNotFoundError, match=r"LoadImage: image 'nope\.png' was not found"):
        image_io.load_image(image="nope.png", ctx=ctx)
    (settings.input_dir / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"LoadImage: image 'bad\.png' cannot be read"):
        image_io.load_image(image="bad.png", ctx=ctx)


def test_input_listing_is_sorted_images_only(settings: Settings) -> None:
    for name in ("b.png", "a.jpg", "notes.txt", "c.webp"):
        (settings.input_dir / name).write_bytes(b"x")
    (settings.input_dir / "sub").mkdir()
    (settings.input_dir / "sub" / "d.png").write_bytes(b"x")
    assert image_io.list_input_images(settings) == ["a.jpg", "b.png", "c.webp"]
    assert image_io.list_input_images(None) == []


def test_fingerprint_follows_file_content(settings: Settings) -> None:
    path = write(settings.input_dir, "f.png", np.zeros((2, 2, 3), np.uint8))
    first = image_io.image_file_fingerprint("f.png", settings)
    assert first == image_io.image_file_fingerprint("f.png", settings, channel="red")
    write(settings.input_dir, "f.png", np.ones((2, 2, 3), np.uint8))
    assert image_io.image_file_fingerprint("f.png", settings) != first
    assert len(first) == 64 and path.is_file()


def test_load_image_mask_channels(settings: Settings, ctx: Context) -> None:
    rgba = np.zeros((2, 3, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 1] = 102
    rgba[..., 3] = 51
    write(settings.input_dir, "m.png", rgba)
    red = image_io.load_image_mask(image="m.png", channel="red", ctx=ctx)
    green = image_io.load_image_mask(image="m.png", channel="green", ctx=ctx)
    alpha = image_io.load_image_mask(image="m.png", channel="alpha", ctx=ctx)
    assert red.shape == (1, 2, 3) and red.min() == 1.0
    torch.testing.assert_close(green, torch.full((1, 2, 3), 0.4))
    torch.testing.assert_close(alpha, torch.full((1, 2, 3), 0.8))
    write(settings.input_dir, "rgb.png", np.zeros((2, 3, 3), np.uint8))
    opaque = image_io.load_image_mask(image="rgb.png", channel="alpha", ctx=ctx)
    assert opaque.shape == (1, 2, 3) and not opaque.any()


def test_object_info_matches_comfyui(settings: Settings) -> None:
    registry = Registry()
    registry.add_module(image_io)
    write(settings.input_dir, "z.png", np.zeros((2, 2, 3), np.uint8))
    info = registry.object_info(settings)
    assert info["SaveImage"]["input"] == {
        "required": {"images": ["IMAGE"], "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
        "hidden": {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"},
    }
    assert info["SaveImage"]["output"] == [] and info["SaveImage"]["output_node"] is True
    assert info["LoadImage"]["input"]["required"] == {"image": [["z.png"], {"image_upload": True}]}
    assert info["LoadImage"]["output"] == ["IMAGE", "MASK"]
    assert info["LoadImageMask"]["input"]["required"]["channel"] == [
        ["alpha", "red", "green", "blue"]
    ]
    assert (info["LoadImageMask"]["category"], info["LoadImageMask"]["display_name"]) == (
        "mask",
        "Load Image (as Mask)",
    )


# -- a real engine run ------------------------------------------------------------------------


def make_registry() -> Registry:
    registry = Registry()
    for module in (image_ops, image_io):
        registry.add_module(module)
    return registry


def test_engine_run_saves_png_with_metadata(settings: Settings) -> None:
    registry = make_registry()
    prompt = {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 8, "height": 4, "batch_size": 1, "color": 0xFF0000},
        },
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "run"}},
    }
    validation = validate_prompt(registry, prompt, settings=settings)
    assert validation.ok and not validation.node_errors, validation.to_json()
    result = Executor(registry, settings).execute(
        validation.prompt,
        validation.outputs,
        prompt_id="p1",
        extra_data={"extra_pnginfo": {"workflow": WORKFLOW}},
    )
    assert result.status == "success", result.error
    assert result.outputs["3"] == {
        "images": [{"filename": "run_00001_.png", "subfolder": "", "type": "output"}]
    }
    with PILImage.open(settings.output_dir / "run_00001_.png") as saved:
        assert json.loads(saved.text["prompt"]) == prompt
        assert json.loads(saved.text["workflow"]) == WORKFLOW
        assert saved.getpixel((0, 0)) == (0, 255, 255)


def test_engine_load_image_skips_the_list_check(settings: Settings) -> None:
    registry = make_registry()
    write(settings.input_dir, "sub.png", np.zeros((2, 2, 3), np.uint8))
    (settings.input_dir / "dir").mkdir()
    write(settings.input_dir / "dir", "nested.png", np.zeros((2, 2, 3), np.uint8))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "dir/nested.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    validation = validate_prompt(registry, prompt, settings=settings)
    assert validation.ok and not validation.node_errors, validation.to_json()
    result = Executor(registry, settings).execute(
        validation.prompt, validation.outputs, prompt_id="p"
    )
    assert result.status == "success", result.error


def test_engine_reports_a_missing_image_at_validation(settings: Settings) -> None:
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "missing.png"}},
        "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}},
    }
    validation = validate_prompt(make_registry(), prompt, settings=settings)
    errors = validation.node_errors_json()["1"]["errors"]
    assert [e["details"] for e in errors] == ["image - Invalid image file: missing.png"]


def test_engine_reloads_only_when_the_file_changes(settings: Settings) -> None:
    registry = make_registry()
    executor = Executor(registry, settings)
    write(settings.input_dir, "c.png", np.zeros((2, 2, 3), np.uint8))
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "c.png"}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["2", 0]}},
    }

    def run() -> list[str]:
        validation = validate_prompt(registry, prompt, settings=settings)
        return executor.execute(validation.prompt, validation.outputs, prompt_id="p").executed

    assert "1" in run()
    assert "1" not in run()
    write(settings.input_dir, "c.png", np.ones((2, 2, 3), np.uint8))
    assert "1" in run()
