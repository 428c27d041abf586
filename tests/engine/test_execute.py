"""Execution: events, cache reuse, lazy and list semantics, interrupts, errors, blockers."""

from __future__ import annotations

import threading
from typing import Annotated, Any

import pytest

from nodegraph import Context, Hidden, Registry, Result, Socket, node
from nodegraph import events as ev
from nodegraph.cache import LRUCache, NullCache
from nodegraph.context import InterruptFlag
from nodegraph.execute import Executor, RunResult
from nodegraph.settings import CacheSettings, Settings
from nodegraph.validate import validate_prompt
from tests.engine import toy_nodes
from tests.engine.toy_nodes import CALLS


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


@pytest.fixture
def registry() -> Any:
    return toy_nodes.make_registry()


def run(
    executor: Executor, prompt: dict[str, Any], interrupt: InterruptFlag | None = None
) -> tuple[RunResult, list[ev.Event]]:
    validation = validate_prompt(executor.registry, prompt)
    assert validation.ok, validation.to_json()
    events: list[ev.Event] = []
    result = executor.execute(
        validation.prompt,
        validation.outputs,
        prompt_id="p1",
        on_event=events.append,
        interrupt=interrupt,
    )
    return result, events


def chain_prompt(a: int = 1, b: int = 2) -> dict[str, Any]:
    return {
        "1": {"class_type": "ToyInt", "inputs": {"value": a}},
        "2": {"class_type": "ToyInt", "inputs": {"value": b}},
        "3": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 10}},
        "4": {"class_type": "ToyAdd", "inputs": {"a": ["3", 0], "b": 100}},
        "5": {"class_type": "ToyAdd", "inputs": {"a": ["2", 0], "b": 0}},
        "6": {"class_type": "ToySink", "inputs": {"value": ["4", 0]}},
        "7": {"class_type": "ToySink", "inputs": {"value": ["5", 0]}},
    }


def test_run_emits_comfyui_events_in_order(registry: Any) -> None:
    result, events = run(Executor(registry), chain_prompt())
    assert result.status == "success"
    assert result.outputs == {"6": {"value": [111]}, "7": {"value": [2]}}
    types = [e.type for e in events]
    assert types[:2] == ["execution_start", "execution_cached"]
    assert types[-1] == "execution_success"
    executing = [e.data()["node"] for e in events if isinstance(e, ev.Executing)]
    assert sorted(executing) == ["1", "2", "3", "4", "5", "6", "7"]
    # every node runs after its inputs
    for consumer, sources in {"3": ["1"], "4": ["3"], "5": ["2"], "6": ["4"], "7": ["5"]}.items():
        assert all(executing.index(s) < executing.index(consumer) for s in sources)
    executed = [e.data() for e in events if isinstance(e, ev.Executed)]
    assert {"node": "6", "display_node": "6", "output": {"value": [111]}, "prompt_id": "p1"} in (
        executed
    )
    assert [m[0] for m in result.messages] == [
        "execution_start",
        "execution_cached",
        "execution_success",
    ]


def test_ux_order_finishes_one_output_before_starting_unrelated_work(registry: Any) -> None:
    _, events = run(Executor(registry), chain_prompt())
    executing = [e.data()["node"] for e in events if isinstance(e, ev.Executing)]
    # the output node runs as soon as its input is ready, not after every other node
    first_sink = min(executing.index("6"), executing.index("7"))
    assert first_sink < len(executing) - 1


def test_identical_prompt_executes_nothing_and_reports_every_node_cached(registry: Any) -> None:
    executor = Executor(registry)
    run(executor, chain_prompt())
    CALLS.clear()
    result, events = run(executor, chain_prompt())
    assert CALLS == []
    assert result.executed == []
    assert sorted(result.cached) == ["1", "2", "3", "4", "5", "6", "7"]
    assert not any(isinstance(e, ev.Executing) for e in events)
    cached_event = next(e for e in events if isinstance(e, ev.ExecutionCached))
    assert sorted(cached_event.nodes) == sorted(result.cached)
    # cached output nodes still report their ui (clients and history rely on it)
    assert result.outputs == {"6": {"value": [111]}, "7": {"value": [2]}}
    assert {e.data()["node"] for e in events if isinstance(e, ev.Executed)} == {"6", "7"}


