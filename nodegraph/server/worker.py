"""The one worker thread: takes prompts in priority order and runs them on the Engine.

Per prompt, as ComfyUI's prompt_worker: execute (events go to the prompt's client), record the
history entry while leaving the queue (one transaction), broadcast the status, then send
`executing {node: null}` as the end marker. /free requests are handled between prompts.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from nodegraph import events as ev
from nodegraph.context import InterruptFlag
from nodegraph.engine import Engine, ValidationFailed
from nodegraph.jobs import JobQueue, QueueItem, failed_entry, history_entry

log = logging.getLogger(__name__)


class Worker:
    """Runs queued prompts on a background thread; interrupt and free are thread-safe."""

    def __init__(self, engine: Engine, queue: JobQueue, hub: Any) -> None:
        self.engine = engine
        self.queue = queue
        self.hub = hub
        self.interrupt_flag = InterruptFlag()
        self._lock = threading.Lock()
        self._free: dict[str, bool] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.current_node: str | None = None

    # -- control (any thread) ----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nodegraph-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Interrupt the running prompt and wait for the thread; pending prompts stay queued."""
        self._stop.set()
        self.interrupt_flag.set()
        self.queue.close()
        if self._thread is not None:
            self._thread.join(timeout)

    def interrupt(self, prompt_id: str | None = None) -> bool:
        """Stop the running prompt (any, or only `prompt_id`); True when one was running."""
        with self._lock:
            running = self.queue.running
            if running is None or (prompt_id is not None and running.prompt_id != prompt_id):
                return False
            self.interrupt_flag.set()
            return True

    def request_free(self, unload_models: bool, free_memory: bool) -> None:
        """Acted on between prompts, as ComfyUI does."""
        with self._lock:
            if unload_models:
                self._free["unload_models"] = True
            if free_memory:
                self._free["free_memory"] = True

    def running_node(self, client_id: str) -> str | None:
        running = self.queue.running
        if running is None or running.client_id != client_id:
            return None
        return self.current_node

    # -- the thread --------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._handle_free()
            with self._lock:  # an interrupt that came after the last prompt's last check
                self.interrupt_flag.clear()
            item = self.queue.get(timeout=0.5)
            if item is None:
                continue
            self._handle_free()  # a /free that came while waiting applies before this prompt
            try:
                self.run(item)
            except Exception:  # never let one prompt kill the worker
                log.exception("prompt %s failed outside any node", item.prompt_id)
                self.queue.task_done(item, failed_entry(item, "internal error", "RuntimeError"))

    def _handle_free(self) -> None:
        with self._lock:
            flags, self._free = self._free, {}
        if flags:
            self.engine.free(
                unload_models=flags.get("unload_models", False),
                free_memory=flags.get("free_memory", False),
            )

    def run(self, item: QueueItem) -> None:
        """Execute one item and record it; the end marker goes out after task_done."""
        client_id = item.client_id

        def on_event(event: ev.Event) -> None:
            if isinstance(event, ev.Executing):
                self.current_node = event.node
            self.hub.publish(event, client_id)

        try:
            result = self.engine.run(
                item.prompt,
                prompt_id=item.prompt_id,
                partial_targets=item.outputs or None,
                extra_data=item.extra_data,
                on_event=on_event,
                interrupt=self.interrupt_flag,
            )
            entry = history_entry(item, result.outputs, result.status, result.messages)
        except ValidationFailed as failed:  # files changed since it was queued
            entry = failed_entry(item, str(failed), "nodegraph.ValidationFailed")
            error = entry["status"]["messages"][0][1]
            self.hub.publish(ev.ExecutionError(**error), client_id)
        finally:
            self.current_node = None
        self.queue.task_done(item, entry)
        if client_id is not None:
            self.hub.send("executing", {"node": None, "prompt_id": item.prompt_id}, client_id)
