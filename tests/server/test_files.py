"""/view, /upload/image and /upload/mask: files served and stored, and nothing outside the
output/input/temp folders ever read or written (traversal, symlinks, encodings)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from nodegraph.server.keys import ServerSettings
from nodegraph.settings import Settings

Client = TestClient[Any, Any]
SECRET = b"TOP-SECRET-CONTENT"


def png(
    mode: str = "RGBA",
    size: tuple[int, int] = (4, 3),
    color: Any = (10, 20, 30, 128),
    text: dict[str, str] | None = None,
) -> bytes:
    """A small PNG, optionally with tEXt chunks."""
    info = PngInfo()
    for key, value in (text or {}).items():
        info.add_text(key, value)
    buffer = BytesIO()
    Image.new(mode, size, color).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def pixels(image: Image.Image) -> list[Any]:
    """Pixel values row by row (getdata is deprecated in newer pillow)."""
    width, height = image.size
    return [image.getpixel((x, y)) for y in range(height) for x in range(width)]


def gradient_rgba() -> bytes:
    """4x1 RGBA image whose pixels differ in colour and alpha."""
    img = Image.new("RGBA", (4, 1))
    img.putdata([(255, 0, 0, 0), (0, 255, 0, 85), (0, 0, 255, 170), (9, 9, 9, 255)])
    buffer = BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def files(settings: Settings, tmp_path: Path) -> Settings:
    """Folders with a file each, and a secret next to them (outside every folder)."""
    for folder in (settings.output_dir, settings.input_dir, settings.temp_dir):
        folder.mkdir(parents=True, exist_ok=True)
    (settings.output_dir / "out.png").write_bytes(png(color=(1, 2, 3, 255)))
    (settings.input_dir / "in.png").write_bytes(png(color=(4, 5, 6, 255)))
    (settings.temp_dir / "tmp.png").write_bytes(png(color=(7, 8, 9, 255)))
    (settings.output_dir / "sub" / "deeper").mkdir(parents=True)
    (settings.output_dir / "sub" / "deeper" / "s.png").write_bytes(b"in a subfolder")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_bytes(SECRET)
    return settings


def upload_form(data: bytes, filename: str = "up.png", **fields: str) -> FormData:
    form = FormData()
    form.add_field("image", data, filename=filename, content_type="application/octet-stream")
    for key, value in fields.items():
        form.add_field(key, value)
    return form


async def post_raw(client: Client, path: str, filename: str, data: bytes) -> Any:
    """Upload with the file name written raw, as browsers and curl send it (aiohttp's own
    client percent-encodes it, which would hide slashes and backslashes from the server)."""
    boundary = "nodegraph-test-boundary"
    quoted = filename.replace("\\", "\\\\")  # a quoted-string's backslash escapes the next
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{quoted}"'
            "\r\nContent-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    return await client.post(path, data=body, headers=headers)


# ---- /view ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("folder_type", "name", "attr"),
    [
        (None, "out.png", "output_dir"),
        ("output", "out.png", "output_dir"),
        ("input", "in.png", "input_dir"),
        ("temp", "tmp.png", "temp_dir"),
    ],
)
async def test_view_serves_each_folder(
    client: Client, files: Settings, folder_type: str | None, name: str, attr: str
) -> None:
    params = {"filename": name} | ({"type": folder_type} if folder_type else {})
    response = await client.get("/view", params=params)
    assert response.status == 200
    assert await response.read() == (getattr(files, attr) / name).read_bytes()
    assert response.content_type == "image/png"
    assert response.headers["Content-Disposition"] == f'filename="{name}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_view_under_api_prefix_and_annotation(client: Client, files: Settings) -> None:
    response = await client.get("/api/view", params={"filename": "in.png [input]"})
    assert response.status == 200
    assert await response.read() == (files.input_dir / "in.png").read_bytes()
    # The annotation wins over type.
    response = await client.get("/view", params={"filename": "out.png [output]", "type": "temp"})
    assert await response.read() == (files.output_dir / "out.png").read_bytes()


async def test_view_subfolder_and_double_dot_names(client: Client, files: Settings) -> None:
    response = await client.get("/view", params={"filename": "s.png", "subfolder": "sub/deeper"})
    assert (response.status, await response.read()) == (200, b"in a subfolder")
    (files.output_dir / "a..png").write_bytes(b"dots are fine")
    response = await client.get("/view", params={"filename": "a..png"})
    assert (response.status, await response.read()) == (200, b"dots are fine")


async def test_view_channels(client: Client, files: Settings) -> None:
    (files.output_dir / "g.png").write_bytes(gradient_rgba())
    response = await client.get("/view", params={"filename": "g.png", "channel": "rgb"})
    assert response.status == 200 and response.content_type == "image/png"
    rgb = Image.open(BytesIO(await response.read()))
    assert rgb.mode == "RGB"
    assert pixels(rgb) == [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9)]
    response = await client.get("/view", params={"filename": "g.png", "channel": "a"})
    alpha = Image.open(BytesIO(await response.read()))
    assert alpha.mode == "RGBA"
    assert pixels(alpha) == [(0, 0, 0, 0), (0, 0, 0, 85), (0, 0, 0, 170), (0, 0, 0, 255)]
    response = await client.get("/view", params={"filename": "g.png", "channel": "rgba"})
    assert await response.read() == gradient_rgba()


@pytest.mark.parametrize(
    ("preview", "channel", "content_type", "pil_format"),
    [
        ("jpeg;50", "rgba", "image/jpeg", "JPEG"),
        ("webp;90", "rgba", "image/webp", "WEBP"),
        ("png;80", "rgba", "image/webp", "WEBP"),
        ("jpeg;90", "a", "image/webp", "WEBP"),
    ],
)
async def test_view_preview(
    client: Client, files: Settings, preview: str, channel: str, content_type: str, pil_format: str
) -> None:
    params = {"filename": "out.png", "preview": preview, "channel": channel}
    response = await client.get("/view", params=params)
    assert response.status == 200
    assert response.content_type == content_type
    assert response.headers["Content-Disposition"] == 'filename="out.png"'
    image = Image.open(BytesIO(await response.read()))
    assert image.format == pil_format and image.size == (4, 3)


@pytest.mark.parametrize(
    "name", ["page.html", "x.htm", "app.js", "s.css", "pic.svg", "d.xml", "p.xhtml"]
)
async def test_view_active_types_are_downloads(client: Client, files: Settings, name: str) -> None:
    (files.output_dir / name).write_bytes(b"<script>alert(1)</script>")
    response = await client.get("/view", params={"filename": name})
    assert response.status == 200
    assert response.content_type == "application/octet-stream"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({}, 404),
        ({"filename": ""}, 404),
        ({"filename": "out.png", "type": "models"}, 400),
        ({"filename": "nope.png"}, 404),
        ({"filename": "out.png", "type": "input"}, 404),
        ({"filename": "sub"}, 404),
        ({"filename": "out.png", "channel": "bgr"}, 400),
        ({"filename": "s.png", "subfolder": "sub/deeper", "channel": "rgb"}, 400),
    ],
)
async def test_view_errors(
    client: Client, files: Settings, params: dict[str, str], status: int
) -> None:
    response = await client.get("/view", params=params)
    assert response.status == status
    body = await response.json()
    assert body["error"]["message"]


TRAVERSALS: list[tuple[dict[str, str], int]] = [
    ({"filename": "../secret.txt"}, 400),
    ({"filename": "sub/../../secret.txt"}, 400),
    ({"filename": "..%2fsecret.txt"}, 404),  # sent encoded by params: a literal, absent name
    ({"filename": "%2e%2e%2fsecret.txt"}, 404),
    ({"filename": "/etc/passwd"}, 400),
    ({"filename": "..\\secret.txt"}, 400),
    ({"filename": "secret.txt\x00.png"}, 400),
    ({"filename": "secret.txt", "subfolder": ".."}, 403),
    ({"filename": "secret.txt", "subfolder": "../"}, 403),
    ({"filename": "secret.txt", "subfolder": "../../"}, 403),
    ({"filename": "secret.txt", "subfolder": "../outside"}, 403),
    ({"filename": "passwd", "subfolder": "/etc"}, 403),
    ({"filename": "secret.txt", "subfolder": "..\\"}, 403),
    ({"filename": "secret.txt", "subfolder": "sub\x00"}, 403),
    ({"filename": "secret.txt [output]", "subfolder": ".."}, 403),
    ({"filename": "../secret.txt [input]"}, 400),
]


@pytest.mark.parametrize(("params", "status"), TRAVERSALS)
async def test_view_traversal_refused(
    client: Client, files: Settings, params: dict[str, str], status: int
) -> None:
    response = await client.get("/view", params=params)
    assert response.status == status
    assert SECRET not in await response.read()


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/view?filename=..%2fsecret.txt", 400),
        ("/view?filename=%2e%2e%2fsecret.txt", 400),
        ("/api/view?filename=%2E%2E%2Fsecret.txt", 400),
        ("/view?filename=..%5csecret.txt", 400),
        ("/view?filename=secret.txt&subfolder=..%2f", 403),
        ("/view?filename=secret.txt&subfolder=%2e%2e", 403),
        ("/view?filename=%2fetc%2fpasswd", 400),
        ("/view?filename=secret.txt%00", 400),
        ("/view?filename=%252e%252e%252fsecret.txt", 404),
        ("/view?filename=secret.txt&subfolder=%252e%252e", 404),
    ],
)
async def test_view_encoded_traversal_refused(
    client: Client, files: Settings, url: str, status: int
) -> None:
    response = await client.get(url)
    assert response.status == status
    assert SECRET not in await response.read()


async def test_view_symlinks_leading_outside_refused(
    client: Client, files: Settings, tmp_path: Path
) -> None:
    (files.output_dir / "leak.txt").symlink_to(tmp_path / "secret.txt")
    (files.output_dir / "leakdir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (files.output_dir / "alias.png").symlink_to(files.output_dir / "out.png")
    for params in (
        {"filename": "leak.txt"},
        {"filename": "secret.txt", "subfolder": "leakdir"},
        {"filename": "leakdir/secret.txt"},
        {"filename": "leak.txt", "preview": "jpeg"},
    ):
        response = await client.get("/view", params=params)
        assert response.status == 403, params
        assert SECRET not in await response.read()
    # A symlink that stays inside is served.
    response = await client.get("/view", params={"filename": "alias.png"})
    assert response.status == 200
    assert await response.read() == (files.output_dir / "out.png").read_bytes()


async def test_view_base_folder_may_itself_be_a_symlink(
    make_client: Callable[..., Awaitable[Client]], files: Settings, tmp_path: Path
) -> None:
    real = tmp_path / "real-output"
    real.mkdir()
    (real / "r.png").write_bytes(b"via a linked folder")
    files.output_dir = tmp_path / "linked-output"
    files.output_dir.symlink_to(real, target_is_directory=True)
    client = await make_client()
    response = await client.get("/view", params={"filename": "r.png"})
    assert (response.status, await response.read()) == (200, b"via a linked folder")
    response = await client.get("/view", params={"filename": "secret.txt", "subfolder": ".."})
    assert response.status == 403


# ---- /upload/image ----------------------------------------------------------------------------


async def test_upload_basic_and_round_trip(client: Client, files: Settings) -> None:
    data = bytes(range(256)) * 40
    response = await client.post("/upload/image", data=upload_form(data, "blob.bin"))
    assert response.status == 200
    assert await response.json() == {"name": "blob.bin", "subfolder": "", "type": "input"}
    assert (files.input_dir / "blob.bin").read_bytes() == data
    response = await client.get("/view", params={"filename": "blob.bin", "type": "input"})
    assert (response.status, await response.read()) == (200, data)
    assert not [p for p in files.input_dir.iterdir() if p.name.startswith(".upload-")]


@pytest.mark.parametrize(("folder_type", "attr"), [("temp", "temp_dir"), ("output", "output_dir")])
async def test_upload_type_and_new_subfolder(
    client: Client, files: Settings, folder_type: str, attr: str
) -> None:
    form = upload_form(b"abc", "x.png", type=folder_type, subfolder="new/nested")
    response = await client.post("/api/upload/image", data=form)
    assert await response.json() == {
        "name": "x.png",
        "subfolder": "new/nested",
        "type": folder_type,
    }
    assert (getattr(files, attr) / "new" / "nested" / "x.png").read_bytes() == b"abc"


async def test_upload_collisions(client: Client, files: Settings) -> None:
    names = []
    for data in (b"first", b"second", b"third", b"second"):
        response = await client.post("/upload/image", data=upload_form(data, "pic.png"))
        names.append((await response.json())["name"])
    # Identical bytes reuse the existing file, whichever name holds them.
    assert names == ["pic.png", "pic (1).png", "pic (2).png", "pic (1).png"]
    assert [(files.input_dir / n).read_bytes() for n in names[:3]] == [
        b"first",
        b"second",
        b"third",
    ]
    assert sorted(p.name for p in files.input_dir.iterdir()) == sorted([*names[:3], "in.png"])


@pytest.mark.parametrize("flag", ["true", "1", "True"])
async def test_upload_overwrite(client: Client, files: Settings, flag: str) -> None:
    await client.post("/upload/image", data=upload_form(b"old", "o.png"))
    response = await client.post("/upload/image", data=upload_form(b"new", "o.png", overwrite=flag))
    assert (await response.json())["name"] == "o.png"
    assert (files.input_dir / "o.png").read_bytes() == b"new"
    assert not (files.input_dir / "o (1).png").exists()


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("../../evil.png", "evil.png"),
        ("..\\..\\evil.png", "evil.png"),
        ("/etc/cron.d/evil.png", "evil.png"),
        ("sub/dir/a..png", "a..png"),
    ],
)
async def test_upload_name_sanitised(
    client: Client, files: Settings, tmp_path: Path, sent: str, stored: str
) -> None:
    response = await post_raw(client, "/upload/image", sent, b"x")
    assert response.status == 200
    assert (await response.json())["name"] == stored
    assert (files.input_dir / stored).read_bytes() == b"x"
    assert not (tmp_path / "evil.png").exists()


@pytest.mark.parametrize(
    "subfolder", ["..", "../", "../../x", "/tmp", "a/../../x", "..\\x", "leak", "leak/deeper"]
)
async def test_upload_traversal_subfolder_refused(
    client: Client, files: Settings, tmp_path: Path, subfolder: str
) -> None:
    (files.input_dir / "leak").symlink_to(tmp_path / "outside", target_is_directory=True)
    before = sorted(tmp_path.rglob("*"))
    response = await client.post(
        "/upload/image", data=upload_form(b"x", "e.png", subfolder=subfolder)
    )
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_subfolder"
    assert sorted(tmp_path.rglob("*")) == before


async def test_upload_never_writes_through_a_symlinked_name(
    client: Client, files: Settings, tmp_path: Path
) -> None:
    (files.input_dir / "x.png").symlink_to(tmp_path / "secret.txt")
    # Identical bytes behind a symlink are not "reused": that would confirm the secret.
    response = await client.post("/upload/image", data=upload_form(SECRET, "x.png"))
    assert (await response.json())["name"] == "x (1).png"
    response = await client.post(
        "/upload/image", data=upload_form(b"new", "x.png", overwrite="true")
    )
    assert (await response.json())["name"] == "x.png"
    assert not (files.input_dir / "x.png").is_symlink()
    assert (files.input_dir / "x.png").read_bytes() == b"new"
    assert (tmp_path / "secret.txt").read_bytes() == SECRET


async def test_upload_bad_forms(client: Client, files: Settings) -> None:
    form = FormData()
    form.add_field("subfolder", "x")
    form.add_field("dummy", b"abc", filename="a.png")
    cases: list[Any] = [
        form,
        {"image": "just text"},
        upload_form(b"x", ".."),
        upload_form(b"x", "ok.png", type="models"),
    ]
    for data in cases:
        response = await client.post("/upload/image", data=data)
        assert response.status == 400
        assert (await response.json())["error"]["message"]
    response = await client.post("/upload/image", json={"image": "x"})
    assert response.status == 400
    assert sorted(p.name for p in files.input_dir.iterdir()) == ["in.png"]


async def test_upload_too_large_is_413(
    make_client: Callable[..., Awaitable[Client]], files: Settings, tmp_path: Path
) -> None:
    client = await make_client(
        server=ServerSettings(data_dir=tmp_path / "data", max_upload_bytes=1000)
    )
    response = await client.post("/upload/image", data=upload_form(b"y" * 5000, "big.png"))
    assert response.status == 413
    assert not (files.input_dir / "big.png").exists()
    response = await client.post("/upload/image", data=upload_form(b"y" * 100, "small.png"))
    assert response.status == 200


# ---- /upload/mask -----------------------------------------------------------------------------


def mask_form(mask: bytes, ref: str, name: str = "mask.png", **fields: str) -> FormData:
    form = upload_form(mask, name, **fields)
    form.add_field("original_ref", ref)
    return form


async def test_upload_mask_replaces_alpha_keeps_text(client: Client, files: Settings) -> None:
    original = png("RGB", (4, 1), (200, 100, 50), text={"prompt": '{"1": {}}', "workflow": "w"})
    (files.output_dir / "orig.png").write_bytes(original)
    ref = '{"filename": "orig.png", "subfolder": "", "type": "output"}'
    response = await client.post("/upload/mask", data=mask_form(gradient_rgba(), ref))
    assert response.status == 200
    assert await response.json() == {"name": "mask.png", "subfolder": "", "type": "input"}
    merged = Image.open(files.input_dir / "mask.png")
    assert merged.format == "PNG" and merged.mode == "RGBA"
    assert pixels(merged) == [(200, 100, 50, a) for a in (0, 85, 170, 255)]
    assert merged.text == {"prompt": '{"1": {}}', "workflow": "w"}  # type: ignore[attr-defined]


async def test_upload_mask_resized_default_type_and_annotation(
    client: Client, files: Settings
) -> None:
    (files.input_dir / "sub").mkdir()
    (files.input_dir / "sub" / "o.png").write_bytes(png("RGBA", (8, 6), (1, 2, 3, 255)))
    mask = png("RGBA", (4, 3), (0, 0, 0, 0))
    for ref in (
        '{"filename": "o.png [input]", "subfolder": "sub"}',
        '{"filename": "o.png", "subfolder": "sub", "type": "input"}',
    ):
        response = await client.post("/upload/mask", data=mask_form(mask, ref, subfolder="m"))
        assert response.status == 200
        stored = (await response.json())["name"]
        merged = Image.open(files.input_dir / "m" / stored)
        assert merged.size == (8, 6)
        assert set(pixels(merged)) == {(1, 2, 3, 0)}


@pytest.mark.parametrize(
    ("ref", "status"),
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ('{"subfolder": ""}', 400),
        ('{"filename": "missing.png"}', 404),
        ('{"filename": "out.png", "type": "input"}', 404),
        ('{"filename": "../secret.txt"}', 400),
        ('{"filename": "out.png", "type": "models"}', 400),
        ('{"filename": "secret.txt", "subfolder": ".."}', 403),
        ('{"filename": "notimage.txt"}', 400),
        ('{"filename": "out.png", "subfolder": 3}', 400),
    ],
)
async def test_upload_mask_bad_original_ref(
    client: Client, files: Settings, ref: str, status: int
) -> None:
    (files.output_dir / "notimage.txt").write_bytes(b"plain text")
    response = await client.post("/upload/mask", data=mask_form(png(), ref))
    assert response.status == status
    assert (await response.json())["error"]["message"]
    assert not (files.input_dir / "mask.png").exists()


async def test_upload_mask_requires_an_image(client: Client, files: Settings) -> None:
    response = await client.post(
        "/upload/mask", data=mask_form(b"not an image", '{"filename": "out.png"}')
    )
    assert response.status == 400
    form = upload_form(png(), "mask.png")
    response = await client.post("/upload/mask", data=form)
    assert response.status == 400
    assert not (files.input_dir / "mask.png").exists()
