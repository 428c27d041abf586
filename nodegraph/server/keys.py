"""Typed application keys: how route handlers reach the engine, queue, worker and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from nodegraph.engine import Engine
from nodegraph.jobs import JobQueue

if TYPE_CHECKING:
    from nodegraph.server.websocket import Hub
    from nodegraph.server.worker import Worker

DEFAULT_MAX_UPLOAD = 100 * 1024 * 1024
"""ComfyUI's --max-upload-size default (100 MB), the request body limit."""


def default_web_dir() -> Path | None:
    """The repository's `web/` folder (the editor), or None when it is not there (e.g. an
    installed package without the editor files)."""
    web_dir = Path(__file__).resolve().parents[2] / "web"
    return web_dir if web_dir.is_dir() else None


@dataclass
class ServerSettings:
    """How the server listens and guards itself (the engine's Settings hold the folders)."""

    host: str = "127.0.0.1"
    port: int = 8188
    data_dir: Path = Path("data")
    """Where the SQLite queue/history database lives."""
    token: str | None = None
    """When set, every route and the websocket require it (Bearer header, ?token= or cookie)."""
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    """Extra browser origins (e.g. "https://example.org") allowed besides the server's own."""
    web_dir: Path | None = field(default_factory=default_web_dir)
    """The editor's files, served at `/`; None: `/` answers a 404 saying they are missing."""


ENGINE = web.AppKey("engine", Engine)
QUEUE = web.AppKey("queue", JobQueue)
SERVER = web.AppKey("server", ServerSettings)
HUB: web.AppKey[Hub] = web.AppKey("hub")
WORKER: web.AppKey[Worker] = web.AppKey("worker")
