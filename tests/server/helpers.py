"""Prompts over the toy nodes and waiting helpers shared by the server tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType
from aiohttp.test_utils import TestClient


def toy_prompt(value: int = 3, steps: int = 2, delay: float = 0.0) -> dict[str, Any]:
    """ToyInt -> ToySteps (progress per step) -> ToySink (an output with ui)."""
    return {
        "1": {"class_type": "ToyInt", "inputs": {"value": value}},
        "2": {
            "class_type": "ToySteps",
            "inputs": {"value": ["1", 0], "steps": steps, "delay": delay},
        },
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }


async def submit(client: TestClient[Any, Any], prompt: dict[str, Any], **body: Any) -> str:
    response = await client.post("/prompt", json={"prompt": prompt, **body})
    data = await response.json()
    assert response.status == 200, data
    return str(data["prompt_id"])


async def wait_history(
    client: TestClient[Any, Any], prompt_id: str, timeout: float = 10.0
) -> dict[str, Any]:
    """The history entry of a prompt, once it is there."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        response = await client.get(f"/history/{prompt_id}")
        data = await response.json()
        if data:
            return dict(data[prompt_id])
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no history for {prompt_id} after {timeout}s")
        await asyncio.sleep(0.02)


async def wait_running(client: TestClient[Any, Any], timeout: float = 10.0) -> list[Any]:
    """The running queue item, once the worker has picked one."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        running = (await (await client.get("/queue")).json())["queue_running"]
        if running:
            return list(running[0])
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("nothing started running")
        await asyncio.sleep(0.01)


async def read_until(socket: Any, done: Any, timeout: float = 10.0) -> list[dict[str, Any] | bytes]:
    """Frames (text parsed as JSON, binary as bytes) until `done(frame)` is true."""
    frames: list[dict[str, Any] | bytes] = []
    while True:
        message = await asyncio.wait_for(socket.receive(), timeout)
        if message.type == WSMsgType.TEXT:
            frame: dict[str, Any] | bytes = json.loads(message.data)
        elif message.type == WSMsgType.BINARY:
            frame = bytes(message.data)
        else:
            raise AssertionError(f"socket ended: {message.type}")
        frames.append(frame)
        if done(frame):
            return frames


def end_of(prompt_id: str) -> Any:
    """The end-of-prompt marker: executing with node null for this prompt."""
    return lambda f: (
        isinstance(f, dict)
        and f["type"] == "executing"
        and f["data"]["node"] is None
        and f["data"].get("prompt_id") == prompt_id
    )
