"""Middlewares that keep the server safe to expose: errors as JSON, token, origin guard.

- Any unexpected exception becomes a JSON 500 naming it; the server keeps running.
- With a token, every route (websocket included) needs it: `Authorization: Bearer <token>`,
  `?token=<token>`, or the cookie set when a browser first opens a URL with `?token=`.
- Browsers' cross-site requests are refused (403) unless their Origin is the server itself or
  explicitly allowed: any web page could otherwise POST prompts to a local server.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from nodegraph.server.keys import ServerSettings

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COOKIE = "nodegraph_token"


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn anything a handler did not expect into a clear JSON 500 (logged with traceback)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as ex:
        log.exception("%s %s failed", request.method, request.path)
        body = {
            "error": {
                "type": "internal_error",
                "message": f"Internal server error: {type(ex).__name__}: {ex}",
                "details": "",
                "extra_info": {},
            }
        }
        return web.json_response(body, status=500)


def token_guard(server: ServerSettings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Require `server.token` on every request when one is configured."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        token = server.token
        if not token:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        offered = [
            header[7:].strip() if header.lower().startswith("bearer ") else "",
            request.query.get("token", ""),
            request.cookies.get(COOKIE, ""),
        ]
        if not any(o and hmac.compare_digest(o.encode(), token.encode()) for o in offered):
            return web.json_response(
                {
                    "error": {
                        "type": "unauthorized",
                        "message": "A valid token is required "
                        "(Authorization: Bearer <token>, or ?token=<token>)",
                    }
                },
                status=401,
            )
        response = await handler(request)
        if request.query.get("token") and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict")
        return response

    return guard


def origin_guard(server: ServerSettings) -> Callable[..., Awaitable[web.StreamResponse]]:
    """403 for requests whose Origin is neither this server (per Host) nor allowed."""
    allowed = {origin.rstrip("/").lower() for origin in server.allowed_origins}

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "OPTIONS":
            return web.Response(status=200)
        origin = request.headers.get("Origin")
        if origin is None or origin.rstrip("/").lower() in allowed:
            return await handler(request)
        if not same_origin(origin, request.headers.get("Host", "")):
            log.warning("refused cross-origin %s %s from %s", request.method, request.path, origin)
            return web.Response(status=403, text="cross-origin request refused")
        return await handler(request)

    return guard


def same_origin(origin: str, host: str) -> bool:
    """Whether an Origin header names the Host the request was sent to (ports compared when
    both give one, as ComfyUI does)."""
    if not host or origin == "null":
        return False
    parsed = urlsplit(origin)
    if not parsed.hostname:
        return False
    host_parts = urlsplit(f"//{host}")
    if (parsed.hostname or "").lower() != (host_parts.hostname or "").lower():
        return False
    try:
        origin_port, host_port = parsed.port, host_parts.port
    except ValueError:
        return False
    return origin_port is None or host_port is None or origin_port == host_port


def hosts(listen: str) -> list[str]:
    """The addresses of a comma-separated --listen value."""
    return [part.strip().strip("[]") for part in listen.split(",") if part.strip()]


def is_loopback(host: str) -> bool:
    """Whether every address in a --listen value is loopback (or localhost)."""
    for part in hosts(host):
        if part == "localhost":
            continue
        try:
            if not ipaddress.ip_address(part).is_loopback:
                return False
        except ValueError:
            return False
    return True


def exposure_warning(server: ServerSettings) -> str | None:
    """The loud warning for a server reachable from other machines without a token."""
    if is_loopback(server.host) or server.token:
        return None
    return (
        "\n" + "!" * 78 + "\n"
        f"WARNING: listening on {server.host} WITHOUT --token.\n"
        "Anyone who can reach this port can queue prompts, read your outputs and upload files.\n"
        "Start with --token <secret> (or bind 127.0.0.1) unless this network is trusted.\n"
        + "!"
        * 78
    )
