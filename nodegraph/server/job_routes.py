"""The jobs API (`/api/jobs...` only, as ComfyUI): list, look up and cancel prompts as jobs.

Errors here are ComfyUI's flat `{"error": "<message>"}`, not the `/prompt` error object.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from nodegraph.server import job_views as views
from nodegraph.server.keys import QUEUE, WORKER

routes = web.RouteTableDef()


def _error(message: str, status: int = 400, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@routes.get("/api/jobs")
async def get_jobs(request: web.Request) -> web.Response:
    try:
        query = views.parse_query(request.query)
    except views.QueryError as ex:
        return _error(str(ex))
    queue = request.app[QUEUE]
    running, pending = queue.snapshot()
    finished = queue.summaries() if query.wants_finished else []
    jobs = views.collect_jobs(running, pending, finished)
    return web.json_response(views.list_jobs(jobs, query))


@routes.get("/api/jobs/{job_id}")
async def get_job(request: web.Request) -> web.Response:
    """Queue first, then history: a prompt only moves queue -> history, so reading in this
    order cannot miss one that finishes in between."""
    job_id = request.match_info["job_id"]
    queue = request.app[QUEUE]
    running, pending = queue.snapshot()
    for status, items in ((views.IN_PROGRESS, running), (views.PENDING, pending)):
        for item in items:
            if item.prompt_id == job_id:
                return web.json_response(views.detail_from_item(item, status))
    entry = queue.history_entry(job_id)
    if entry is None:
        return _error("Job not found", 404)
    return web.json_response(views.detail_from_entry(job_id, entry))


def _cancel(app: web.Application, job_id: str) -> bool:
    """Dequeue if pending, else interrupt if running; False for finished or unknown ids.

    Trying the dequeue first closes the race where a prompt starts between a check and the
    action: a prompt no longer pending is then caught by the interrupt, and the interrupt only
    fires if that very prompt is the one running."""
    if app[QUEUE].delete([job_id]):
        return True
    return app[WORKER].interrupt(job_id)


@routes.post("/api/jobs/{job_id}/cancel")
async def cancel_job(request: web.Request) -> web.Response:
    return web.json_response({"cancelled": _cancel(request.app, request.match_info["job_id"])})


@routes.post("/api/jobs/cancel")
async def cancel_jobs(request: web.Request) -> web.Response:
    """Best effort: every well-formed id is cancelled if it still can be; any malformed id
    rejects the whole batch before anything is cancelled."""
    try:
        body = json.loads(await request.read())
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return _error('Request body must be valid JSON, e.g. {"job_ids": ["<id>"]}')
    job_ids = body.get("job_ids") if isinstance(body, dict) else None
    if not isinstance(job_ids, list):
        return _error('job_ids must be a list of job ids, e.g. {"job_ids": ["<id>"]}')
    invalid = views.invalid_job_ids(job_ids)
    if invalid:
        return _error("job_ids contains invalid id(s)", invalid_ids=invalid)
    cancelled = False
    for job_id in job_ids:
        cancelled = _cancel(request.app, job_id) or cancelled
    return web.json_response({"cancelled": cancelled})
