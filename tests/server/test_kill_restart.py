"""kill -9 a live `nodegraph serve` mid-prompt, start it again on the same data dir: pending
prompts still run, the interrupted one is in the history as failed, old history is intact."""

from __future__ import annotations

import json
import signal
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nodegraph.jobs import RESTART_MESSAGE
from tests.live_server import REPO, free_port, nodegraph_serve
from tests.server.helpers import toy_prompt

TOY_NODES = str(REPO / "tests" / "engine" / "toy_nodes.py")


def client(base: str) -> Callable[..., Any]:
    """call(path, body=None): GET, or POST of a JSON body; the JSON reply (None when empty)."""

    def call(path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(base + path, data=data)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    return call


def wait(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_kill_9_and_restart(tmp_path: Path) -> None:
    port = free_port()
    args = ["--data-dir", str(tmp_path / "data")]
    serve = {"nodes": [TOY_NODES], "port": port, "cwd": tmp_path}
    with nodegraph_serve(args, tmp_path / "first.log", **serve) as first:
        call = client(first.url)
        done = call("/prompt", {"prompt": toy_prompt(1)})["prompt_id"]
        wait(lambda: call(f"/history/{done}"))
        slow = call("/prompt", {"prompt": toy_prompt(2, steps=1000, delay=0.02)})
        waiting = [call("/prompt", {"prompt": toy_prompt(v)})["prompt_id"] for v in (3, 4)]
        wait(lambda: call("/queue")["queue_running"])
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(30)
    assert first.process.returncode == -signal.SIGKILL

    with nodegraph_serve(args, tmp_path / "second.log", **serve) as second:
        call = client(second.url)
        for pid in waiting:
            entry = wait(lambda pid=pid: call(f"/history/{pid}"))[pid]
            assert entry["status"]["status_str"] == "success"
        crashed = call(f"/history/{slow['prompt_id']}")[slow["prompt_id"]]
        assert crashed["status"]["status_str"] == "error"
        error = dict(crashed["status"]["messages"])["execution_error"]
        assert error["exception_message"] == RESTART_MESSAGE
        history = call("/history")
        assert next(iter(history)) == done and history[done]["status"]["status_str"] == "success"
        assert call("/prompt") == {"exec_info": {"queue_remaining": 0}}
