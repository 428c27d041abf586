"""File routes: /view serves output, input and temp files; /upload/image and /upload/mask store
uploads there. Every client-given path is checked by `paths` (real path inside the folder)."""

from __future__ import annotations

import asyncio
import json
import mimetypes
from io import BytesIO
from pathlib import Path

from aiohttp import web
from multidict import MultiDictProxy
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from nodegraph.paths import (
    content_disposition,
    resolve_inside,
    sanitize_upload_name,
    split_annotation,
    store_file,
    unsafe_reason,
)
from nodegraph.server.http import bad_request, error_body
from nodegraph.server.keys import ENGINE

routes = web.RouteTableDef()

FOLDER_TYPES = ("output", "input", "temp")
CHANNELS = ("rgba", "rgb", "a")
PREVIEW_FORMATS = ("webp", "jpeg")
DEFAULT_QUALITY = 90
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "text/css",
        "image/svg+xml",
        "text/xml",
        "application/xml",
    }
)
"""Types a browser would run or render as a page: served as downloads so a file in output/
cannot script the server's origin."""


Form = MultiDictProxy[str | bytes | bytearray | web.FileField]
"""What `request.post()` gives: text fields, file parts, and untyped non-text parts as bytes."""


class ImageProblem(ValueError):
    """An image pillow could not read or write; the client gets a 400 naming it."""


@routes.get("/view")
async def view(request: web.Request) -> web.StreamResponse:
    """A file from output/input/temp: raw bytes, or re-encoded for `channel`/`preview`."""
    query = request.query
    raw_name = query.get("filename", "")
    if not raw_name:  # ComfyUI answers 404 here; clients may rely on it
        raise web.HTTPNotFound(
            text=json.dumps(
                error_body("missing_filename", "Query parameter 'filename' is required")
            ),
            content_type="application/json",
        )
    name, tagged = split_annotation(raw_name)
    folder_type = tagged or query.get("type") or "output"
    channel = query.get("channel") or "rgba"
    if channel not in CHANNELS:
        raise bad_request(
            "invalid_channel", f"Unknown channel '{channel}'", f"expected one of {CHANNELS}"
        )
    path = await locate(request, name, query.get("subfolder", ""), folder_type)
    display_name = Path(name).name
    preview = query.get("preview")
    if preview is None and channel == "rgba":
        content_type, active = guess_content_type(display_name)
        headers = {
            "Content-Type": content_type,
            "Content-Disposition": content_disposition(display_name, attachment=active),
            "X-Content-Type-Options": "nosniff",
        }
        return web.FileResponse(path, headers=headers)
    try:
        body, content_type = await asyncio.to_thread(render, path, channel, preview)
    except ImageProblem as ex:
        raise bad_request("invalid_image", str(ex), display_name) from ex
    headers = {
        "Content-Disposition": content_disposition(display_name),
        "X-Content-Type-Options": "nosniff",
    }
    return web.Response(body=body, content_type=content_type, headers=headers)


@routes.post("/upload/image")
async def upload_image(request: web.Request) -> web.Response:
    """Store the `image` part as given (any file type, as ComfyUI allows)."""
    form = await read_form(request)
    data, name = await image_part(form)
    return await save_upload(request, form, name, data)


@routes.post("/upload/mask")
async def upload_mask(request: web.Request) -> web.Response:
    """Store `original_ref`'s image with its alpha replaced by the uploaded mask's alpha."""
    form = await read_form(request)
    data, name = await image_part(form)
    raw_ref = text_field(form, "original_ref", "")
    if not raw_ref:
        raise bad_request("missing_original_ref", "Form field 'original_ref' is required")
    try:
        ref = json.loads(raw_ref)
    except json.JSONDecodeError as ex:
        raise bad_request("invalid_original_ref", "original_ref is not valid JSON", str(ex)) from ex
    if not isinstance(ref, dict) or not isinstance(ref.get("filename"), str):
        raise bad_request(
            "invalid_original_ref",
            "original_ref must be a JSON object with a string 'filename'",
            raw_ref[:200],
        )
    subfolder, ref_type = ref.get("subfolder") or "", ref.get("type") or "output"
    if not isinstance(subfolder, str) or not isinstance(ref_type, str):
        raise bad_request(
            "invalid_original_ref", "original_ref 'subfolder' and 'type' must be strings"
        )
    ref_name, tagged = split_annotation(ref["filename"])
    original = await locate(request, ref_name, subfolder, tagged or ref_type)
    try:
        merged = await asyncio.to_thread(merge_mask, original, data)
    except ImageProblem as ex:
        raise bad_request("invalid_image", str(ex), name) from ex
    return await save_upload(request, form, name, merged)