def test_changing_one_literal_reruns_only_its_descendants(registry: Any) -> None:
    executor = Executor(registry)
    run(executor, chain_prompt(a=1))
    result, _ = run(executor, chain_prompt(a=5))
    assert sorted(result.executed) == ["1", "3", "4", "6"]
    assert sorted(result.cached) == ["2", "5", "7"]
    assert result.outputs["6"] == {"value": [115]}


def test_content_addressed_keys_share_identical_nodes_across_ids(registry: Any) -> None:
    executor = Executor(registry)
    run(executor, chain_prompt())
    renamed = {
        "a": {"class_type": "ToyInt", "inputs": {"value": 1}},
        "b": {"class_type": "ToyAdd", "inputs": {"a": ["a", 0], "b": 10}},
        "c": {"class_type": "ToySink", "inputs": {"value": ["b", 0]}},
    }
    result, _ = run(executor, renamed)
    assert result.executed == ["c"]  # the sink differs (its input differs); a and b are reused


def test_none_mode_reruns_everything(registry: Any) -> None:
    executor = Executor(registry, Settings(cache=CacheSettings(mode="none")))
    assert isinstance(executor.cache, NullCache)
    run(executor, chain_prompt())
    result, _ = run(executor, chain_prompt())
    assert sorted(result.executed) == ["1", "2", "3", "4", "5", "6", "7"]
    assert result.cached == []


def test_lru_entry_budget_evicts_oldest(registry: Any) -> None:
    cache = LRUCache(max_entries=3)
    executor = Executor(registry, cache=cache)
    run(executor, chain_prompt())
    assert len(cache) == 3
    result, _ = run(executor, chain_prompt())
    # the last three entries (3, 4, 6) survived; 1 is evicted but not needed behind cached 3
    assert sorted(result.cached) == ["3", "4", "6"]
    assert sorted(result.executed) == ["2", "5", "7"]


def test_lru_byte_budget_counts_nbytes() -> None:
    class Blob:
        def __init__(self, n: int) -> None:
            self.nbytes = n

    from nodegraph.cache import CacheEntry

    cache = LRUCache(max_entries=100, max_bytes=1000)
    cache.put(b"a", CacheEntry(([Blob(600)],), None))
    cache.put(b"b", CacheEntry(([Blob(600)],), None))
    assert b"a" not in cache and b"b" in cache
    cache.put(b"c", CacheEntry(([Blob(5000)],), None))  # larger than the budget: not kept
    assert b"c" not in cache and b"b" in cache
    assert cache.nbytes >= 600


def test_nan_fingerprint_always_reruns(registry: Any) -> None:
    executor = Executor(registry)
    prompt = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 4}},
        "2": {"class_type": "ToyVolatile", "inputs": {"value": ["1", 0]}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }
    run(executor, prompt)
    result, _ = run(executor, prompt)
    assert sorted(result.executed) == ["2", "3"]
    assert result.cached == ["1"]


def lazy_prompt(switch: bool) -> dict[str, Any]:
    return {
        "1": {"class_type": "ToyInt", "inputs": {"value": 1}},
        "2": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "ToyText", "inputs": {"text": "b branch", "shout": False}},
        "4": {
            "class_type": "ToyLazySwitch",
            "inputs": {"switch": switch, "a": ["2", 0], "b": ["3", 0]},
        },
        "5": {"class_type": "ToySink", "inputs": {"value": ["4", 0]}},
    }


def test_unneeded_lazy_branch_never_runs(registry: Any) -> None:
    result, _ = run(Executor(registry), lazy_prompt(switch=False))
    assert result.outputs["5"] == {"value": ["b branch"]}
    assert "ToyAdd" not in CALLS and "ToyInt" not in CALLS
    result, _ = run(Executor(registry), lazy_prompt(switch=True))
    assert result.outputs["5"] == {"value": [2]}
    assert "ToyText" not in CALLS[CALLS.index("ToyInt") :]


def test_output_is_list_maps_consumers_and_input_is_list_sees_all(registry: Any) -> None:
    prompt = {
        "1": {"class_type": "ToyRange", "inputs": {"count": 4}},
        "2": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 10}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
        "4": {"class_type": "ToySum", "inputs": {"values": ["2", 0]}},
        "5": {"class_type": "ToySink", "inputs": {"value": ["4", 0]}},
    }
    result, _ = run(Executor(registry), prompt)
    assert CALLS.count("ToyAdd") == 4  # one call per list element
    assert CALLS.count("ToySum") == 1  # INPUT_IS_LIST: one call with the whole list
    assert result.outputs["3"] == {"value": [10, 11, 12, 13]}  # ui lists concatenated
    assert result.outputs["5"] == {"value": [46]}


