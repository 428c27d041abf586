"""Small helpers for handlers: JSON bodies that fail with a clear 400, ComfyUI error shapes."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web


def error_body(
    error_type: str, message: str, details: str = "", extra_info: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ComfyUI's error object, wrapped as /prompt answers it (with empty node_errors)."""
    return {
        "error": {
            "type": error_type,
            "message": message,
            "details": details,
            "extra_info": extra_info or {},
        },
        "node_errors": {},
    }


def bad_request(error_type: str, message: str, details: str = "") -> web.HTTPBadRequest:
    """A 400 to raise, with a JSON body naming the problem."""
    return web.HTTPBadRequest(
        text=json.dumps(error_body(error_type, message, details)), content_type="application/json"
    )


async def read_json(request: web.Request, *, empty: Any = ...) -> Any:
    """The parsed JSON body; an empty body gives `empty` when one is allowed, else a 400.
    Malformed JSON is a 400 saying where it broke, never a 500."""
    raw = await request.read()
    if not raw.strip():
        if empty is ...:
            raise bad_request("invalid_json", "Request body is empty", "expected a JSON object")
        return empty
    try:
        return json.loads(raw)
    except UnicodeDecodeError as ex:
        raise bad_request("invalid_json", "Request body is not UTF-8", str(ex)) from ex
    except json.JSONDecodeError as ex:
        raise bad_request("invalid_json", "Request body is not valid JSON", str(ex)) from ex


async def read_object(request: web.Request, *, empty: Any = ...) -> dict[str, Any]:
    """read_json, requiring a JSON object."""
    data = await read_json(request, empty=empty)
    if not isinstance(data, dict):
        raise bad_request(
            "invalid_json", "Request body must be a JSON object", f"got {type(data).__name__}"
        )
    return data


def field_of(data: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any) -> Any:
    """`data[name]` checked against `kind` (None counts as absent); a 400 naming the field."""
    value = data.get(name)
    if value is None:
        return default
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        names = "/".join(k.__name__ for k in _kinds(kind))
        raise bad_request(
            "invalid_field",
            f"Field '{name}' has the wrong type",
            f"{name}: expected {names}, got {type(value).__name__}",
        )
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def empty_ok() -> web.Response:
    """ComfyUI's 200 with an empty body."""
    return web.Response(status=200)
