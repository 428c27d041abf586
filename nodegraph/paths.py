"""Path safety for client-given names: they never reach outside their folder (file routes,
LoadImage).

ComfyUI checks containment without resolving symlinks and rejects any name containing '..'
(so `a..png` fails while a symlink to /etc passes). Here a name is refused only for what
makes it dangerous (absolute, a `..` component, NUL, backslash), and the real path, symlinks
resolved, must lie inside the real base folder.
"""

from __future__ import annotations

import os
import secrets
import stat
from contextlib import suppress
from pathlib import Path
from urllib.parse import quote

FOLDER_TAGS = {" [output]": "output", " [input]": "input", " [temp]": "temp"}
"""Suffixes of annotated names ("x.png [output]") and the folder type each one selects."""

MAX_NAME_BYTES = 240
"""Longest stored file name (UTF-8), leaving room for a " (n)" suffix under the usual 255."""


def unsafe_reason(part: str) -> str | None:
    """Why a client-given relative path (file name or subfolder) is refused, or None if it is
    acceptable. Only its spelling is judged; `resolve_inside` judges where it really leads."""
    if "\x00" in part:
        return "contains a NUL byte"
    if "\\" in part:
        return "contains a backslash"
    if part.startswith("/") or os.path.isabs(part):
        return "is an absolute path"
    if ".." in part.split("/"):
        return "contains a '..' component"
    return None


def resolve_inside(base: Path, *parts: str) -> Path | None:
    """The real path of base/parts..., or None when a part is unsafe or the result (symlinks
    followed) is not the real base folder or inside it."""
    if any(unsafe_reason(part) for part in parts):
        return None
    real_base = Path(os.path.realpath(base))
    candidate = Path(os.path.realpath(os.path.join(real_base, *parts)))
    if candidate == real_base or real_base in candidate.parents:
        return candidate
    return None


def split_annotation(name: str) -> tuple[str, str | None]:
    """("x.png", "output") for "x.png [output]"; (name, None) when not annotated."""
    for suffix, folder_type in FOLDER_TAGS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)], folder_type
    return name, None


def sanitize_upload_name(name: str) -> str | None:
    """The name an uploaded file is stored under: its last path component (either slash),
    without control characters or surrounding spaces; None when nothing usable is left."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()
    if cleaned in ("", ".", "..") or len(cleaned.encode("utf-8")) > MAX_NAME_BYTES:
        return None
    return cleaned


def content_disposition(name: str, *, attachment: bool = False) -> str:
    """`filename="name"` as ComfyUI sends it, made header-safe: quotes and backslashes escaped,
    control characters dropped, and an RFC 5987 `filename*` added for non-ASCII names."""
    printable = "".join(ch for ch in name if ch.isprintable())
    ascii_name = printable.encode("ascii", "replace").decode("ascii")
    quoted = ascii_name.replace("\\", "\\\\").replace('"', '\\"')
    value = f'filename="{quoted}"'
    if ascii_name != printable:
        value += f"; filename*=UTF-8''{quote(printable, safe='')}"
    return f"attachment; {value}" if attachment else value


def store_file(folder: Path, name: str, data: bytes, *, overwrite: bool) -> str:
    """Write `data` as folder/name and return the name used. Unless `overwrite`, an existing
    file is never replaced: identical bytes reuse it, otherwise "name (1).ext", "name (2).ext",
    ... is tried. The bytes go to a temporary file first and are linked into place, so readers
    never see half a file and a concurrent upload of the same name cannot be clobbered."""
    folder.mkdir(parents=True, exist_ok=True)
    temp = folder / f".upload-{secrets.token_hex(8)}.part"
    with open(temp, "xb") as f:
        f.write(data)
    try:
        if overwrite:
            os.replace(temp, folder / name)
            return name
        stem, ext = os.path.splitext(name)
        n = 0
        while True:
            candidate = name if n == 0 else f"{stem} ({n}){ext}"
            try:
                _link_new(temp, folder / candidate, data)
                return candidate
            except FileExistsError:
                if _same_bytes(folder / candidate, data):
                    return candidate
            n += 1
    finally:
        with suppress(FileNotFoundError):
            temp.unlink()


def _link_new(temp: Path, target: Path, data: bytes) -> None:
    """Create `target` with temp's content, failing with FileExistsError if it exists. Where
    hard links are unsupported, fall back to an exclusive create (still never clobbers)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        raise
    except OSError:
        with open(target, "xb") as f:
            f.write(data)


def _same_bytes(path: Path, data: bytes) -> bool:
    """Whether `path` is a regular file (not a symlink, which might lead outside) holding
    exactly `data`."""
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        return path.read_bytes() == data
    except OSError:
        return False
