"""The `/ws` endpoint and event fan-out: ComfyUI's routing of events to client ids.

Only this module knows about sockets. The worker thread calls `publish`/`broadcast`; frames are
handed to the event loop thread-safely and written by one sender task per client, in order. A
client that stops reading is dropped once its backlog is full, never the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from nodegraph import events as ev

log = logging.getLogger(__name__)

BACKLOG = 10_000
"""Frames queued for one client before it is considered gone."""
PREVIEW_IMAGE, PREVIEW_IMAGE_WITH_METADATA = 1, 4
IMAGE_FORMATS = {"JPEG": 1, "PNG": 2}
SERVER_FLAGS: dict[str, Any] = {"supports_preview_metadata": True}
"""Our answer to the client's feature_flags handshake (max_upload_size is added per app)."""
LIFECYCLE = frozenset(
    {
        "execution_start",
        "execution_cached",
        "executing",
        "executed",
        "execution_success",
        "execution_error",
    }
)
"""Events ComfyUI sends only when the prompt has a client_id (never broadcast)."""

Frame = str | bytes


@dataclass
class Client:
    """One connected socket and what it asked for."""

    sid: str
    socket: web.WebSocketResponse
    previews: bool = False
    flags: dict[str, Any] = field(default_factory=dict)
    outbox: asyncio.Queue[Frame] = field(default_factory=lambda: asyncio.Queue(BACKLOG))

    @property
    def preview_metadata(self) -> bool:
        return bool(self.flags.get("supports_preview_metadata"))

    @property
    def wants_previews(self) -> bool:
        """Binary previews only for clients that opted in: some clients take any binary frame
        for the final image."""
        return self.previews or self.preview_metadata or bool(self.flags.get("previews"))