def test_empty_list_output_makes_no_calls_downstream(registry: Any) -> None:
    prompt = {
        "1": {"class_type": "ToyRange", "inputs": {"count": 0}},
        "2": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 10}},
        "3": {"class_type": "ToySum", "inputs": {"values": ["2", 0]}},
        "4": {"class_type": "ToySink", "inputs": {"value": ["3", 0]}},
    }
    result, _ = run(Executor(registry), prompt)
    assert "ToyAdd" not in CALLS
    assert result.outputs["4"] == {"value": [0]}


def failing_prompt(message: str = "boom") -> dict[str, Any]:
    return {
        "1": {"class_type": "ToyInt", "inputs": {"value": 3}},
        "2": {"class_type": "ToyAdd", "inputs": {"a": ["1", 0], "b": 1}},
        "3": {"class_type": "ToyFail", "inputs": {"value": ["2", 0], "message": message}},
        "4": {"class_type": "ToySink", "inputs": {"value": ["3", 0]}},
    }


def test_node_exception_becomes_execution_error_and_earlier_outputs_stay_cached(
    registry: Any,
) -> None:
    executor = Executor(registry)
    result, events = run(executor, failing_prompt())
    assert result.status == "error"
    err = result.error
    assert isinstance(err, ev.ExecutionError)
    data = err.data()
    assert data["prompt_id"] == "p1"
    assert data["node_id"] == "3" and data["node_type"] == "ToyFail"
    assert data["exception_type"] == "RuntimeError"
    assert data["exception_message"] == "boom"
    assert data["executed"] == ["1", "2"]
    assert data["current_inputs"] == {"value": [4], "message": ["boom"]}
    assert data["current_outputs"] == []
    assert any("toy_nodes.py" in frame for frame in data["traceback"])
    assert set(data) == {
        "prompt_id", "node_id", "node_type", "executed", "exception_message", "exception_type",
        "traceback", "current_inputs", "current_outputs", "timestamp",
    }  # fmt: skip
    assert events[-1] is err and result.messages[-1][0] == "execution_error"
    assert not any(isinstance(e, ev.ExecutionSuccess) for e in events)
    # fix and re-run: only the failed node and its descendants run
    result, _ = run(executor, failing_prompt())
    assert result.status == "error" and result.cached == ["1", "2"]
    assert isinstance(result.error, ev.ExecutionError)
    assert result.error.current_outputs == ["1", "2"]


def test_interrupt_inside_a_node_stops_the_run(registry: Any) -> None:
    flag = InterruptFlag()
    prompt = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 3}},
        "2": {"class_type": "ToySteps", "inputs": {"value": ["1", 0], "steps": 200, "delay": 0.01}},
        "3": {"class_type": "ToySink", "inputs": {"value": ["2", 0]}},
    }
    timer = threading.Timer(0.2, flag.set)
    timer.start()
    result, events = run(Executor(registry), prompt, interrupt=flag)
    timer.join()
    assert result.status == "interrupted"
    assert isinstance(result.error, ev.ExecutionInterrupted)
    assert result.error.node_id == "2" and result.error.node_type == "ToySteps"
    assert result.error.executed == ["1"]
    progress = [e for e in events if isinstance(e, ev.Progress)]
    assert 0 < len(progress) < 200
    assert progress[0].data() == {"value": 1, "max": 200, "prompt_id": "p1", "node": "2"}
    assert "ToySink" not in CALLS


def test_interrupt_between_nodes(registry: Any) -> None:
    flag = InterruptFlag()
    flag.set()
    result, _ = run(Executor(registry), chain_prompt(), interrupt=flag)
    assert result.status == "interrupted" and result.executed == []
    assert CALLS == []


def test_execution_blocker_stops_downstream_and_reports_message(registry: Any) -> None:
    prompt = {
        "1": {"class_type": "ToyInt", "inputs": {"value": 3}},
        "2": {
            "class_type": "ToyBlock",
            "inputs": {"value": ["1", 0], "block": True, "message": "blocked!"},
        },
        "3": {"class_type": "ToyAdd", "inputs": {"a": ["2", 0], "b": 1}},
        "4": {"class_type": "ToySink", "inputs": {"value": ["3", 0]}},
        "5": {"class_type": "ToySink", "inputs": {"value": ["1", 0]}},
    }
    result, events = run(Executor(registry), prompt)
    assert result.status == "success"
    assert "ToyAdd" not in CALLS
    assert result.outputs == {"5": {"value": [3]}}
    blocked = [e for e in events if isinstance(e, ev.ExecutionError)]
    assert [(b.node_id, b.exception_type, b.exception_message) for b in blocked] == [
        ("4", "ExecutionBlocked", "blocked!")
    ]


