"""Load check of `nodegraph serve`: many concurrent clients submitting prompts.

Run from the repository root:

    python bench/server.py [--prompts 1000] [--clients 20] [--json FILE]

Starts a real `nodegraph serve` process (fresh data dir, port picked free), then `--clients`
concurrent clients, each with its own websocket (clientId) and HTTP session, submit
`--prompts` in all: workflows/hello_text.json with a different greeting each time, so every
prompt really executes (no cache hits). Measures each `POST /prompt` round trip, waits for the
queue to drain, then checks that every accepted prompt has exactly one history entry, succeeded,
and sent exactly one `execution_start` to its client. Reports submissions/s over the submission
phase, p50/p99 latency, and the server's resident memory before and after.
Targets (issue): >= 500 submissions/s, p99 <= 50 ms. Exit status 1 when a prompt was lost,
duplicated or failed (missed speed targets are reported, not failed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATE, TARGET_P99_MS = 500.0, 50.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start_server(work: Path, port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "nodegraph", "serve", "--port", str(port)]
    command += ["--data-dir", str(work / "data"), "--output-dir", str(work / "output")]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=work, env=env
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    while True:
        line = process.stdout.readline()
        if "serving on" in line:
            return process
        if (not line and process.poll() is not None) or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"nodegraph serve did not start: {line!r}")


def workflow(greeting: str) -> dict[str, Any]:
    prompt: dict[str, Any] = json.loads((ROOT / "workflows" / "hello_text.json").read_text())
    prompt["1"]["inputs"]["value"] = greeting
    return prompt


async def client_task(
    base: str, index: int, count: int, latencies: list[float], accepted: list[str]
) -> Counter[str]:
    """One client: its websocket counts execution_start per prompt; it submits `count`."""
    starts: Counter[str] = Counter()
    client_id = f"bench-{index}"
    async with aiohttp.ClientSession() as session:
        socket_ = await session.ws_connect(f"{base}/ws?clientId={client_id}")
        mine: set[str] = set()
        done: set[str] = set()

        async def listen() -> None:
            async for message in socket_:
                if message.type != aiohttp.WSMsgType.TEXT:
                    continue
                event = json.loads(message.data)
                data = event.get("data", {})
                if event["type"] == "execution_start":
                    starts[data["prompt_id"]] += 1
                if event["type"] == "executing" and data.get("node") is None:
                    done.add(data["prompt_id"])
                    if len(mine) == count and mine <= done:
                        return

        listener = asyncio.create_task(listen())
        for n in range(count):
            body = {"prompt": workflow(f"hello {index}-{n}"), "client_id": client_id}
            began = time.perf_counter()
            async with session.post(f"{base}/prompt", json=body) as response:
                data = await response.json()
            latencies.append(time.perf_counter() - began)
            if response.status != 200:
                raise RuntimeError(f"submission refused: {response.status} {data}")
            mine.add(data["prompt_id"])
            accepted.append(data["prompt_id"])
        await asyncio.wait_for(listener, timeout=600)
        await socket_.close()
    return starts


async def run(prompts: int, clients: int, base: str) -> dict[str, Any]:
    latencies: list[float] = []
    accepted: list[str] = []
    per_client = [prompts // clients + (i < prompts % clients) for i in range(clients)]
    began = time.perf_counter()
    tasks = [
        asyncio.create_task(client_task(base, i, n, latencies, accepted))
        for i, n in enumerate(per_client)
    ]
    while len(latencies) < prompts and not any(t.done() and t.exception() for t in tasks):
        await asyncio.sleep(0.005)
    submitted = time.perf_counter() - began
    starts_per_client = await asyncio.gather(*tasks)
    drained = time.perf_counter() - began
    async with aiohttp.ClientSession() as session, session.get(f"{base}/history") as response:
        history = await response.json()
    starts: Counter[str] = Counter()
    for counter in starts_per_client:
        starts.update(counter)
    ordered = sorted(latencies)
    return {
        "prompts": prompts,
        "clients": clients,
        "accepted": len(accepted),
        "unique_accepted": len(set(accepted)),
        "history_entries": sum(1 for pid in set(accepted) if pid in history),
        "succeeded": sum(
            1
            for pid in set(accepted)
            if history.get(pid, {}).get("status", {}).get("status_str") == "success"
        ),
        "started_once": sum(1 for pid in set(accepted) if starts[pid] == 1),
        "submit_s": submitted,
        "drain_s": drained,
        "rate": prompts / submitted,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "latencies_ms": [round(x * 1000, 2) for x in latencies],
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        port = free_port()
        server = start_server(Path(tmp), port)
        try:
            before = rss_mb(server.pid)
            result = asyncio.run(run(args.prompts, args.clients, f"http://127.0.0.1:{port}"))
            result["rss_before_mb"], result["rss_after_mb"] = before, rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(30)
    print(
        f"{result['prompts']} prompts from {result['clients']} clients: "
        f"{result['rate']:.0f} submissions/s (target >= {TARGET_RATE:.0f}), "
        f"POST /prompt p50 {result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms "
        f"(target <= {TARGET_P99_MS:.0f}); all executed after {result['drain_s']:.1f} s; "
        f"server RSS {result['rss_before_mb']:.0f} -> {result['rss_after_mb']:.0f} MB"
    )
    checks = {
        "accepted": result["accepted"] == result["unique_accepted"] == args.prompts,
        "in history once": result["history_entries"] == args.prompts,
        "succeeded": result["succeeded"] == args.prompts,
        "started exactly once": result["started_once"] == args.prompts,
    }
    for name, ok in checks.items():
        print(f"  {name}: {'ok' if ok else 'FAILED'}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