class Hub:
    """Connected clients by sid; thread-safe publishing into the event loop."""

    def __init__(self, server_flags: dict[str, Any] | None = None) -> None:
        self.clients: dict[str, Client] = {}
        self.server_flags = {**SERVER_FLAGS, **(server_flags or {})}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.remaining: Callable[[], int] = lambda: 0
        """Returns queue_remaining for the status sent on connect (set by the app)."""
        self.running_node: Callable[[str], str | None] = lambda sid: None
        """Returns the node running for this client's prompt, if any (set by the app)."""
        self._closing: set[asyncio.Task[Any]] = set()
        self._status_lock = threading.Lock()
        self._inbox_lock = threading.Lock()
        self._inbox: list[tuple[Any, tuple[Any, ...]]] = []
        self._drain_due = False
        self._status_change = 0

    # -- the route ---------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        self.loop = asyncio.get_running_loop()
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=1024 * 1024)
        await socket.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        previews = request.query.get("previews", "").lower() in ("1", "true", "yes")
        client = Client(sid, socket, previews=previews)
        old = self.clients.get(sid)
        if old is not None:  # ComfyUI: the same clientId replaces the old socket
            await old.socket.close()
        self.clients[sid] = client
        sender = asyncio.create_task(self._send_loop(client))
        status = {"status": {"exec_info": {"queue_remaining": self.remaining()}}, "sid": sid}
        self._queue(client, _text("status", status))
        node = self.running_node(sid)
        if node is not None:
            self._queue(client, _text("executing", {"node": node}))
        try:
            first = True
            async for message in socket:
                if message.type == WSMsgType.TEXT and first:
                    first = False
                    self._handshake(client, message.data)
                elif message.type == WSMsgType.ERROR:
                    break
        finally:
            if self.clients.get(sid) is client:
                del self.clients[sid]
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return socket

    def _handshake(self, client: Client, data: str) -> None:
        """Only a first `feature_flags` message is looked at (as ComfyUI does)."""
        try:
            message = json.loads(data)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "feature_flags":
            return
        flags = message.get("data")
        client.flags = dict(flags) if isinstance(flags, dict) else {}
        self._queue(client, _text("feature_flags", self.server_flags))

    async def _send_loop(self, client: Client) -> None:
        while True:
            frame = await client.outbox.get()
            if client.socket.closed:
                return
            try:
                if isinstance(frame, bytes):
                    await client.socket.send_bytes(frame)
                else:
                    await client.socket.send_str(frame)
            except (ConnectionError, RuntimeError):
                return

    def _queue(self, client: Client, frame: Frame) -> None:
        try:
            client.outbox.put_nowait(frame)
        except asyncio.QueueFull:
            log.warning("websocket client %s is not reading; disconnecting it", client.sid)
            if self.clients.get(client.sid) is client:
                del self.clients[client.sid]
            task = asyncio.ensure_future(client.socket.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    # -- publishing (any thread) -------------------------------------------------------------

    def publish(self, event: ev.Event, client_id: str | None) -> None:
        """Route an execution event as ComfyUI does: lifecycle events only to the prompt's
        client; progress, previews and interrupts to everyone when the prompt has none."""
        if isinstance(event, ev.Preview):
            self._call(self._send_preview, event, client_id)
            return
        if client_id is None and event.type in LIFECYCLE:
            return
        self._call(self._send, _text(event.type, event.data()), client_id)

    def send(self, event_type: str, data: dict[str, Any], client_id: str | None) -> None:
        """A text event to one client, or to every client when `client_id` is None."""
        self._call(self._send, _text(event_type, data), client_id)

    def broadcast_status(self, remaining: int) -> None:
        """Queue changed: every client gets a `status`. Changes that arrive from other threads
        before the loop drains them fold into one frame, sent in the place of the last change
        (after every event published before it) with the count at sending time: a burst of
        changes costs one frame per client, and the last frame is always current."""
        with self._status_lock:
            self._status_change += 1
            change = self._status_change
        self._call(self._send_status, change)

    def _send_status(self, change: int) -> None:
        with self._status_lock:
            if change != self._status_change:
                return  # a later change is queued behind this one and will send the frame
        data = {"status": {"exec_info": {"queue_remaining": self.remaining()}}}
        self._send(_text("status", data), None)

    def _call(self, function: Any, *args: Any) -> bool:
        """Run `function` on the loop thread (now, if this is it, after any calls other threads
        queued); False when there is no loop to run it. Calls from other threads are batched:
        one loop wake-up per burst."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return False
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._drain()  # what other threads published before this goes out first
            function(*args)
            return True
        with self._inbox_lock:
            self._inbox.append((function, args))
            if self._drain_due:
                return True
            self._drain_due = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is shutting down
            return False
        return True

    def _drain(self) -> None:
        with self._inbox_lock:
            calls, self._inbox = self._inbox, []
            self._drain_due = False
        for function, args in calls:
            function(*args)

    def _targets(self, client_id: str | None) -> list[Client]:
        if client_id is None:
            return list(self.clients.values())
        client = self.clients.get(client_id)
        return [] if client is None else [client]

    def _send(self, frame: Frame, client_id: str | None) -> None:
        for client in self._targets(client_id):
            self._queue(client, frame)

    def _send_preview(self, event: ev.Preview, client_id: str | None) -> None:
        for client in self._targets(client_id):
            if not client.wants_previews:
                continue
            self._queue(client, preview_frame(event, client.preview_metadata))

    async def close(self) -> None:
        for client in list(self.clients.values()):
            await client.socket.close()
        self.clients.clear()


def _text(event_type: str, data: dict[str, Any]) -> str:
    return json.dumps({"type": event_type, "data": data})


def preview_frame(event: ev.Preview, with_metadata: bool) -> bytes:
    """ComfyUI's binary preview: big-endian event type, then format code + image (type 1) or
    metadata length + metadata JSON + image (type 4)."""
    fmt = event.image_format.upper()
    if not with_metadata:
        return struct.pack(">II", PREVIEW_IMAGE, IMAGE_FORMATS.get(fmt, 1)) + event.image
    metadata = json.dumps(
        {
            "node_id": event.node,
            "prompt_id": event.prompt_id,
            "display_node_id": event.node,
            "parent_node_id": None,
            "real_node_id": event.node,
            "image_type": "image/png" if fmt == "PNG" else "image/jpeg",
        }
    ).encode()
    return struct.pack(">II", PREVIEW_IMAGE_WITH_METADATA, len(metadata)) + metadata + event.image
