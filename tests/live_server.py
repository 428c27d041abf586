"""Start a real `python -m nodegraph serve` process for end-to-end tests, wait until it answers,
and stop it afterwards; one place for the port, the start-up wait and the clean-up."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    """A running server: its base URL, the process (tests may kill it) and its log file."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def nodegraph_serve(
    serve_args: Sequence[str],
    log_path: Path,
    *,
    nodes: Sequence[str] = (),
    port: int | None = None,
    cwd: Path = REPO,
) -> Iterator[Served]:
    """`nodegraph [--nodes M]... serve --port P <serve_args>` until the block ends.

    One torch thread: with the CPUs busy (chromium, other processes) torch's OpenMP threads
    can slow a tiny sampling step from milliseconds to seconds.
    """
    port = port or free_port()
    command = [sys.executable, "-m", "nodegraph"]
    for module in nodes:
        command += ["--nodes", module]
    command += ["serve", "--port", str(port), *serve_args]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=environment
        )
    served = Served(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_until_serving(served)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_serving(served: Served) -> None:
    """Return once the server answers /system_stats; fail with its log if it died or hung."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            pytest.fail(
                f"nodegraph serve exited ({served.process.returncode}):\n{served.log.read_text()}"
            )
        try:
            with urllib.request.urlopen(f"{served.url}/system_stats", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    served.process.kill()
    pytest.fail(
        f"nodegraph serve did not answer within {START_TIMEOUT}s:\n{served.log.read_text()}"
    )
