"""kill -9 a live `nodegraph serve` mid-prompt, start it again on the same data dir: pending
prompts still run, the interrupted one is in the history as failed, old history is intact."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nodegraph.jobs import RESTART_MESSAGE
from tests.server.helpers import toy_prompt
from tests.server.test_comfy_client_e2e import free_port

REPO = Path(__file__).resolve().parents[2]
TOY_NODES = str(REPO / "tests" / "engine" / "toy_nodes.py")


class Live:
    """A `nodegraph serve` process with the toy nodes, and a tiny JSON client for it."""

    def __init__(self, data: Path, port: int) -> None:
        command = [sys.executable, "-m", "nodegraph", "--nodes", TOY_NODES, "serve"]
        command += ["--port", str(port), "--data-dir", str(data)]
        self.base = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=data.parent,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert self.process.stdout is not None
        deadline = time.monotonic() + 60
        while "serving on" not in self.process.stdout.readline():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise AssertionError("nodegraph serve did not start")

    def call(self, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:
            text = response.read()
        return json.loads(text) if text else None

    def wait(self, check: Any, timeout: float = 30.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.wait(30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "data"


def test_kill_9_and_restart(data_dir: Path) -> None:
    port = free_port()
    first = Live(data_dir, port)
    try:
        done = first.call("/prompt", {"prompt": toy_prompt(1)})["prompt_id"]
        first.wait(lambda: first.call(f"/history/{done}"))
        slow = first.call("/prompt", {"prompt": toy_prompt(2, steps=1000, delay=0.02)})
        waiting = [first.call("/prompt", {"prompt": toy_prompt(v)})["prompt_id"] for v in (3, 4)]
        first.wait(lambda: first.call("/queue")["queue_running"])
    finally:
        first.stop(signal.SIGKILL)
    assert first.process.returncode == -signal.SIGKILL

    second = Live(data_dir, port)
    try:
        for pid in waiting:
            entry = second.wait(lambda pid=pid: second.call(f"/history/{pid}"))[pid]
            assert entry["status"]["status_str"] == "success"
        crashed = second.call(f"/history/{slow['prompt_id']}")[slow["prompt_id"]]
        assert crashed["status"]["status_str"] == "error"
        error = dict(crashed["status"]["messages"])["execution_error"]
        assert error["exception_message"] == RESTART_MESSAGE
        history = second.call("/history")
        assert next(iter(history)) == done and history[done]["status"]["status_str"] == "success"
        assert second.call("/prompt") == {"exec_info": {"queue_remaining": 0}}
    finally:
        second.stop()
