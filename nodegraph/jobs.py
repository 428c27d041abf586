"""The prompt queue and history: priority order, one running prompt, persisted in SQLite.

Queue items are ComfyUI's 5-tuples `[number, prompt_id, prompt, extra_data, outputs]`; smaller
numbers run first, ties in submission order. A prompt leaves the running slot and enters the
history in one transaction, so a client that sees `queue_remaining == 0` always finds its
history entry.

After a crash, a prompt that was running is recorded in the history as failed (not re-queued):
a prompt that brought the process down (out of memory, a native crash) would otherwise bring
it down again on every restart, and what it had already written would be written twice.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nodegraph.storage import Storage, StoredItem

HISTORY_LIMIT = 10_000
"""ComfyUI's MAXIMUM_HISTORY_SIZE: the oldest entries beyond it are dropped."""
SENSITIVE_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")
"""extra_data keys never stored or shown (ComfyUI keeps them out of the queue item too)."""
RESTART_MESSAGE = (
    "nodegraph stopped while this prompt was running (crash, kill or shutdown); it was not "
    "run again. Queue it again to retry."
)

Listener = Callable[[int], None]
"""Called with queue_remaining after every queue change (outside the queue's lock)."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class QueueItem:
    """One queued prompt."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)
    seq: int = 0
    created_ms: int = field(default_factory=now_ms)

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return None if value is None else str(value)

    def to_json(self) -> list[Any]:
        """ComfyUI's queue tuple."""
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]


class DuplicatePromptId(ValueError):
    """A prompt with this id is already pending or running."""


class JobQueue:
    """Pending heap + running slot + history; thread-safe (the worker thread takes items)."""

    def __init__(self, storage: Storage, history_limit: int = HISTORY_LIMIT) -> None:
        self.storage = storage
        self.history_limit = history_limit
        self._cond = threading.Condition(threading.RLock())
        self._heap: list[tuple[float, int, str]] = []
        self._pending: dict[str, QueueItem] = {}
        self._running: QueueItem | None = None
        self._listeners: list[Listener] = []
        self._closed = False
        self._seq = 0
        self._number = storage.counter("number")
        self.recovered = self._recover()
        """Prompts found running at start-up and recorded as failed."""

    # -- start-up ----------------------------------------------------------------------------

    def _recover(self) -> list[str]:
        failed: list[str] = []
        with self.storage.transaction():
            for row in self.storage.items():
                item = QueueItem(
                    row.number,
                    row.prompt_id,
                    row.prompt,
                    row.extra_data,
                    row.outputs,
                    row.seq,
                    row.created_ms,
                )
                self._seq = max(self._seq, row.seq + 1)
                if row.state == "running":
                    entry = failed_entry(item, RESTART_MESSAGE, "nodegraph.ServerRestart")
                    self.storage.remove_items([item.prompt_id])
                    self.storage.add_history(item.prompt_id, entry, summarize(item, entry))
                    failed.append(item.prompt_id)
                else:
                    self._pending[item.prompt_id] = item
                    heapq.heappush(self._heap, (item.number, item.seq, item.prompt_id))
        return failed

    # -- listeners ---------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def _changed(self) -> None:
        remaining = self.remaining()
        for listener in list(self._listeners):
            listener(remaining)

    # -- submitting --------------------------------------------------------------------------

    def assign_number(self, front: bool = False) -> float:
        """The next priority (ComfyUI: the counter, negated for `front`); used up even when the
        prompt then fails validation."""
        with self._cond:
            number = self._number
            self._number += 1
        return float(-number if front else number)

    def put(self, item: QueueItem) -> QueueItem:
        """Queue an item (persisted before this returns)."""
        item.extra_data = {k: v for k, v in item.extra_data.items() if k not in SENSITIVE_KEYS}
        with self._cond:
            if item.prompt_id in self._pending or (
                self._running is not None and self._running.prompt_id == item.prompt_id
            ):
                raise DuplicatePromptId(f"prompt_id {item.prompt_id!r} is already queued")
            item.seq = self._seq
            self._seq += 1
            with self.storage.transaction():  # the counter persists with the item: one commit
                self.storage.add_item(_stored(item, "pending"))
                self.storage.set_counter("number", self._number)
            self._pending[item.prompt_id] = item
            heapq.heappush(self._heap, (item.number, item.seq, item.prompt_id))
            self._cond.notify()
        self._changed()
        return item

    # -- the worker's side -------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> QueueItem | None:
        """Move the first pending item to the running slot; None on timeout or close."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._pending and not self._closed:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return None
                self._cond.wait(left)
            if self._closed:
                return None
            while True:
                _, _, prompt_id = heapq.heappop(self._heap)
                item = self._pending.pop(prompt_id, None)
                if item is not None:
                    break
            self._running = item
        self.storage.set_state(prompt_id, "running")  # before it runs: a crash finds it
        self._changed()
        return item

    def task_done(self, item: QueueItem, entry: dict[str, Any]) -> None:
        """Record the history entry and free the running slot, atomically."""
        with self.storage.transaction():
            self.storage.remove_items([item.prompt_id])
            self.storage.add_history(item.prompt_id, entry, summarize(item, entry))
            self.storage.trim_history(self.history_limit)
        with self._cond:  # only now does queue_remaining drop: the history is already there
            if self._running is not None and self._running.prompt_id == item.prompt_id:
                self._running = None
        self._changed()

    def close(self) -> None:
        """Wake a waiting get() for shutdown; pending items stay in the database."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # -- looking and editing -----------------------------------------------------------------

    @property
    def running(self) -> QueueItem | None:
        return self._running

    def remaining(self) -> int:
        """ComfyUI's queue_remaining: pending + running."""
        with self._cond:
            return len(self._pending) + (self._running is not None)

    def snapshot(self) -> tuple[list[QueueItem], list[QueueItem]]:
        """(running, pending in run order)."""
        with self._cond:
            running = [self._running] if self._running is not None else []
            pending = sorted(self._pending.values(), key=lambda i: (i.number, i.seq))
        return running, pending

    def delete(self, prompt_ids: Iterable[str]) -> list[str]:
        """Remove these pending prompts (never the running one); returns those removed."""
        with self._cond:
            removed = [pid for pid in dict.fromkeys(prompt_ids) if pid in self._pending]
            if not removed:
                return []
            self.storage.remove_items(removed)
            for pid in removed:
                del self._pending[pid]
            self._heap = [entry for entry in self._heap if entry[2] in self._pending]
            heapq.heapify(self._heap)
        self._changed()
        return removed

    def clear(self) -> list[str]:
        """Remove every pending prompt."""
        with self._cond:
            ids = list(self._pending)
        return self.delete(ids)

    def history(
        self, max_items: int | None = None, offset: int | None = None
    ) -> dict[str, dict[str, Any]]:
        """ComfyUI's /history slicing: all; the last `max_items`; or `offset` then `max_items`."""
        if offset is None:
            if max_items is None:
                return dict(self.storage.history())
            total = self.storage.history_count()
            return dict(self.storage.history(max_items, max(0, total - max_items)))
        return dict(self.storage.history(max_items, max(0, offset)))

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        return self.storage.history_entry(prompt_id)

    def delete_history(self, prompt_ids: Iterable[str] | None = None) -> None:
        self.storage.delete_history(None if prompt_ids is None else list(prompt_ids))

    def summaries(self) -> list[dict[str, Any]]:
        """Job summaries of the finished prompts, oldest first."""
        return self.storage.summaries()


