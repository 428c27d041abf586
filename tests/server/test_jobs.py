"""The jobs API: listing (filters, sorting, pagination), one job, and cancelling jobs."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

import pytest

from nodegraph import Result, Socket, node
from nodegraph.engine import Engine
from nodegraph.jobs import QueueItem
from nodegraph.server import job_views as views
from nodegraph.settings import Settings
from tests.engine.toy_nodes import make_registry
from tests.server.helpers import submit, toy_prompt, wait_history, wait_running

EMPTY_PAGE = {"offset": 0, "limit": None, "total": 0, "has_more": False}


@node("JobsToyImage", category="toy", output_node=True)
def jobs_toy_image(*, value: Annotated[Any, Socket("*")]) -> Result:
    """Reports a saved image in its ui (no file needed: the jobs API only reads history)."""
    image = {"filename": f"pic_{value}.png", "subfolder": "", "type": "output"}
    return Result(ui={"images": [image]})


def fail_prompt(message: str = "boom") -> dict[str, Any]:
    return {
        "1": {"class_type": "ToyInt", "inputs": {"value": 1}},
        "2": {"class_type": "ToyFail", "inputs": {"value": ["1", 0], "message": message}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }


async def jobs(client: Any, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/api/jobs{query}")
    body = await response.json()
    assert response.status == 200, body
    return dict(body)


async def run(client: Any, prompt: dict[str, Any], **body: Any) -> str:
    prompt_id = await submit(client, prompt, client_id="x", **body)
    await wait_history(client, prompt_id)
    return prompt_id


async def wait_status(client: Any, job_id: str, status: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        job = await (await client.get(f"/api/jobs/{job_id}")).json()
        if job.get("status") == status:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} never became {status}: {job}")
        await asyncio.sleep(0.01)


async def pending_ids(client: Any) -> list[str]:
    queue = await (await client.get("/queue")).json()
    return [item[1] for item in queue["queue_pending"]]


# -- routes --------------------------------------------------------------------------------------


async def test_jobs_routes_exist_only_under_api(client: Any) -> None:
    assert await jobs(client) == {"jobs": [], "pagination": EMPTY_PAGE}
    assert (await client.get("/jobs")).status == 404
    assert (await client.get("/jobs/abc")).status == 404
    assert (await client.post("/jobs/cancel", json={"job_ids": []})).status == 404


# -- listing -------------------------------------------------------------------------------------


async def test_completed_jobs_listed_newest_first(client: Any) -> None:
    ids = [await run(client, toy_prompt(value)) for value in (1, 2, 3)]
    body = await jobs(client)
    assert [job["id"] for job in body["jobs"]] == ids[::-1]
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 3, "has_more": False}
    for job in body["jobs"]:
        assert job["status"] == "completed" and job["outputs_count"] == 0
        assert "execution_error" not in job and "preview_output" not in job
        assert "workflow_id" not in job and "outputs" not in job
        assert job["create_time"] <= job["execution_start_time"] <= job["execution_end_time"]
    created = [job["create_time"] for job in body["jobs"]]
    assert created == sorted(created, reverse=True)
    asc = await jobs(client, "?sort_order=asc&sort_by=created_at")
    assert [job["id"] for job in asc["jobs"]] == ids


async def test_outputs_count_preview_and_job_detail(make_client: Any, settings: Settings) -> None:
    registry = make_registry()
    registry.add(jobs_toy_image)
    client = await make_client(engine=Engine(settings, registry=registry))
    prompt = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 7}},
        "2": {"class_type": "JobsToyImage", "inputs": {"value": ["1", 0]}},
    }
    response = await client.post("/prompt", json={"prompt": prompt, "client_id": "x"})
    number = (await response.json())["number"]
    job_id = (await response.json())["prompt_id"]
    entry = await wait_history(client, job_id)
    [job] = (await jobs(client))["jobs"]
    assert job["outputs_count"] == 1 and job["priority"] == number
    assert job["preview_output"] == {
        "filename": "pic_7.png",
        "subfolder": "",
        "type": "output",
        "nodeId": "2",
        "mediaType": "images",
    }
    detail = await (await client.get(f"/api/jobs/{job_id}")).json()
    assert {key: detail[key] for key in job} == job
    image = {"filename": "pic_7.png", "subfolder": "", "type": "output"}
    assert detail["outputs"] == entry["outputs"] == {"2": {"images": [image]}}
    assert detail["execution_status"] == entry["status"]
    assert detail["workflow"]["prompt"] == entry["prompt"][2]
    assert detail["workflow"]["extra_data"]["client_id"] == "x"
    assert detail["workflow"]["extra_data"]["create_time"] == job["create_time"]


async def test_workflow_id_filter(client: Any) -> None:
    def pnginfo(workflow_id: str) -> dict[str, Any]:
        return {"extra_pnginfo": {"workflow": {"id": workflow_id, "nodes": []}}}

    a = await run(client, toy_prompt(1), extra_data=pnginfo("wf-a"))
    b = await run(client, toy_prompt(2), extra_data=pnginfo("wf-b"))
    plain = await run(client, toy_prompt(3))
    only_a = await jobs(client, "?workflow_id=wf-a")
    assert [job["id"] for job in only_a["jobs"]] == [a]
    assert only_a["jobs"][0]["workflow_id"] == "wf-a"
    assert only_a["pagination"]["total"] == 1
    assert (await jobs(client, "?workflow_id=nope"))["jobs"] == []
    everything = await jobs(client, "?workflow_id=")
    assert {job["id"] for job in everything["jobs"]} == {a, b, plain}


async def test_failed_job_and_status_filter(client: Any) -> None:
    ok = await run(client, toy_prompt(1))
    bad = await run(client, fail_prompt("it broke"))
    [failed] = (await jobs(client, "?status=failed"))["jobs"]
    assert failed["id"] == bad and failed["status"] == "failed"
    error = failed["execution_error"]
    assert error["node_id"] == "2" and error["node_type"] == "ToyFail"
    assert "it broke" in error["exception_message"] and error["prompt_id"] == bad
    assert failed["execution_end_time"] == error["timestamp"]
    [completed] = (await jobs(client, "?status=completed"))["jobs"]
    assert completed["id"] == ok
    both = await jobs(client, "?status=completed,%20FAILED")
    assert {job["id"] for job in both["jobs"]} == {ok, bad}
    assert (await jobs(client, "?status=pending,in_progress,cancelled"))["jobs"] == []
    detail = await (await client.get(f"/api/jobs/{bad}")).json()
    assert detail["status"] == "failed" and detail["execution_status"]["status_str"] == "error"
    assert detail["outputs"] == {}


async def test_pagination(client: Any) -> None:
    ids = [await run(client, toy_prompt(value)) for value in range(5)]
    newest_first = ids[::-1]
    first = await jobs(client, "?limit=2")
    assert [job["id"] for job in first["jobs"]] == newest_first[:2]
    assert first["pagination"] == {"offset": 0, "limit": 2, "total": 5, "has_more": True}
    middle = await jobs(client, "?limit=2&offset=2")
    assert [job["id"] for job in middle["jobs"]] == newest_first[2:4]
    assert middle["pagination"]["has_more"] is True
    last = await jobs(client, "?limit=2&offset=4")
    assert [job["id"] for job in last["jobs"]] == newest_first[4:]
    assert last["pagination"] == {"offset": 4, "limit": 2, "total": 5, "has_more": False}
    beyond = await jobs(client, "?offset=9")
    assert beyond["jobs"] == [] and beyond["pagination"]["has_more"] is False
    assert beyond["pagination"]["total"] == 5
    filtered = await jobs(client, "?status=failed&limit=1")
    assert filtered["pagination"] == {"offset": 0, "limit": 1, "total": 0, "has_more": False}


async def test_sort_by_execution_duration(client: Any) -> None:
    slow = await run(client, toy_prompt(1, steps=10, delay=0.03))
    fast = await run(client, toy_prompt(2, steps=1, delay=0.0))
    by_created = await jobs(client)
    assert [job["id"] for job in by_created["jobs"]] == [fast, slow]
    longest = await jobs(client, "?sort_by=execution_duration")
    assert [job["id"] for job in longest["jobs"]] == [slow, fast]
    shortest = await jobs(client, "?sort_by=execution_duration&sort_order=asc")
    assert [job["id"] for job in shortest["jobs"]] == [fast, slow]
    durations = [views.execution_duration(job) for job in longest["jobs"]]
    assert durations[0] is not None and durations[0] >= 250


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("status=bogus", "status"),
        ("status=pending,nope", "status"),
        ("sort_by=name", "sort_by"),
        ("sort_order=up", "sort_order"),
        ("limit=0", "limit"),
        ("limit=-3", "limit"),
        ("limit=ten", "limit"),
        ("limit=", "limit"),
        ("offset=-1", "offset"),
        ("offset=1.5", "offset"),
    ],
)
async def test_bad_query_parameters_are_400(client: Any, query: str, parameter: str) -> None:
    response = await client.get(f"/api/jobs?{query}")
    body = await response.json()
    assert response.status == 400
    assert list(body) == ["error"] and parameter in body["error"]


# -- pending and running jobs --------------------------------------------------------------------


async def test_pending_job_listed_then_cancelled(make_client: Any) -> None:
    client = await make_client(start_worker=False)
    response = await client.post("/prompt", json={"prompt": toy_prompt(1), "client_id": "x"})
    first, number = (await response.json())["prompt_id"], (await response.json())["number"]
    second = await submit(client, toy_prompt(2))
    body = await jobs(client, "?status=pending")
    assert [job["id"] for job in body["jobs"]] == [second, first]
    job = body["jobs"][1]
    assert job["status"] == "pending" and job["priority"] == number
    assert job["outputs_count"] == 0 and isinstance(job["create_time"], int)
    assert "execution_start_time" not in job and "workflow_id" not in job
    assert (await jobs(client, "?status=completed"))["jobs"] == []

    detail = await (await client.get(f"/api/jobs/{first}")).json()
    assert detail["status"] == "pending" and detail["outputs"] == {}
    assert detail["workflow"]["prompt"] == toy_prompt(1)
    assert detail["workflow"]["extra_data"]["client_id"] == "x"
    assert "execution_status" not in detail

    cancel = await client.post(f"/api/jobs/{first}/cancel")
    assert cancel.status == 200 and await cancel.json() == {"cancelled": True}
    assert await pending_ids(client) == [second]
    assert await (await client.post(f"/api/jobs/{first}/cancel")).json() == {"cancelled": False}
    gone = await client.get(f"/api/jobs/{first}")
    assert gone.status == 404 and await gone.json() == {"error": "Job not found"}
    assert [job["id"] for job in (await jobs(client))["jobs"]] == [second]


async def test_cancel_running_job_interrupts_it(client: Any) -> None:
    job_id = await submit(client, toy_prompt(1, steps=200, delay=0.02), client_id="x")
    await wait_running(client)
    running = await wait_status(client, job_id, "in_progress")
    assert running["outputs"] == {} and running["workflow"]["prompt"]["2"]["inputs"]["steps"] == 200
    listed = await jobs(client, "?status=in_progress")
    assert [job["id"] for job in listed["jobs"]] == [job_id]
    started = time.monotonic()
    cancel = await client.post(f"/api/jobs/{job_id}/cancel")
    assert await cancel.json() == {"cancelled": True}
    entry = await wait_history(client, job_id)
    assert time.monotonic() - started < 3.0  # 200 steps x 20 ms would take 4 s
    assert entry["status"]["status_str"] == "error"
    assert "execution_interrupted" in [kind for kind, _ in entry["status"]["messages"]]
    [job] = (await jobs(client, "?status=cancelled"))["jobs"]
    assert job["id"] == job_id and "execution_error" not in job
    assert (await (await client.get(f"/api/jobs/{job_id}")).json())["status"] == "cancelled"
    assert await (await client.post(f"/api/jobs/{job_id}/cancel")).json() == {"cancelled": False}


async def test_unknown_and_finished_ids(client: Any) -> None:
    missing = await client.get("/api/jobs/no-such-job")
    assert missing.status == 404 and await missing.json() == {"error": "Job not found"}
    unknown = await client.post("/api/jobs/no-such-job/cancel")
    assert unknown.status == 200 and await unknown.json() == {"cancelled": False}
    done = await run(client, toy_prompt(4))
    assert await (await client.post(f"/api/jobs/{done}/cancel")).json() == {"cancelled": False}
    assert (await (await client.get(f"/api/jobs/{done}")).json())["status"] == "completed"


# -- batch cancel --------------------------------------------------------------------------------


async def test_batch_cancel(make_client: Any) -> None:
    client = await make_client(start_worker=False)
    a, b, c = [await submit(client, toy_prompt(value)) for value in (1, 2, 3)]
    response = await client.post("/api/jobs/cancel", json={"job_ids": [a, "unknown", c]})
    assert response.status == 200 and await response.json() == {"cancelled": True}
    assert await pending_ids(client) == [b]
    again = await client.post("/api/jobs/cancel", json={"job_ids": [a, "unknown"]})
    assert await again.json() == {"cancelled": False}
    empty = await client.post("/api/jobs/cancel", json={"job_ids": []})
    assert await empty.json() == {"cancelled": False}
    assert await pending_ids(client) == [b]


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"{not json", "valid JSON"),
        (b"", "valid JSON"),
        (b"\xff\xfe\x00", "valid JSON"),
        (b"[1, 2]", "job_ids must be a list"),
        (b'"job"', "job_ids must be a list"),
        (b"{}", "job_ids must be a list"),
        (b'{"job_ids": "abc"}', "job_ids must be a list"),
        (b'{"job_ids": {"a": 1}}', "job_ids must be a list"),
    ],
)
async def test_batch_cancel_malformed_body_is_400(
    make_client: Any, body: bytes, complaint: str
) -> None:
    client = await make_client(start_worker=False)
    job_id = await submit(client, toy_prompt(1))
    response = await client.post(
        "/api/jobs/cancel", data=body, headers={"Content-Type": "application/json"}
    )
    data = await response.json()
    assert response.status == 400 and complaint in data["error"]
    assert await pending_ids(client) == [job_id]


async def test_batch_cancel_invalid_ids_cancel_nothing(make_client: Any) -> None:
    client = await make_client(start_worker=False)
    job_id = await submit(client, toy_prompt(1))
    bad = [1, None, "", ["x"], "a" * 500]
    response = await client.post("/api/jobs/cancel", json={"job_ids": [job_id, *bad]})
    data = await response.json()
    assert response.status == 400
    assert "job_ids" in data["error"] and data["invalid_ids"] == bad
    assert await pending_ids(client) == [job_id]


# -- pure views ----------------------------------------------------------------------------------


def test_parse_query_defaults_and_normalising() -> None:
    assert views.parse_query({}) == views.JobQuery()
    query = views.parse_query(
        {"status": " Pending , completed,", "sort_by": "EXECUTION_DURATION", "limit": " 3 "}
    )
    assert query.statuses == {"pending", "completed"} and query.sort_by == "execution_duration"
    assert query.limit == 3 and query.offset == 0 and query.wants_finished
    assert not views.parse_query({"status": "pending,in_progress"}).wants_finished
    with pytest.raises(views.QueryError, match="Valid values: pending, in_progress"):
        views.parse_query({"status": "done"})


def test_sort_puts_jobs_without_a_duration_last() -> None:
    def job(name: str, created: int, start: int | None = None, end: int | None = None) -> Any:
        timed = {"execution_start_time": start, "execution_end_time": end} if start else {}
        return {"id": name, "status": "completed", "create_time": created, **timed}

    jobs_ = [job("pending", 5), job("slow", 1, 10, 100), job("fast", 2, 10, 20), job("x", 3)]
    desc = views.sort_jobs(jobs_, "execution_duration", "desc")
    assert [j["id"] for j in desc] == ["slow", "fast", "pending", "x"]
    asc = views.sort_jobs(jobs_, "execution_duration", "asc")
    assert [j["id"] for j in asc] == ["fast", "slow", "x", "pending"]
    junk = [{"id": "a", "create_time": "yesterday"}, {"id": "b", "create_time": 2}]
    assert [j["id"] for j in views.sort_jobs(junk, "created_at", "desc")] == ["b", "a"]


def test_job_from_item_and_collect_jobs() -> None:
    item = QueueItem(4.0, "p1", {}, {"extra_pnginfo": {"workflow": {"id": "wf"}}}, created_ms=9)
    assert views.job_from_item(item, "pending") == {
        "id": "p1",
        "status": "pending",
        "priority": 4.0,
        "create_time": 9,
        "outputs_count": 0,
        "workflow_id": "wf",
    }
    other = QueueItem(5.0, "p2", {}, {"create_time": 11, "extra_pnginfo": "junk"})
    assert views.job_from_item(other, "pending")["create_time"] == 11
    assert "workflow_id" not in views.job_from_item(other, "pending")
    finished = {"id": "p1", "status": "completed", "create_time": 9}
    collected = views.collect_jobs([item], [other], [finished])
    assert sorted((j["id"], j["status"]) for j in collected) == [
        ("p1", "completed"),
        ("p2", "pending"),
    ]


def test_detail_from_a_malformed_entry_does_not_fail() -> None:
    entry = {"prompt": [1], "outputs": None, "status": {"status_str": "success", "messages": []}}
    detail = views.detail_from_entry("p9", entry)
    assert detail["id"] == "p9" and detail["status"] == "completed"
    assert detail["outputs"] == {} and "create_time" not in detail
    assert detail["workflow"] == {"prompt": {}, "extra_data": {}}
