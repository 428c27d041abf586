"""Pure views for the jobs API: query parsing, job dicts from queue items, filter/sort/paginate.

Kept apart from the aiohttp handlers (`job_routes`) so each rule can be unit-tested without a
server. Job dicts follow ComfyUI's `comfy_execution/jobs.py`: keys whose value is None are left
out; finished jobs come from `nodegraph.jobs.summarize`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from nodegraph.jobs import QueueItem, summarize
from nodegraph.server.prompt_routes import MAX_PROMPT_ID

PENDING, IN_PROGRESS = "pending", "in_progress"
FINISHED = ("completed", "failed", "cancelled")
STATUSES = (PENDING, IN_PROGRESS, *FINISHED)
SORT_BY = ("created_at", "execution_duration")
SORT_ORDER = ("asc", "desc")


class QueryError(ValueError):
    """A bad /api/jobs query parameter; the message names the parameter and what it accepts."""


@dataclass(frozen=True)
class JobQuery:
    """What GET /api/jobs was asked for (the defaults are ComfyUI's)."""

    statuses: frozenset[str] = frozenset(STATUSES)
    workflow_id: str | None = None
    sort_by: str = "created_at"
    sort_order: str = "desc"
    limit: int | None = None
    offset: int = 0

    @property
    def wants_finished(self) -> bool:
        """Whether the history has to be read at all."""
        return not self.statuses.isdisjoint(FINISHED)


def parse_query(query: Mapping[str, str]) -> JobQuery:
    """The query parameters checked; QueryError says which one is wrong and what is allowed.

    As ComfyUI: values are case-insensitive, an empty `status` or `workflow_id` means no filter.
    Unlike ComfyUI, a negative offset is refused rather than silently read as 0."""
    statuses = frozenset(STATUSES)
    raw_status = query.get("status", "")
    if raw_status.strip():
        wanted = [s.strip().lower() for s in raw_status.split(",") if s.strip()]
        unknown = [s for s in wanted if s not in STATUSES]
        if unknown:
            raise QueryError(
                f"Invalid status value(s): {', '.join(unknown)}. "
                f"Valid values: {', '.join(STATUSES)}"
            )
        statuses = frozenset(wanted)
    sort_by = query.get("sort_by", "created_at").strip().lower()
    if sort_by not in SORT_BY:
        raise QueryError(f"sort_by must be one of {', '.join(SORT_BY)} (got {sort_by!r})")
    sort_order = query.get("sort_order", "desc").strip().lower()
    if sort_order not in SORT_ORDER:
        raise QueryError(f"sort_order must be 'asc' or 'desc' (got {sort_order!r})")
    limit = _int_param(query, "limit", minimum=1, what="a positive integer")
    offset = _int_param(query, "offset", minimum=0, what="a non-negative integer")
    return JobQuery(
        statuses=statuses,
        workflow_id=query.get("workflow_id") or None,
        sort_by=sort_by,
        sort_order=sort_order,
        limit=limit,
        offset=offset or 0,
    )


def _int_param(query: Mapping[str, str], name: str, *, minimum: int, what: str) -> int | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise QueryError(f"{name} must be {what} (got {raw!r})") from None
    if value < minimum:
        raise QueryError(f"{name} must be {what} (got {value})")
    return value


# -- job dicts -----------------------------------------------------------------------------------


def job_from_item(item: QueueItem, status: str) -> dict[str, Any]:
    """The list view of a pending or running prompt (it has no outputs yet)."""
    job = {
        "id": item.prompt_id,
        "status": status,
        "priority": item.number,
        "create_time": item.extra_data.get("create_time", item.created_ms),
        "outputs_count": 0,
        "workflow_id": workflow_id_of(item.extra_data),
    }
    return {key: value for key, value in job.items() if value is not None}


def detail_from_item(item: QueueItem, status: str) -> dict[str, Any]:
    """GET /api/jobs/{id} for a pending or running prompt."""
    return {
        **job_from_item(item, status),
        "outputs": {},
        "workflow": {"prompt": item.prompt, "extra_data": item.extra_data},
    }


def detail_from_entry(prompt_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """GET /api/jobs/{id} for a finished prompt, from its history entry.

    The entry's queue tuple carries no submission time of its own, so a create_time is only
    reported when extra_data has one (POST /prompt always sets it)."""
    item = item_from_entry(prompt_id, entry)
    job = summarize(item, entry)
    if "create_time" not in item.extra_data:
        job.pop("create_time", None)
    return {
        **job,
        "outputs": entry.get("outputs") or {},
        "execution_status": entry.get("status") or {},
        "workflow": {"prompt": item.prompt, "extra_data": item.extra_data},
    }


def item_from_entry(prompt_id: str, entry: dict[str, Any]) -> QueueItem:
    """The queue item a history entry was made from (its `prompt` is ComfyUI's 5-tuple)."""
    raw = entry.get("prompt")
    parts = list(raw) if isinstance(raw, list | tuple) else []
    parts += [None] * (5 - len(parts))
    number, _, prompt, extra_data, outputs = parts[:5]
    return QueueItem(
        number=number if _finite(number) is not None else 0.0,
        prompt_id=prompt_id,
        prompt=prompt if isinstance(prompt, dict) else {},
        extra_data=extra_data if isinstance(extra_data, dict) else {},
        outputs=outputs if isinstance(outputs, list) else [],
    )


def workflow_id_of(extra_data: dict[str, Any]) -> Any:
    """extra_data.extra_pnginfo.workflow.id, the UI workflow's id, or None."""
    pnginfo = extra_data.get("extra_pnginfo")
    workflow = pnginfo.get("workflow") if isinstance(pnginfo, dict) else None
    return workflow.get("id") if isinstance(workflow, dict) else None


def collect_jobs(
    running: Iterable[QueueItem],
    pending: Iterable[QueueItem],
    finished: Iterable[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Every job once; a prompt that finished between the two reads counts as finished."""
    jobs: dict[str, dict[str, Any]] = {}
    for item in running:
        jobs[item.prompt_id] = job_from_item(item, IN_PROGRESS)
    for item in pending:
        jobs[item.prompt_id] = job_from_item(item, PENDING)
    for summary in finished:
        jobs[str(summary.get("id"))] = summary
    return list(jobs.values())


# -- listing -------------------------------------------------------------------------------------


def execution_duration(job: Mapping[str, Any]) -> float | None:
    """End minus start of execution (ms); None when the job has not run to an end."""
    start = _finite(job.get("execution_start_time"))
    end = _finite(job.get("execution_end_time"))
    return None if start is None or end is None else end - start


def sort_jobs(
    jobs: Iterable[dict[str, Any]], sort_by: str, sort_order: str
) -> list[dict[str, Any]]:
    """Sorted by creation time (ties: priority) or by duration; jobs without a duration (not
    run yet) go last, among themselves by creation time in the same direction."""
    reverse = sort_order == "desc"

    def created(job: Mapping[str, Any]) -> tuple[float, float]:
        return (_finite(job.get("create_time")) or 0.0, _finite(job.get("priority")) or 0.0)

    by_created = sorted(jobs, key=created, reverse=reverse)
    if sort_by != "execution_duration":
        return by_created
    timed = [job for job in by_created if execution_duration(job) is not None]
    untimed = [job for job in by_created if execution_duration(job) is None]
    timed.sort(key=lambda job: execution_duration(job) or 0.0, reverse=reverse)
    return timed + untimed


def list_jobs(jobs: Iterable[dict[str, Any]], query: JobQuery) -> dict[str, Any]:
    """The GET /api/jobs reply: filtered, sorted, then one page of it."""
    kept = [
        job
        for job in jobs
        if job.get("status") in query.statuses
        and (query.workflow_id is None or job.get("workflow_id") == query.workflow_id)
    ]
    ordered = sort_jobs(kept, query.sort_by, query.sort_order)
    end = None if query.limit is None else query.offset + query.limit
    page = ordered[query.offset : end]
    return {
        "jobs": page,
        "pagination": {
            "offset": query.offset,
            "limit": query.limit,
            "total": len(ordered),
            "has_more": query.offset + len(page) < len(ordered),
        },
    }


# -- cancelling ----------------------------------------------------------------------------------


def invalid_job_ids(values: Iterable[Any]) -> list[Any]:
    """The entries that cannot be a prompt id (same rule as POST /prompt's prompt_id)."""
    return [
        value
        for value in values
        if not (isinstance(value, str) and 0 < len(value) <= MAX_PROMPT_ID and value.isprintable())
    ]


def _finite(value: Any) -> float | None:
    """A real number as float; None for anything else (a client may put junk in extra_data)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None