async def locate(request: web.Request, name: str, subfolder: str, folder_type: str) -> Path:
    """The real path of an existing file named by a client: 400 for a bad name or type, 403
    when it leads outside its folder (symlinks included), 404 when there is no such file."""
    if folder_type not in FOLDER_TYPES:
        raise bad_request(
            "invalid_type", f"Unknown type '{folder_type}'", f"expected one of {FOLDER_TYPES}"
        )
    if not name:
        raise bad_request("invalid_filename", "Filename is empty")
    if reason := unsafe_reason(name):
        raise bad_request("invalid_filename", f"Filename {reason}", name)
    if reason := unsafe_reason(subfolder):
        raise json_error(web.HTTPForbidden, "forbidden_path", f"Subfolder {reason}", subfolder)
    path = resolve_inside(folder_of(request, folder_type), subfolder, name)
    if path is None:
        raise json_error(
            web.HTTPForbidden, "forbidden_path", f"Path leads outside the {folder_type} folder"
        )
    if not await asyncio.to_thread(path.is_file):
        raise json_error(
            web.HTTPNotFound, "not_found", "File not found", f"{folder_type}: {subfolder}/{name}"
        )
    return path


async def save_upload(request: web.Request, form: Form, name: str, data: bytes) -> web.Response:
    """Store `data` under `name` in the folder the form's type/subfolder name (collision and
    overwrite rules in `store_file`) and answer as ComfyUI does."""
    folder_type = text_field(form, "type", "") or "input"
    if folder_type not in FOLDER_TYPES:
        raise bad_request(
            "invalid_type", f"Unknown type '{folder_type}'", f"expected one of {FOLDER_TYPES}"
        )
    subfolder = text_field(form, "subfolder", "")
    overwrite = text_field(form, "overwrite", "").strip().lower() in ("true", "1")
    folder = resolve_inside(folder_of(request, folder_type), subfolder)
    if folder is None:
        reason = unsafe_reason(subfolder) or f"leads outside the {folder_type} folder"
        raise bad_request("invalid_subfolder", f"Subfolder {reason}", subfolder)
    try:
        stored = await asyncio.to_thread(store_file, folder, name, data, overwrite=overwrite)
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as ex:
        raise bad_request(
            "invalid_path", "A file or folder in the way prevents storing the upload", str(ex)
        ) from ex
    return web.json_response({"name": stored, "subfolder": subfolder, "type": folder_type})


async def read_form(request: web.Request) -> Form:
    """The multipart form; a body over the size limit is a 413 (aiohttp's client_max_size),
    anything that is not a readable form a 400."""
    if request.content_type != "multipart/form-data":
        raise bad_request(
            "invalid_form",
            "Expected a multipart/form-data body",
            f"got Content-Type '{request.content_type}'",
        )
    try:
        return await request.post()
    except web.HTTPException:
        raise
    except (ValueError, LookupError, AssertionError) as ex:
        raise bad_request("invalid_form", "Malformed multipart body", str(ex)) from ex


async def image_part(form: Form) -> tuple[bytes, str]:
    """The `image` file part's bytes and sanitised name (400 if missing or unnamed)."""
    field = form.get("image")
    if not isinstance(field, web.FileField) or not field.filename:
        raise bad_request("missing_image", "Form needs an 'image' file part with a filename")
    name = sanitize_upload_name(field.filename)
    if name is None:
        raise bad_request("invalid_filename", "Upload file name is unusable", field.filename)
    data = await asyncio.to_thread(field.file.read)
    return data, name


