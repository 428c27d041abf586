"""The /ws protocol: status on connect, event order for uncached and cached runs, routing per
client_id, interrupts, feature flags and opt-in binary previews."""

from __future__ import annotations

import struct
import threading
from typing import Any

from nodegraph import events as ev
from nodegraph.server.keys import HUB
from nodegraph.server.websocket import preview_frame
from tests.server.helpers import end_of, read_until, submit, toy_prompt, wait_running


def kinds(frames: list[Any]) -> list[str]:
    return [f["type"] for f in frames if isinstance(f, dict)]


async def test_status_on_connect(client: Any) -> None:
    socket = await client.ws_connect("/ws?clientId=abc")
    first = await socket.receive_json(timeout=5)
    assert first == {
        "type": "status",
        "data": {"status": {"exec_info": {"queue_remaining": 0}}, "sid": "abc"},
    }
    anonymous = await client.ws_connect("/api/ws")
    data = (await anonymous.receive_json(timeout=5))["data"]
    assert len(data["sid"]) == 32  # uuid4().hex, as ComfyUI
    await socket.close()
    await anonymous.close()


async def test_event_order_uncached_then_cached(client: Any) -> None:
    socket = await client.ws_connect("/ws?clientId=me")
    await socket.receive_json(timeout=5)
    pid = await submit(client, toy_prompt(9, steps=3), client_id="me")
    frames = await read_until(socket, end_of(pid))
    sequence = [
        (f["type"], f["data"].get("node"))
        for f in frames
        if isinstance(f, dict) and f["type"] != "status"
    ]
    assert sequence == [
        ("execution_start", None),
        ("execution_cached", None),
        ("executing", "1"),
        ("executing", "2"),
        ("progress", "2"),
        ("progress", "2"),
        ("progress", "2"),
        ("executing", "3"),
        ("executed", "3"),
        ("execution_success", None),
        ("executing", None),
    ]
    progress = [f["data"] for f in frames if isinstance(f, dict) and f["type"] == "progress"]
    assert progress[-1] == {"value": 3, "max": 3, "prompt_id": pid, "node": "2"}
    executed = next(f for f in frames if isinstance(f, dict) and f["type"] == "executed")
    assert executed["data"]["output"] == {"value": [9]} and executed["data"]["prompt_id"] == pid
    # history is written before queue_remaining reaches 0 and before the end marker
    statuses = [f for f in frames if isinstance(f, dict) and f["type"] == "status"]
    assert statuses[-1]["data"]["status"]["exec_info"]["queue_remaining"] == 0
    assert frames.index(statuses[-1]) < len(frames) - 1

    again = await submit(client, toy_prompt(9, steps=3), client_id="me")
    frames = await read_until(socket, end_of(again))
    assert [k for k in kinds(frames) if k != "status"] == [
        "execution_start",
        "execution_cached",
        "executed",
        "execution_success",
        "executing",
    ]
    cached = next(f for f in frames if isinstance(f, dict) and f["type"] == "execution_cached")
    assert sorted(cached["data"]["nodes"]) == ["1", "2", "3"]
    await socket.close()


async def test_two_clients_each_get_only_their_own_events(client: Any) -> None:
    alice = await client.ws_connect("/ws?clientId=alice")
    bob = await client.ws_connect("/ws?clientId=bob")
    await alice.receive_json(timeout=5)
    await bob.receive_json(timeout=5)
    pa = await submit(client, toy_prompt(1, steps=2), client_id="alice")
    pb = await submit(client, toy_prompt(2, steps=2), client_id="bob")
    frames_a = await read_until(alice, end_of(pa))
    frames_b = await read_until(bob, end_of(pb))
    for frames, mine, other in ((frames_a, pa, pb), (frames_b, pb, pa)):
        ids = {f["data"].get("prompt_id") for f in frames if isinstance(f, dict)}
        assert mine in ids and other not in ids
    await alice.close()
    await bob.close()


async def test_prompt_without_client_id_sends_no_lifecycle_events(client: Any) -> None:
    watcher = await client.ws_connect("/ws?clientId=watcher")
    await watcher.receive_json(timeout=5)
    pid = await submit(client, toy_prompt(4, steps=2))
    frames = await read_until(
        watcher,
        lambda f: (
            f["type"] == "status" and f["data"]["status"]["exec_info"]["queue_remaining"] == 0
        ),
    )
    # progress goes to every socket (ComfyUI), lifecycle events to nobody
    assert "progress" in kinds(frames)
    assert not {"execution_start", "executing", "executed", "execution_success"} & set(
        kinds(frames)
    )
    assert all(f["data"].get("prompt_id") in (None, pid) for f in frames if isinstance(f, dict))
    await watcher.close()


