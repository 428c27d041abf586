"""Calls a node function the ComfyUI way: list mapping, blockers, lazy checks, return shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import Any

from nodegraph.context import Context, Interrupted, InterruptFlag
from nodegraph.results import ExecutionBlocker, Result
from nodegraph.spec import NodeSpec


class NodeFailed(Exception):
    """A node function raised; carries what the execution_error event reports."""

    def __init__(self, node_id: str, cause: BaseException, inputs: Mapping[str, list[Any]]):
        super().__init__(str(cause))
        self.node_id = node_id
        self.cause = cause
        self.inputs = inputs


def mapped_calls(spec: NodeSpec, args: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """ComfyUI's list mapping: one call per index of the longest input list (shorter lists
    repeat their last item), a single call with whole lists for INPUT_IS_LIST, none if a list
    is empty."""
    if spec.input_is_list:
        return [dict(args)]
    if not args:
        return [{}]
    lengths = [len(v) for v in args.values()]
    if min(lengths) == 0:
        return []
    if max(lengths) == 1:
        return [{k: v[0] for k, v in args.items()}]
    return [
        {k: v[i] if i < len(v) else v[-1] for k, v in args.items()} for i in range(max(lengths))
    ]


def lazy_needed(
    nid: str, spec: NodeSpec, args: dict[str, list[Any]], missing: set[str]
) -> list[str]:
    """The unevaluated lazy inputs that the node's check_lazy asks for."""
    assert spec.check_lazy is not None
    names: list[str] = []
    for kwargs in mapped_calls(spec, args):
        try:
            requested = spec.check_lazy(**kwargs)
        except Interrupted:
            raise
        except Exception as ex:
            raise NodeFailed(nid, ex, args) from ex
        names.extend(n for n in requested or () if n in missing and n not in names)
    return names


def call_node(
    nid: str,
    spec: NodeSpec,
    args: dict[str, list[Any]],
    ctx: Context | None,
    interrupt: InterruptFlag,
    on_blocked: Callable[[str, NodeSpec, str], None],
) -> tuple[tuple[list[Any], ...], dict[str, Any] | None]:
    """Run every mapped call; merge outputs (lists concatenated for list outputs) and ui."""
    n_out = len(spec.outputs)
    outputs: tuple[list[Any], ...] = tuple([] for _ in range(n_out))
    ui: dict[str, Any] | None = None
    for kwargs in mapped_calls(spec, args):
        interrupt.check()
        blocker = None
        if not spec.input_is_list:
            blocker = next((v for v in kwargs.values() if type(v) is ExecutionBlocker), None)
        if blocker is not None:
            if blocker.message and spec.output_node:
                on_blocked(nid, spec, blocker.message)
            values: tuple[Any, ...] = (blocker,) * n_out
        else:
            if ctx is not None and spec.context_param is not None:
                kwargs[spec.context_param] = ctx
            try:
                returned = spec.fn(**kwargs)
                if spec.is_async:
                    returned = asyncio.run(returned)
                values, call_ui = normalise(spec, returned)
            except Interrupted:
                raise
            except Exception as ex:
                raise NodeFailed(nid, ex, args) from ex
            if call_ui:
                ui = ui if ui is not None else {}
                for key, items in call_ui.items():
                    ui.setdefault(key, []).extend(items if isinstance(items, list) else [items])
        for out, value, target in zip(spec.outputs, values, outputs, strict=True):
            if out.is_list and type(value) is not ExecutionBlocker:
                target.extend(value)
            else:
                target.append(value)
    return outputs, ui


def normalise(spec: NodeSpec, returned: Any) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """Accept a value, a tuple of values, a Result or an ExecutionBlocker."""
    n_out = len(spec.outputs)
    if type(returned) is ExecutionBlocker:
        return (returned,) * n_out, None
    ui = None
    if isinstance(returned, Result):
        values, ui = returned.values, returned.ui
    elif n_out == 1:
        values = (returned,)
    elif n_out == 0:
        values = ()
    elif isinstance(returned, tuple):
        values = returned
    else:
        raise TypeError(
            f"node {spec.id} returned {type(returned).__name__}; it declares {n_out} outputs"
        )
    if len(values) != n_out:
        raise TypeError(f"node {spec.id} returned {len(values)} values; it declares {n_out}")
    for out, value in zip(spec.outputs, values, strict=True):
        if out.is_list and not isinstance(value, list | tuple | ExecutionBlocker):
            raise TypeError(f"node {spec.id}: list output {out.name!r} got {type(value).__name__}")
    return values, ui


def show(value: Any) -> Any:
    """ComfyUI's current_inputs formatting: primitives as they are, others as short text."""
    if value is None or isinstance(value, int | float | str | bool):
        return value
    text = str(value)
    return text if len(text) <= 1000 else text[:1000] + "..."