def text_field(form: Form, key: str, default: str) -> str:
    """A text form field (a file part in its place is a 400)."""
    value = form.get(key, default)
    if not isinstance(value, str):
        raise bad_request("invalid_form", f"Form field '{key}' must be text")
    return value


def folder_of(request: web.Request, folder_type: str) -> Path:
    settings = request.app[ENGINE].settings
    folders = {
        "output": settings.output_dir,
        "input": settings.input_dir,
        "temp": settings.temp_dir,
    }
    return Path(folders[folder_type])


def json_error(
    kind: type[web.HTTPForbidden] | type[web.HTTPNotFound],
    error_type: str,
    message: str,
    details: str = "",
) -> web.HTTPException:
    """A 403/404 to raise with the same JSON body as `bad_request`."""
    return kind(
        text=json.dumps(error_body(error_type, message, details)), content_type="application/json"
    )


def guess_content_type(name: str) -> tuple[str, bool]:
    """(content type, whether it was downgraded to a download): types a browser would run,
    and compressed files (whose guessed type describes the content, not the bytes), become
    application/octet-stream."""
    guessed, encoding = mimetypes.guess_type(name)
    if guessed is None or encoding is not None:
        return "application/octet-stream", False
    if guessed in ACTIVE_TYPES or guessed.endswith("+xml"):
        return "application/octet-stream", True
    return guessed, False


def parse_preview(preview: str, channel: str) -> tuple[str, int]:
    """("webp"|"jpeg", quality) from "webp;90"; webp when the format is unknown or the alpha
    channel is asked for (jpeg has none)."""
    parts = preview.split(";")
    image_format = parts[0].strip().lower()
    if image_format not in PREVIEW_FORMATS or channel == "a":
        image_format = "webp"
    quality = int(parts[-1]) if len(parts) > 1 and parts[-1].strip().isdigit() else DEFAULT_QUALITY
    return image_format, max(1, min(100, quality))


def render(path: Path, channel: str, preview: str | None) -> tuple[bytes, str]:
    """The file re-encoded: `channel` applied first ("rgb" drops alpha, "a" keeps only alpha
    over black), then PNG, or the `preview` format and quality."""
    try:
        with Image.open(path) as source:
            source.load()
            img: Image.Image = source
            if channel == "rgb":
                img = source.convert("RGB")
            elif channel == "a":
                alpha = source.convert("RGBA").getchannel("A")
                black = Image.new("L", source.size, 0)
                img = Image.merge("RGBA", (black, black, black, alpha))
            buffer = BytesIO()
            if preview is None:
                img.save(buffer, format="PNG")
                return buffer.getvalue(), "image/png"
            image_format, quality = parse_preview(preview, channel)
            if image_format == "jpeg":
                img = img.convert("RGB")
            img.save(buffer, format=image_format.upper(), quality=quality)
            return buffer.getvalue(), f"image/{image_format}"
    except Exception as ex:  # pillow raises many types (OSError, SyntaxError, struct.error...)
        raise ImageProblem(f"Cannot re-encode the file as an image: {ex}") from ex


def merge_mask(original: Path, mask_data: bytes) -> bytes:
    """PNG bytes of `original` with its alpha replaced by the mask's (resized to fit), keeping
    the original's PNG text chunks (prompt/workflow metadata)."""
    try:
        with Image.open(BytesIO(mask_data)) as mask:
            alpha = mask.convert("RGBA").getchannel("A")
    except Exception as ex:  # pillow raises many types on corrupt input
        raise ImageProblem(f"The uploaded mask is not an image pillow can read: {ex}") from ex
    try:
        with Image.open(original) as img:
            text = dict(getattr(img, "text", {}))
            merged = img.convert("RGBA")
    except Exception as ex:  # as above
        raise ImageProblem(f"original_ref is not an image pillow can read: {ex}") from ex
    if alpha.size != merged.size:
        alpha = alpha.resize(merged.size, Image.Resampling.LANCZOS)
    merged.putalpha(alpha)
    info = PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = BytesIO()
    merged.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()
