"""`create_app`: the aiohttp application wired from an Engine, a queue and a worker.

Every route is served at `/x` and `/api/x` (ComfyUI's rule); the jobs routes exist only under
`/api/jobs`. Handlers reach shared objects through the typed keys in `keys`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web

from nodegraph.engine import Engine
from nodegraph.jobs import JobQueue
from nodegraph.server import (
    file_routes,
    info_routes,
    job_routes,
    prompt_routes,
    security,
    static_routes,
)
from nodegraph.server.keys import ENGINE, HUB, QUEUE, SERVER, WORKER, ServerSettings
from nodegraph.server.websocket import Hub
from nodegraph.server.worker import Worker
from nodegraph.storage import Storage

DATABASE = "nodegraph.sqlite3"


def create_app(
    engine: Engine, server: ServerSettings | None = None, *, start_worker: bool = True
) -> web.Application:
    """The application; the worker thread starts with it (unless told not to, for tests that
    inspect the queue) and stops on cleanup, leaving pending prompts in the database."""
    server = server or ServerSettings()
    storage = Storage(server.data_dir / DATABASE)
    queue = JobQueue(storage)
    hub = Hub({"max_upload_size": server.max_upload_bytes})
    worker = Worker(engine, queue, hub)
    hub.remaining = queue.remaining
    hub.running_node = worker.running_node
    queue.add_listener(hub.broadcast_status)

    app = web.Application(
        client_max_size=server.max_upload_bytes,
        middlewares=[security.errors, security.origin_guard(server), security.token_guard(server)],
    )
    app[ENGINE], app[QUEUE], app[SERVER], app[HUB], app[WORKER] = (
        engine,
        queue,
        server,
        hub,
        worker,
    )
    for table in (prompt_routes.routes, info_routes.routes, file_routes.routes):
        add_twice(app, table)
    app.router.add_get("/ws", hub.handle)
    app.router.add_get("/api/ws", hub.handle)
    app.add_routes(job_routes.routes)
    app.add_routes(static_routes.routes)  # last: API routes win; the editor is not under /api

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        if start_worker:
            worker.start()
        yield
        await asyncio.get_running_loop().run_in_executor(None, worker.stop)
        await hub.close()
        storage.close()

    app.cleanup_ctx.append(lifecycle)
    return app


def add_twice(app: web.Application, table: web.RouteTableDef) -> None:
    """Register each route at its path and under /api."""
    for route in table:
        assert isinstance(route, web.RouteDef)
        for prefix in ("", "/api"):
            app.router.add_route(route.method, prefix + route.path, route.handler, **route.kwargs)
