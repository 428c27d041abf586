"""Reads a workflow from disk: API or UI JSON, or a PNG carrying ComfyUI's tEXt chunks."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class WorkflowFileError(ValueError):
    """The file is missing, unreadable or holds no workflow; the message says which."""


def load_workflow(path: str | Path) -> dict[str, Any]:
    """Load a workflow file; PNGs give their `prompt` chunk (API), else `workflow` (UI)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise WorkflowFileError(f"{path}: no such file") from None
    except OSError as ex:
        raise WorkflowFileError(f"{path}: cannot read: {ex.strerror or ex}") from None
    if raw.startswith(PNG_SIGNATURE):
        chunks = png_text_chunks(raw)
        for key in ("prompt", "workflow"):
            if key in chunks:
                return _parse(chunks[key], f"{path} ({key} chunk)")
        raise WorkflowFileError(f"{path}: this PNG carries no ComfyUI workflow")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise WorkflowFileError(f"{path}: not a JSON workflow or a PNG (not UTF-8 text)") from None
    return _parse(text, str(path))


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as ex:
        raise WorkflowFileError(
            f"{where}: invalid JSON at line {ex.lineno} column {ex.colno}: {ex.msg}"
        ) from None
    if not isinstance(data, dict):
        raise WorkflowFileError(f"{where}: a workflow is a JSON object, got {type(data).__name__}")
    return data


def png_text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt/zTXt/iTXt chunks of a PNG as {key: text} (standard library only)."""
    chunks: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        try:
            if kind == b"tEXt":
                key, _, value = body.partition(b"\0")
                chunks[key.decode("latin-1")] = value.decode("latin-1")
            elif kind == b"zTXt":
                key, _, rest = body.partition(b"\0")
                chunks[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
            elif kind == b"iTXt":
                key, _, rest = body.partition(b"\0")
                compressed, rest = rest[0], rest[2:]
                _lang, _, rest = rest.partition(b"\0")
                _tkey, _, text = rest.partition(b"\0")
                chunks[key.decode("latin-1")] = (
                    zlib.decompress(text) if compressed else text
                ).decode("utf-8")
        except (zlib.error, UnicodeDecodeError, IndexError):
            continue
        if kind == b"IEND":
            break
    return chunks