def test_wrong_return_arity_is_a_node_error(registry: Any) -> None:
    @node("TwoOut")
    def two_out() -> tuple[Annotated[int, Socket("INT")], Annotated[int, Socket("INT")]]:
        """Declares two outputs but returns one."""
        return 1  # type: ignore[return-value]

    reg = Registry()
    reg.add(two_out, toy_nodes.toy_sink)
    prompt = {
        "1": {"class_type": "TwoOut", "inputs": {}},
        "2": {"class_type": "ToySink", "inputs": {"value": ["1", 1]}},
    }
    result, _ = run(Executor(reg), prompt)
    assert result.status == "error"
    assert isinstance(result.error, ev.ExecutionError)
    assert result.error.exception_type == "TypeError"
    assert "declares 2 outputs" in result.error.exception_message


def test_hidden_inputs_and_context_folders(registry: Any, tmp_path: Any) -> None:
    seen: dict[str, Any] = {}

    @node("Probe", output_node=True)
    def probe(
        *,
        prompt: Annotated[dict[str, Any], Hidden("PROMPT")],
        extra: Annotated[Any, Hidden("EXTRA_PNGINFO")],
        uid: Annotated[str, Hidden("UNIQUE_ID")],
        ctx: Context,
    ) -> Result:
        """Records what the engine injects."""
        seen.update(prompt=prompt, extra=extra, uid=uid, out=ctx.output_dir)
        return Result(ui={"ok": [True]})

    reg = Registry()
    reg.add(probe)
    executor = Executor(reg, Settings(base_dir=tmp_path))
    validation = validate_prompt(reg, {"9": {"class_type": "Probe", "inputs": {}}})
    executor.execute(
        validation.prompt,
        validation.outputs,
        prompt_id="x",
        extra_data={"extra_pnginfo": {"workflow": {"nodes": []}}},
    )
    assert seen == {
        "prompt": {"9": {"class_type": "Probe", "inputs": {}}},
        "extra": {"workflow": {"nodes": []}},
        "uid": "9",
        "out": tmp_path / "output",
    }


def test_hooks_declaring_settings_receive_the_engine_settings(tmp_path: Any) -> None:
    seen: list[Any] = []

    def fingerprint(value: int, settings: Settings) -> str:
        seen.append(("fingerprint", settings))
        return (
            (settings.input_dir / "flag").read_text()
            if (settings.input_dir / "flag").exists()
            else ""
        )

    def check(value: int, settings: Settings) -> bool | str:
        seen.append(("validate", settings))
        return True if value >= 0 else f"negative under {settings.input_dir.name}"

    @node("ToyFolderValue", category="toy", fingerprint=fingerprint, validate=check)
    def folder_value(*, value: int) -> int:
        """Return value; keyed by a file in the input folder."""
        return value

    registry = toy_nodes.make_registry()
    registry.add(folder_value)
    settings = Settings(base_dir=tmp_path)
    executor = Executor(registry, settings)
    prompt = {
        "1": {"class_type": "ToyFolderValue", "inputs": {"value": 3}},
        "2": {"class_type": "ToySink", "inputs": {"value": ["1", 0]}},
    }
    validation = validate_prompt(registry, prompt, settings=settings)
    assert validation.ok
    first = executor.execute(validation.prompt, validation.outputs, prompt_id="a")
    settings.input_dir.mkdir(parents=True)
    (settings.input_dir / "flag").write_text("changed")
    second = executor.execute(validation.prompt, validation.outputs, prompt_id="b")
    assert first.executed == ["1", "2"] and sorted(second.executed) == ["1", "2"]
    assert {kind for kind, s in seen if s is settings} == {"fingerprint", "validate"}
    bad = validate_prompt(
        registry, {**prompt, "1": {**prompt["1"], "inputs": {"value": -1}}}, settings=settings
    ).to_json()
    errors = bad["node_errors"]["1"]["errors"]
    assert [e["extra_info"]["input_name"] for e in errors] == ["value"]
    assert errors[0]["details"] == "value: negative under input" or "negative under input" in str(
        errors
    )
