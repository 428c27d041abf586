"""ComfyUI's image file nodes: SaveImage, PreviewImage, LoadImage and LoadImageMask."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import random
import string
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageOps, ImageSequence, UnidentifiedImageError
from PIL.PngImagePlugin import PngInfo

from nodegraph import Combo, Context, Hidden, Result, String, node
from nodegraph.paths import resolve_inside, split_annotation
from nodes.image_ops import check_image
from nodes.types import Image, Mask

MASK_CHANNELS = ("alpha", "red", "green", "blue")
PLACEHOLDER_MASK_SIZE = 64
"""LoadImage's mask for images without alpha is a 64x64 block of zeros (ComfyUI's choice)."""

Prompt = Annotated[Any, Hidden("PROMPT")]
ExtraPngInfo = Annotated[Any, Hidden("EXTRA_PNGINFO")]


# ---------------------------------------------------------------- file names and folders


def folder_dir(settings: Any, kind: str) -> Path:
    """The input, output or temp directory of the engine settings."""
    dirs = {"input": settings.input_dir, "output": settings.output_dir, "temp": settings.temp_dir}
    return Path(dirs[kind])


def annotated_path(settings: Any, name: str, default: str = "input") -> Path:
    """The file a (possibly annotated) name refers to: "x.png [output]" lies in the output
    folder, a plain name in `default`. Names that would leave their folder are refused."""
    name, tagged = split_annotation(name)
    kind = tagged or default
    path = resolve_inside(folder_dir(settings, kind), name.replace("\\", "/")) if name else None
    if path is None or path == Path(os.path.realpath(folder_dir(settings, kind))):
        raise ValueError(f"image name {name!r} does not name a file inside the {kind} folder")
    return path


def list_input_images(settings: Any) -> list[str]:
    """Sorted image files directly in the input folder (LoadImage's choices)."""
    if settings is None:
        return []
    root = Path(settings.input_dir)
    if not root.is_dir():
        return []
    return sorted(
        entry.name
        for entry in root.iterdir()
        if entry.is_file() and (mimetypes.guess_type(entry.name)[0] or "").startswith("image/")
    )


def image_file_fingerprint(image: str, settings: Any = None, **_: Any) -> str:
    """IS_CHANGED: the sha256 of the file, so editing the file re-runs the loader."""
    if settings is None:
        raise LookupError("no settings to find the input folder; the loader re-runs each time")
    digest = hashlib.sha256()
    with annotated_path(settings, image).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def validate_image_file(image: str, settings: Any = None) -> bool | str:
    """VALIDATE_INPUTS: the file must exist (this replaces the check against the list)."""
    if not isinstance(image, str) or not image:
        return f"Invalid image file: {image}"
    if settings is None:
        return True  # no folders known here: the loader reports a missing file when it runs
    try:
        exists = annotated_path(settings, image).is_file()
    except ValueError:
        exists = False
    return True if exists else f"Invalid image file: {image}"


def _substitute(prefix: str, width: int, height: int, now: time.struct_time) -> str:
    values = {
        "%width%": str(width),
        "%height%": str(height),
        "%year%": str(now.tm_year),
        "%month%": f"{now.tm_mon:02}",
        "%day%": f"{now.tm_mday:02}",
        "%hour%": f"{now.tm_hour:02}",
        "%minute%": f"{now.tm_min:02}",
        "%second%": f"{now.tm_sec:02}",
    }
    for key, value in values.items():
        prefix = prefix.replace(key, value)
    return prefix


@dataclass(frozen=True)
class SavePath:
    """Where a batch of images goes: folder, file name stem, first counter, subfolder."""

    folder: Path
    filename: str
    counter: int
    subfolder: str


def next_counter(folder: Path, filename: str) -> int:
    """1 + the highest N among files named `<filename>_N...` in `folder` (1 if none)."""
    highest = 0
    wanted = os.path.normcase(filename)
    for entry in os.listdir(folder):
        head, rest = entry[: len(filename)], entry[len(filename) :]
        if os.path.normcase(head) != wanted or not rest.startswith("_"):
            continue
        try:
            highest = max(highest, int(rest[1:].split("_")[0]))
        except ValueError:
            continue
    return highest + 1


def save_image_path(
    prefix: str, output_dir: Path, width: int, height: int, now: time.struct_time | None = None
) -> SavePath:
    """ComfyUI's get_save_image_path: expand %width% %height% %year% %month% %day% %hour%
    %minute% %second%, split off subfolders (created as needed), refuse to leave `output_dir`."""
    if "%" in prefix:
        prefix = _substitute(prefix, width, height, now or time.localtime())
    normalised = os.path.normpath(prefix)
    subfolder, filename = os.path.dirname(normalised), os.path.basename(normalised)
    root = os.path.abspath(output_dir)
    folder = os.path.abspath(os.path.join(root, subfolder))
    if os.path.commonpath((root, folder)) != root:
        raise ValueError(f"filename_prefix {prefix!r} would save outside the output folder {root}")
    os.makedirs(folder, exist_ok=True)
    return SavePath(Path(folder), filename, next_counter(Path(folder), filename), subfolder)


# ---------------------------------------------------------------- saving


def tensor_to_pil(image: torch.Tensor) -> PILImage.Image:
    """One [height, width, channels] image in 0..1 as an 8-bit PIL image (values truncated
    after clipping, like ComfyUI, so files match byte for byte)."""
    pixels = np.clip(255.0 * image.detach().float().cpu().numpy(), 0, 255).astype(np.uint8)
    channels = pixels.shape[-1]
    if channels == 1:
        return PILImage.fromarray(pixels[..., 0], mode="L")
    if channels in (3, 4):
        return PILImage.fromarray(pixels, mode="RGB" if channels == 3 else "RGBA")
    raise ValueError(f"an image with {channels} channels cannot be saved (expected 1, 3 or 4)")


def png_metadata(prompt: Any, extra_pnginfo: Any) -> PngInfo:
    """tEXt chunks: `prompt` = the API prompt as JSON, and one chunk per extra_pnginfo key
    (the frontend sends the UI workflow as `workflow`)."""
    metadata = PngInfo()
    if prompt is not None:
        metadata.add_text("prompt", json.dumps(prompt))
    if isinstance(extra_pnginfo, dict):
        for key, value in extra_pnginfo.items():
            metadata.add_text(str(key), json.dumps(value))
    return metadata


def save_images(
    images: torch.Tensor,
    prefix: str,
    folder_type: str,
    ctx: Context,
    compress_level: int,
    metadata: PngInfo,
) -> list[dict[str, str]]:
    """Write each image as `<name>_<counter:05>_.png`, never over an existing file, and
    return the ui entries ComfyUI reports for them."""
    path = save_image_path(
        prefix, folder_dir(ctx.settings, folder_type), images.shape[2], images.shape[1]
    )
    counter = path.counter
    results = []
    for batch_number, image in enumerate(images):
        ctx.check_interrupt()
        picture = tensor_to_pil(image)
        stem = path.filename.replace("%batch_num%", str(batch_number))
        while True:
            file = f"{stem}_{counter:05}_.png"
            try:
                with open(path.folder / file, "xb") as handle:  # "x": fails if it exists
                    picture.save(
                        handle, format="PNG", pnginfo=metadata, compress_level=compress_level
                    )
                break
            except FileExistsError:
                counter += 1
        results.append({"filename": file, "subfolder": path.subfolder, "type": folder_type})
        counter += 1
    return results


@node("SaveImage", category="image", display_name="Save Image", output_node=True)
def save_image(
    *,
    images: Image,
    filename_prefix: Annotated[str, String()] = "ComfyUI",
    prompt: Prompt = None,
    extra_pnginfo: ExtraPngInfo = None,
    ctx: Context,
) -> Result:
    """Save images as PNG files in the output folder, with the prompt and workflow inside."""
    check_image(images, "SaveImage", "images")
    try:
        saved = save_images(
            images, filename_prefix, "output", ctx, 4, png_metadata(prompt, extra_pnginfo)
        )
    except ValueError as ex:
        raise ValueError(f"SaveImage: {ex}") from ex
    return Result(ui={"images": saved})


@node("PreviewImage", category="image", display_name="Preview Image", output_node=True)
def preview_image(
    *, images: Image, prompt: Prompt = None, extra_pnginfo: ExtraPngInfo = None, ctx: Context
) -> Result:
    """Show images in the client; they are written to the temp folder, not kept."""
    check_image(images, "PreviewImage", "images")
    suffix = "".join(random.choices(string.ascii_lowercase, k=5))
    try:
        saved = save_images(
            images,
            f"ComfyUI_temp_{suffix}",
            "temp",
            ctx,
            1,
            png_metadata(prompt, extra_pnginfo),
        )
    except ValueError as ex:
        raise ValueError(f"PreviewImage: {ex}") from ex
    return Result(ui={"images": saved})


# ---------------------------------------------------------------- loading


def frame_pixels(frame: PILImage.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB [height, width, 3] in 0..1 and the alpha [height, width] if the frame has one.
    16-bit and 32-bit integer greyscale frames keep their precision (0..65535 -> 0..1)."""
    if frame.mode == "I" or frame.mode.startswith("I;16"):
        grey = np.clip(np.asarray(frame, dtype=np.float32) / 65535.0, 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=-1), None
    rgb = np.asarray(frame.convert("RGB"), dtype=np.float32) / 255.0
    if "A" in frame.getbands():
        return rgb, np.asarray(frame.getchannel("A"), dtype=np.float32) / 255.0
    if frame.mode == "P" and "transparency" in frame.info:
        alpha = frame.convert("RGBA").getchannel("A")
        return rgb, np.asarray(alpha, dtype=np.float32) / 255.0
    return rgb, None


def _open(path: Path, node_id: str, name: str) -> PILImage.Image:
    try:
        return PILImage.open(path)
    except FileNotFoundError as ex:
        raise FileNotFoundError(f"{node_id}: image {name!r} was not found ({path})") from ex
    except (UnidentifiedImageError, OSError) as ex:
        raise ValueError(f"{node_id}: image {name!r} cannot be read as an image: {ex}") from ex


def load_image_file(
    path: Path, node_id: str = "LoadImage", name: str = ""
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every frame of the size of the first one as IMAGE [frames, H, W, 3], and the masks
    (1 - alpha) as MASK; without any alpha the mask is a 64x64 block of zeros."""
    with _open(path, node_id, name or path.name) as picture:
        frames: list[np.ndarray] = []
        alphas: list[np.ndarray | None] = []
        for frame in ImageSequence.Iterator(picture):
            rgb, alpha = frame_pixels(ImageOps.exif_transpose(frame))
            if frames and rgb.shape != frames[0].shape:
                continue
            frames.append(rgb)
            alphas.append(alpha)
            if picture.format == "MPO":  # the other "frames" are stereo/preview views
                break
    image = torch.from_numpy(np.stack(frames))
    if all(alpha is None for alpha in alphas):
        size = (PLACEHOLDER_MASK_SIZE, PLACEHOLDER_MASK_SIZE)
        return image, torch.zeros((len(frames), *size), dtype=torch.float32)
    height, width = frames[0].shape[:2]
    masks = [
        1.0 - alpha if alpha is not None else np.zeros((height, width), np.float32)
        for alpha in alphas
    ]
    return image, torch.from_numpy(np.stack(masks))


def _input_path(ctx: Context, image: str, node_id: str) -> Path:
    try:
        return annotated_path(ctx.settings, image)
    except ValueError as ex:
        raise ValueError(f"{node_id}: image: {ex}") from ex


ImageChoice = Annotated[str, Combo(list_input_images, image_upload=True)]


@node(
    "LoadImage",
    category="image",
    display_name="Load Image",
    fingerprint=image_file_fingerprint,
    validate=validate_image_file,
)
def load_image(*, image: ImageChoice, ctx: Context) -> tuple[Image, Mask]:
    """Load an image from the input folder (all frames of an animation) and its alpha as a
    mask (1 where transparent)."""
    return load_image_file(_input_path(ctx, image, "LoadImage"), "LoadImage", image)


@node(
    "LoadImageMask",
    category="mask",
    display_name="Load Image (as Mask)",
    fingerprint=image_file_fingerprint,
    validate=validate_image_file,
)
def load_image_mask(
    *, image: ImageChoice, channel: Annotated[str, Combo(MASK_CHANNELS)], ctx: Context
) -> Mask:
    """Load one channel of an image as a mask; alpha is inverted (1 where transparent)."""
    if channel not in MASK_CHANNELS:
        raise ValueError(f"LoadImageMask: channel {channel!r} is not one of {list(MASK_CHANNELS)}")
    path = _input_path(ctx, image, "LoadImageMask")
    with _open(path, "LoadImageMask", image) as picture:
        rgb, alpha = frame_pixels(ImageOps.exif_transpose(picture))
    if channel == "alpha":
        values = 1.0 - alpha if alpha is not None else np.zeros(rgb.shape[:2], np.float32)
    else:
        values = rgb[..., MASK_CHANNELS.index(channel) - 1]
    return torch.from_numpy(np.ascontiguousarray(values)).unsqueeze(0)
