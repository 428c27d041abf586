"""POST/GET /prompt, /queue, /history, /interrupt, /free: shapes, priorities and error bodies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine import toy_nodes
from tests.server.helpers import submit, toy_prompt, wait_history, wait_running


async def test_prompt_runs_and_lands_in_history(client: Any) -> None:
    response = await client.post("/prompt", json={"prompt": toy_prompt(5), "client_id": "c1"})
    body = await response.json()
    assert response.status == 200
    assert set(body) == {"prompt_id", "number", "node_errors"} and body["node_errors"] == {}
    entry = await wait_history(client, body["prompt_id"])
    assert entry["outputs"] == {"3": {"value": [5]}}
    assert entry["status"]["status_str"] == "success" and entry["status"]["completed"] is True
    kinds = [m[0] for m in entry["status"]["messages"]]
    assert kinds == ["execution_start", "execution_cached", "execution_success"]
    number, prompt_id, prompt, extra, outputs = entry["prompt"]
    assert prompt_id == body["prompt_id"] and prompt["3"]["class_type"] == "ToySink"
    assert extra["client_id"] == "c1" and isinstance(extra["create_time"], int)
    assert outputs == ["3"] and number == body["number"]
    assert entry["meta"]["3"]["real_node_id"] == "3"
    assert (await (await client.get("/prompt")).json()) == {"exec_info": {"queue_remaining": 0}}


async def test_api_prefix_and_given_prompt_id(client: Any) -> None:
    response = await client.post(
        "/api/prompt", json={"prompt": toy_prompt(), "prompt_id": "my-id-1"}
    )
    assert (await response.json())["prompt_id"] == "my-id-1"
    await wait_history(client, "my-id-1")
    data = await (await client.get("/api/history/my-id-1")).json()
    assert list(data) == ["my-id-1"]


async def test_validation_error_is_comfyui_400_and_uses_up_a_number(client: Any) -> None:
    bad = toy_prompt()
    bad["1"]["inputs"]["value"] = 5000  # max is 1000
    response = await client.post("/prompt", json={"prompt": bad})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    error = body["node_errors"]["1"]["errors"][0]
    assert error["type"] == "value_bigger_than_max"
    assert body["node_errors"]["1"]["class_type"] == "ToyInt"
    ok = await (await client.post("/prompt", json={"prompt": toy_prompt()})).json()
    assert ok["number"] == 1  # number 0 went to the failed submission


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({}, "no_prompt"),
        ({"prompt": {"1": {"class_type": "Nope", "inputs": {}}}}, "missing_node_type"),
        ({"prompt": {"1": {"class_type": "ToyInt", "inputs": {}}}}, "prompt_no_outputs"),
        ({"prompt": "text"}, "invalid_prompt"),
        ({"prompt": toy_prompt(), "extra_data": []}, "invalid_field"),
        ({"prompt": toy_prompt(), "number": "first"}, "invalid_field"),
        ({"prompt": toy_prompt(), "client_id": 5}, "invalid_field"),
        ({"prompt": toy_prompt(), "partial_execution_targets": "3"}, "invalid_field"),
        ({"prompt": toy_prompt(), "partial_execution_targets": []}, "prompt_no_outputs"),
        ({"prompt": toy_prompt(), "prompt_id": ""}, "invalid_prompt_id"),
    ],
)
async def test_bad_bodies_get_400_with_a_type(client: Any, payload: Any, kind: str) -> None:
    response = await client.post("/prompt", json=payload)
    body = await response.json()
    assert response.status == 400, body
    assert body["error"]["type"] == kind and body["error"]["message"]
    assert "node_errors" in body


@pytest.mark.parametrize("path", ["/prompt", "/queue", "/history", "/free", "/interrupt"])
async def test_malformed_json_is_400_not_500(client: Any, path: str) -> None:
    response = await client.post(path, data=b"{not json", headers={"Content-Type": "text/json"})
    body = await response.json()
    assert response.status == 400
    assert body["error"]["type"] == "invalid_json"
    assert "not valid JSON" in body["error"]["message"]
    wrong = await client.post(path, json=[1, 2])
    assert wrong.status == 400


async def test_queue_order_front_number_and_delete_clear(make_client: Any) -> None:
    client = await make_client(start_worker=False)
    a = await submit(client, toy_prompt(1))
    b = await submit(client, toy_prompt(2), front=True)
    c = await submit(client, toy_prompt(3), number=-10)
    queue = await (await client.get("/queue")).json()
    assert queue["queue_running"] == []
    pending = queue["queue_pending"]
    assert [item[1] for item in pending] == [c, b, a]
    assert [item[0] for item in pending] == [-10, -1, 0]
    assert all(len(item) == 5 for item in pending)
    assert (await (await client.get("/prompt")).json())["exec_info"]["queue_remaining"] == 3
    assert (await client.post("/queue", json={"delete": [b, "unknown"]})).status == 200
    pending = (await (await client.get("/queue")).json())["queue_pending"]
    assert [item[1] for item in pending] == [c, a]
    assert (await client.post("/queue", json={"clear": True})).status == 200
    assert (await (await client.get("/queue")).json())["queue_pending"] == []


async def test_duplicate_queued_prompt_id_is_refused(make_client: Any) -> None:
    client = await make_client(start_worker=False)
    await submit(client, toy_prompt(), prompt_id="same")
    response = await client.post("/prompt", json={"prompt": toy_prompt(), "prompt_id": "same"})
    assert response.status == 400
    assert (await response.json())["error"]["type"] == "invalid_prompt_id"


async def test_history_slicing_delete_and_clear(client: Any) -> None:
    ids = [await submit(client, toy_prompt(i)) for i in range(4)]
    for pid in ids:
        await wait_history(client, pid)
    assert list(await (await client.get("/history")).json()) == ids
    assert list(await (await client.get("/history?max_items=2")).json()) == ids[2:]
    assert list(await (await client.get("/history?max_items=2&offset=1")).json()) == ids[1:3]
    assert await (await client.get("/history?offset=9")).json() == {}
    assert await (await client.get("/history/unknown")).json() == {}
    bad = await client.get("/history?max_items=two")
    assert bad.status == 400 and "max_items" in (await bad.json())["error"]["message"]
    await client.post("/history", json={"delete": [ids[0]]})
    assert list(await (await client.get("/history")).json()) == ids[1:]
    await client.post("/history", json={"clear": True})
    assert await (await client.get("/history")).json() == {}


async def test_same_prompt_twice_is_cached_and_keeps_outputs(client: Any) -> None:
    first = await submit(client, toy_prompt(7))
    await wait_history(client, first)
    toy_nodes.CALLS.clear()
    second = await submit(client, toy_prompt(7))
    entry = await wait_history(client, second)
    assert toy_nodes.CALLS == []
    assert entry["outputs"] == {"3": {"value": [7]}}
    cached = dict(entry["status"]["messages"])["execution_cached"]["nodes"]
    assert sorted(cached) == ["1", "2", "3"]


async def test_failing_node_is_an_error_entry_and_server_goes_on(client: Any) -> None:
    failing = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 1}},
        "2": {"class_type": "ToyFail", "inputs": {"value": ["1", 0], "message": "kaput"}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }
    entry = await wait_history(client, await submit(client, failing))
    assert entry["status"]["status_str"] == "error" and entry["status"]["completed"] is False
    error = dict(entry["status"]["messages"])["execution_error"]
    assert error["node_id"] == "2" and error["node_type"] == "ToyFail"
    assert "kaput" in error["exception_message"]
    ok = await wait_history(client, await submit(client, toy_prompt(2)))
    assert ok["status"]["status_str"] == "success"


async def test_interrupt_by_prompt_id_and_global(client: Any) -> None:
    slow = await submit(client, toy_prompt(1, steps=500, delay=0.01))
    await wait_running(client)
    # an interrupt naming another prompt leaves the running one alone
    assert (await client.post("/interrupt", json={"prompt_id": "other"})).status == 200
    running = (await (await client.get("/queue")).json())["queue_running"]
    assert running and running[0][1] == slow
    assert (await client.post("/interrupt", json={"prompt_id": slow})).status == 200
    entry = await wait_history(client, slow, timeout=5)
    assert "execution_interrupted" in dict(entry["status"]["messages"])
    assert entry["status"]["status_str"] == "error"
    slow2 = await submit(client, toy_prompt(2, steps=500, delay=0.01))
    await wait_running(client)
    assert (await client.post("/interrupt")).status == 200  # empty body: global
    entry = await wait_history(client, slow2, timeout=5)
    assert "execution_interrupted" in dict(entry["status"]["messages"])


async def test_free_drops_cached_outputs_between_prompts(client: Any) -> None:
    await wait_history(client, await submit(client, toy_prompt(4)))
    assert (await client.post("/free", json={"free_memory": True})).status == 200
    bad = await client.post("/free", json={"free_memory": "yes"})
    assert bad.status == 400
    toy_nodes.CALLS.clear()
    await wait_history(client, await submit(client, toy_prompt(4)))
    assert "ToyInt" in toy_nodes.CALLS  # the cache was emptied, so it ran again


async def test_partial_execution_targets(client: Any) -> None:
    prompt = toy_prompt(3)
    prompt["4"] = {"class_type": "ToySink", "inputs": {"value": ["1", 0]}}
    pid = await submit(client, prompt, partial_execution_targets=["4"])
    entry = await wait_history(client, pid)
    assert list(entry["outputs"]) == ["4"] and entry["prompt"][4] == ["4"]