def _stored(item: QueueItem, state: str) -> StoredItem:
    return StoredItem(
        prompt_id=item.prompt_id,
        number=item.number,
        seq=item.seq,
        prompt=item.prompt,
        extra_data=item.extra_data,
        outputs=item.outputs,
        state=state,
        created_ms=item.created_ms,
    )


# -- history entries and job summaries -----------------------------------------------------------


def history_entry(
    item: QueueItem,
    outputs: dict[str, Any],
    status: str,
    messages: list[tuple[str, dict[str, Any]]],
) -> dict[str, Any]:
    """ComfyUI's history entry for a finished prompt (`status`: success, error, interrupted)."""
    return {
        "prompt": item.to_json(),
        "outputs": outputs,
        "status": {
            "status_str": "success" if status == "success" else "error",
            "completed": status == "success",
            "messages": [[kind, data] for kind, data in messages],
        },
        "meta": {
            nid: {"node_id": nid, "display_node": nid, "parent_node": None, "real_node_id": nid}
            for nid in outputs
        },
    }


def failed_entry(item: QueueItem, message: str, exception_type: str) -> dict[str, Any]:
    """A history entry for a prompt that failed outside any node (restart, invalid on run)."""
    error: dict[str, Any] = {
        "prompt_id": item.prompt_id,
        "node_id": None,
        "node_type": None,
        "executed": [],
        "exception_message": message,
        "exception_type": exception_type,
        "traceback": [],
        "current_inputs": {},
        "current_outputs": [],
        "timestamp": now_ms(),
    }
    return history_entry(item, {}, "error", [("execution_error", error)])


def summarize(item: QueueItem, entry: dict[str, Any]) -> dict[str, Any]:
    """The jobs-API view of a finished prompt (keys whose value is None left out)."""
    messages = {kind: data for kind, data in entry["status"]["messages"]}
    status = "completed" if entry["status"]["status_str"] == "success" else "failed"
    if "execution_interrupted" in messages:
        status = "cancelled"
    end = next(
        (
            messages[kind].get("timestamp")
            for kind in ("execution_success", "execution_error", "execution_interrupted")
            if kind in messages
        ),
        None,
    )
    outputs: dict[str, Any] = entry.get("outputs") or {}
    files = [
        {**file, "nodeId": nid, "mediaType": kind}
        for nid, ui in outputs.items()
        if isinstance(ui, dict)
        for kind, values in ui.items()
        if kind in ("images", "video", "audio") and isinstance(values, list)
        for file in values
        if isinstance(file, dict) and "filename" in file
    ]
    workflow = item.extra_data.get("extra_pnginfo", {})
    workflow = workflow.get("workflow") if isinstance(workflow, dict) else None
    job = {
        "id": item.prompt_id,
        "status": status,
        "priority": item.number,
        "create_time": item.extra_data.get("create_time", item.created_ms),
        "execution_start_time": messages.get("execution_start", {}).get("timestamp"),
        "execution_end_time": end,
        "execution_error": messages.get("execution_error"),
        "outputs_count": len(files),
        "preview_output": files[0] if files else None,
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    return {key: value for key, value in job.items() if value is not None}