async def test_folded_status_goes_out_after_events_published_before_it(client: Any) -> None:
    """The worker's status changes and events queue up while the loop is busy: the one status
    frame they fold into comes after those events, so queue_remaining 0 is never seen before
    the run's last progress. Then a status from the loop thread itself waits for the backlog."""
    watcher = await client.ws_connect("/ws?clientId=watcher")
    await watcher.receive_json(timeout=5)
    hub = client.server.app[HUB]

    def worker() -> None:
        hub.broadcast_status(1)
        hub.publish(ev.Progress(value=1, max=2, prompt_id="p", node="2"), None)
        hub.publish(ev.Progress(value=2, max=2, prompt_id="p", node="2"), None)
        hub.broadcast_status(0)
        hub.publish(ev.Progress(value=1, max=1, prompt_id="q", node="5"), None)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()  # the loop is blocked here: everything waits in the hub's inbox
    hub.broadcast_status(0)  # from the loop thread, with the worker's calls still queued
    frames = await read_until(watcher, lambda f: f["type"] == "status")
    assert kinds(frames) == ["progress", "progress", "progress", "status"]
    assert [f["data"]["prompt_id"] for f in frames[:3]] == ["p", "p", "q"]
    hub.send("marker", {}, None)
    assert kinds(await read_until(watcher, lambda f: f["type"] == "marker")) == ["marker"]
    await watcher.close()


async def test_interrupt_event_and_end_marker(client: Any) -> None:
    socket = await client.ws_connect("/ws?clientId=me")
    await socket.receive_json(timeout=5)
    pid = await submit(client, toy_prompt(1, steps=500, delay=0.01), client_id="me")
    await read_until(socket, lambda f: f["type"] == "progress")
    await client.post("/interrupt")
    frames = await read_until(socket, end_of(pid), timeout=5)
    interrupted = next(f for f in frames if f["type"] == "execution_interrupted")
    assert interrupted["data"]["node_id"] == "2" and interrupted["data"]["node_type"] == "ToySteps"
    assert interrupted["data"]["executed"] == ["1"]
    await socket.close()


async def test_reconnect_mid_run_gets_the_running_node(client: Any) -> None:
    pid = await submit(client, toy_prompt(1, steps=300, delay=0.01), client_id="late")
    await wait_running(client)
    socket = await client.ws_connect("/ws?clientId=late")
    frames = await read_until(socket, lambda f: f["type"] == "executing")
    assert frames[0]["type"] == "status" and frames[-1]["data"]["node"] in ("1", "2")
    await client.post("/interrupt", json={"prompt_id": pid})
    await read_until(socket, end_of(pid), timeout=5)
    await socket.close()


async def test_feature_flags_handshake(client: Any) -> None:
    socket = await client.ws_connect("/ws?clientId=f")
    await socket.receive_json(timeout=5)
    await socket.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    reply = await socket.receive_json(timeout=5)
    assert reply["type"] == "feature_flags"
    assert reply["data"]["supports_preview_metadata"] is True
    assert reply["data"]["max_upload_size"] > 0
    await socket.close()


async def test_binary_previews_only_for_clients_that_opted_in(client: Any) -> None:
    plain = await client.ws_connect("/ws?clientId=plain")
    legacy = await client.ws_connect("/ws?clientId=legacy&previews=1")
    modern = await client.ws_connect("/ws?clientId=modern")
    for socket in (plain, legacy, modern):
        await socket.receive_json(timeout=5)
    await modern.send_json({"type": "feature_flags", "data": {"supports_preview_metadata": True}})
    await modern.receive_json(timeout=5)
    hub = client.server.app[HUB]
    image = b"\xff\xd8fakejpeg"
    hub.publish(ev.Preview("5", "p1", "JPEG", image), None)  # no client_id: to everyone willing
    hub.send("marker", {}, None)
    got_legacy = await read_until(legacy, lambda f: isinstance(f, dict) and f["type"] == "marker")
    got_modern = await read_until(modern, lambda f: isinstance(f, dict) and f["type"] == "marker")
    got_plain = await read_until(plain, lambda f: isinstance(f, dict) and f["type"] == "marker")
    assert got_legacy[0] == struct.pack(">II", 1, 1) + image
    frame = got_modern[0]
    assert isinstance(frame, bytes) and struct.unpack(">I", frame[:4])[0] == 4
    assert frame == preview_frame(ev.Preview("5", "p1", "JPEG", image), True)
    assert all(isinstance(f, dict) for f in got_plain)
    for socket in (plain, legacy, modern):
        await socket.close()
