"""Run the app until Ctrl-C: bind each --listen address, print where it is, warn if exposed."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys

from aiohttp import web

from nodegraph.engine import Engine
from nodegraph.server.app import create_app
from nodegraph.server.keys import ServerSettings
from nodegraph.server.security import exposure_warning, hosts

log = logging.getLogger(__name__)


async def _run(engine: Engine, server: ServerSettings) -> None:
    app = create_app(engine, server)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        for host in hosts(server.host):
            await web.TCPSite(runner, host, server.port).start()
        shown = hosts(server.host)[0]
        shown = "127.0.0.1" if shown in ("0.0.0.0", "::") else shown
        if ":" in shown:
            shown = f"[{shown}]"
        query = f"/?token={server.token}" if server.token else "/"
        gc.freeze()  # start-up objects (node library, torch) leave the collector's scans
        print(f"nodegraph serving on http://{shown}:{server.port}{query}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def serve(engine: Engine, server: ServerSettings) -> None:
    """Blocking; returns after Ctrl-C (pending prompts stay queued for the next start)."""
    warning = exposure_warning(server)
    if warning:
        print(warning, file=sys.stderr, flush=True)
        log.warning("listening on %s without a token", server.host)
    try:
        asyncio.run(_run(engine, server))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
