"""Queue and history survive a restart; a prompt that was running is recorded as failed."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from nodegraph.jobs import RESTART_MESSAGE, JobQueue, QueueItem
from nodegraph.server.app import DATABASE
from nodegraph.storage import MIGRATIONS, Storage
from tests.server.helpers import submit, toy_prompt, wait_history


async def test_restart_keeps_pending_and_history(make_client: Any, server_settings: Any) -> None:
    first = await make_client()
    done = await submit(first, toy_prompt(1))
    await wait_history(first, done)
    await first.close()  # stops the worker; nothing pending yet

    stopped = await make_client(start_worker=False)
    pending = [await submit(stopped, toy_prompt(i)) for i in (2, 3)]
    numbers = [item[0] for item in (await (await stopped.get("/queue")).json())["queue_pending"]]
    await stopped.close()

    again = await make_client()
    for pid in pending:
        entry = await wait_history(again, pid)
        assert entry["status"]["status_str"] == "success"
    history = await (await again.get("/history")).json()
    assert list(history) == [done, *pending]
    fresh = await (await again.post("/prompt", json={"prompt": toy_prompt(4)})).json()
    assert fresh["number"] > max(numbers)  # numbering continues after a restart


def test_prompt_running_at_a_crash_becomes_a_failed_entry(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "q.sqlite3")
    queue = JobQueue(storage)
    queue.put(QueueItem(0, "was-running", toy_prompt(), {"client_id": "c"}, ["3"]))
    queue.put(QueueItem(1, "was-pending", toy_prompt(), {}, ["3"]))
    assert queue.get(timeout=1) is not None  # now running; then the process "dies"
    storage.close()

    reopened = JobQueue(Storage(tmp_path / "q.sqlite3"))
    assert reopened.recovered == ["was-running"]
    running, pending = reopened.snapshot()
    assert running == [] and [i.prompt_id for i in pending] == ["was-pending"]
    entry = reopened.history_entry("was-running")
    assert entry is not None and entry["status"]["status_str"] == "error"
    error = dict(entry["status"]["messages"])["execution_error"]
    assert error["exception_message"] == RESTART_MESSAGE
    assert reopened.summaries()[0]["status"] == "failed"


def test_history_is_capped_oldest_first(tmp_path: Path) -> None:
    queue = JobQueue(Storage(tmp_path / "q.sqlite3"), history_limit=3)
    for i in range(5):
        item = queue.put(QueueItem(i, f"p{i}", toy_prompt(), {}, ["3"]))
        taken = queue.get(timeout=1)
        assert taken is item
        queue.task_done(item, {"status": {"status_str": "success", "messages": []}})
    assert list(queue.history()) == ["p2", "p3", "p4"]


def test_migrations_are_numbered_and_refuse_a_newer_database(tmp_path: Path) -> None:
    path = tmp_path / DATABASE
    Storage(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"queue", "history", "counters"} <= tables
    db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    db.commit()
    db.close()
    try:
        Storage(path)
    except RuntimeError as ex:
        assert "newer" in str(ex)
    else:
        raise AssertionError("a newer schema must be refused")
