"""The editor's files: `/` serves web/index.html, `/js/app.js`, `/style.css`... the rest of web/.

Only GET paths whose last part has a file extension reach this table (registered after every
API route, and never under /api), so unknown API paths and methods keep their 404s. A path is
served only when its real path, symlinks followed, lies inside the real web folder; `..`,
hidden names and folders are refused with a 404 (no listings). Everything goes out with
`Cache-Control: no-cache`: there is no build step adding hashes to the file names, so browsers
must revalidate (cheaply: ETag/Last-Modified answer 304) to pick up a new version.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from aiohttp import web

from nodegraph.paths import resolve_inside
from nodegraph.server.keys import SERVER

routes = web.RouteTableDef()

INDEX = "index.html"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
}
"""Types set explicitly: ES modules load only as a JavaScript type, and Python's mimetypes
table (or the system's) varies between versions for .js."""


def missing_editor(reason: str) -> web.Response:
    """The 404 answered at `/` when the editor files are not there."""
    return web.json_response(
        {
            "error": f"The editor files are missing: {reason}. The HTTP API and websocket "
            "work without them; run from a checkout that has the web/ folder to get the editor."
        },
        status=404,
    )


def not_found(path: str) -> web.Response:
    """The 404 of a static path that is not a file inside web/."""
    return web.json_response({"error": f"Not found: /{path}"}, status=404)


def static_file(path: Path) -> web.FileResponse:
    """A file of the editor, typed and marked for revalidation."""
    content_type = CONTENT_TYPES.get(path.suffix.lower())
    if content_type is None:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return web.FileResponse(
        path,
        headers={
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        },
    )


def locate(web_dir: Path, relative: str) -> Path | None:
    """The real path of a file under web_dir, or None (unsafe, hidden, a folder, absent)."""
    if not relative or any(part.startswith(".") for part in relative.split("/")):
        return None
    path = resolve_inside(web_dir, relative)
    return path if path is not None and path.is_file() else None


@routes.get("/")
async def index(request: web.Request) -> web.StreamResponse:
    """web/index.html, or a JSON 404 explaining that the editor files are missing."""
    web_dir = request.app[SERVER].web_dir
    if web_dir is None:
        return missing_editor("no web/ folder was found beside the nodegraph package")
    path = locate(web_dir, INDEX)
    if path is None:
        return missing_editor(f"{web_dir / INDEX} does not exist")
    return static_file(path)


@routes.get(r"/{path:(?!api/)[^?#]*\.[A-Za-z0-9]+}")
async def asset(request: web.Request) -> web.StreamResponse:
    """A file under web/ (scripts, styles, images), or a JSON 404."""
    relative = request.match_info["path"]
    web_dir = request.app[SERVER].web_dir
    path = locate(web_dir, relative) if web_dir is not None else None
    return static_file(path) if path is not None else not_found(relative)
