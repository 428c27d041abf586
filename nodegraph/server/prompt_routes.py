"""Prompt, queue, history, interrupt and free routes (ComfyUI's classic shapes)."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from nodegraph.jobs import DuplicatePromptId, QueueItem, now_ms
from nodegraph.server.http import (
    bad_request,
    empty_ok,
    error_body,
    field_of,
    read_object,
)
from nodegraph.server.keys import ENGINE, QUEUE, WORKER
from nodegraph.ui_workflow import WorkflowFormatError

routes = web.RouteTableDef()
MAX_PROMPT_ID = 200


@routes.post("/prompt")
async def post_prompt(request: web.Request) -> web.Response:
    body = await read_object(request)
    queue, engine = request.app[QUEUE], request.app[ENGINE]
    if "number" in body and body["number"] is not None:
        number = field_of(body, "number", (int, float), 0)
        number = float(number)
    else:
        number = queue.assign_number(front=bool(body.get("front")))
    prompt_id = _prompt_id(body.get("prompt_id"))
    prompt = body.get("prompt")
    if prompt is None:
        return web.json_response(
            error_body("no_prompt", "No prompt provided", "No prompt provided"), status=400
        )
    if not isinstance(prompt, dict):
        raise bad_request(
            "invalid_prompt", "Prompt must be a JSON object", f"got {type(prompt).__name__}"
        )
    extra_data = dict(field_of(body, "extra_data", dict, {}))
    client_id = field_of(body, "client_id", str, None)
    targets = field_of(body, "partial_execution_targets", list, None)
    if targets is not None and not all(isinstance(t, str | int) for t in targets):
        raise bad_request(
            "invalid_field",
            "Field 'partial_execution_targets' must list node ids",
            "partial_execution_targets: expected a list of strings",
        )
    try:
        api_prompt = engine.to_api(prompt)
    except WorkflowFormatError as ex:
        raise bad_request("invalid_prompt", "Workflow could not be converted", str(ex)) from ex
    validation = engine.validate(api_prompt, None if targets is None else map(str, targets))
    if not validation.ok:
        return web.json_response(validation.to_json(), status=400)
    if client_id is not None:
        extra_data["client_id"] = client_id
    extra_data["create_time"] = now_ms()
    item = QueueItem(number, prompt_id, api_prompt, extra_data, list(validation.outputs))
    try:
        queue.put(item)
    except DuplicatePromptId as ex:
        raise bad_request("invalid_prompt_id", "prompt_id is already queued", str(ex)) from ex
    return web.json_response(
        {"prompt_id": prompt_id, "number": number, "node_errors": validation.node_errors_json()}
    )


def _prompt_id(value: Any) -> str:
    if value is None:
        return str(uuid.uuid4())
    text = str(value)
    if not text or len(text) > MAX_PROMPT_ID or not text.isprintable():
        raise bad_request(
            "invalid_prompt_id",
            "Invalid prompt_id",
            f"prompt_id must be 1-{MAX_PROMPT_ID} printable characters (a UUID is usual)",
        )
    return text


@routes.get("/prompt")
async def get_prompt(request: web.Request) -> web.Response:
    return web.json_response({"exec_info": {"queue_remaining": request.app[QUEUE].remaining()}})


@routes.get("/queue")
async def get_queue(request: web.Request) -> web.Response:
    running, pending = request.app[QUEUE].snapshot()
    return web.json_response(
        {
            "queue_running": [item.to_json() for item in running],
            "queue_pending": [item.to_json() for item in pending],
        }
    )


@routes.post("/queue")
async def post_queue(request: web.Request) -> web.Response:
    body = await read_object(request)
    queue = request.app[QUEUE]
    if body.get("clear"):
        queue.clear()
    delete = _id_list(body, "delete")
    if delete:
        queue.delete(delete)
    return empty_ok()


@routes.get("/history")
async def get_history(request: web.Request) -> web.Response:
    max_items = _int_query(request, "max_items")
    offset = _int_query(request, "offset")
    return web.json_response(request.app[QUEUE].history(max_items, offset))


@routes.get("/history/{prompt_id}")
async def get_history_entry(request: web.Request) -> web.Response:
    prompt_id = request.match_info["prompt_id"]
    entry = request.app[QUEUE].history_entry(prompt_id)
    return web.json_response({} if entry is None else {prompt_id: entry})


@routes.post("/history")
async def post_history(request: web.Request) -> web.Response:
    body = await read_object(request)
    queue = request.app[QUEUE]
    if body.get("clear"):
        queue.delete_history()
    delete = _id_list(body, "delete")
    if delete:
        queue.delete_history(delete)
    return empty_ok()


@routes.post("/interrupt")
async def post_interrupt(request: web.Request) -> web.Response:
    body = await read_object(request, empty={})
    prompt_id = field_of(body, "prompt_id", str, None)
    request.app[WORKER].interrupt(prompt_id)
    return empty_ok()


@routes.post("/free")
async def post_free(request: web.Request) -> web.Response:
    body = await read_object(request, empty={})
    unload = field_of(body, "unload_models", bool, False)
    free = field_of(body, "free_memory", bool, False)
    request.app[WORKER].request_free(unload, free)
    return empty_ok()


def _id_list(body: dict[str, Any], name: str) -> list[str]:
    value = field_of(body, name, list, [])
    if not all(isinstance(v, str) for v in value):
        raise bad_request(
            "invalid_field", f"Field '{name}' must list prompt ids", f"{name}: expected strings"
        )
    return list(value)


def _int_query(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError as ex:
        raise bad_request(
            "invalid_query", f"Query parameter '{name}' must be an integer", f"{name}={raw!r}"
        ) from ex
    if value < 0:
        raise bad_request("invalid_query", f"Query parameter '{name}' must be >= 0", name)
    return value
