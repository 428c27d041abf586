"""Runs a validated prompt: dynamic topological order, cache reuse, lazy and list semantics."""

from __future__ import annotations

import heapq
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from nodegraph import events as ev
from nodegraph.cache import CacheEntry, OutputCache, make_cache
from nodegraph.context import Context, Interrupted, InterruptFlag
from nodegraph.graph import Link, Prompt, to_api
from nodegraph.invoke import NodeFailed, call_node, lazy_needed, show
from nodegraph.plan import Plan, make_plan
from nodegraph.registry import Registry
from nodegraph.settings import Settings
from nodegraph.spec import NodeSpec
from nodegraph.validate import full_type_name

Status = Literal["success", "error", "interrupted"]


@dataclass
class RunResult:
    """What a run produced; `messages` is the history status log ComfyUI keeps."""

    prompt_id: str
    status: Status
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    values: dict[str, tuple[list[Any], ...]] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    messages: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    error: ev.ExecutionError | ev.ExecutionInterrupted | None = None


class Executor:
    """Executes prompts one at a time, keeping the output cache between them."""

    def __init__(
        self,
        registry: Registry,
        settings: Settings | None = None,
        cache: OutputCache | None = None,
        services: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or Settings()
        self.cache = cache if cache is not None else make_cache(self.settings.cache)
        self.services = services or {}

    def execute(
        self,
        prompt: Prompt,
        outputs: list[str],
        *,
        prompt_id: str,
        extra_data: Mapping[str, Any] | None = None,
        on_event: ev.EventSink | None = None,
        interrupt: InterruptFlag | None = None,
        specs: dict[str, NodeSpec] | None = None,
        order: list[str] | None = None,
    ) -> RunResult:
        """Run `outputs` (already validated) of `prompt`; never raises for node failures.

        `specs` and `order` may be passed from the Validation to save recomputing them.
        """
        if not specs:
            specs = {}
            for nid, node in prompt.items():
                spec = self.registry.get(node.class_type)
                if spec is not None:
                    specs[nid] = spec
        plan = make_plan(specs, prompt, outputs, order, self.settings)
        run = _Run(self, plan, prompt, prompt_id, extra_data or {}, on_event, interrupt)
        return run.go()


_DONE, _PENDING = True, False


class _Run:
    """State of one prompt's execution."""

    def __init__(
        self,
        executor: Executor,
        plan: Plan,
        prompt: Prompt,
        prompt_id: str,
        extra_data: Mapping[str, Any],
        emit: ev.EventSink | None,
        interrupt: InterruptFlag | None,
    ) -> None:
        self.ex = executor
        self.cache = executor.cache
        self.plan = plan
        self.prompt = prompt
        self.prompt_id = prompt_id
        self.extra_data = extra_data
        self.emit = emit
        self.interrupt = interrupt or InterruptFlag()
        self.values: dict[str, tuple[list[Any], ...]] = {}
        self.result = RunResult(prompt_id, "success")
        self.scheduled: set[str] = set()
        self.done: set[str] = set()
        self.blockers: dict[str, int] = {}
        self.waiters: dict[str, list[str]] = {}
        self.refs: dict[str, int] = {}
        self.started: set[str] = set()
        self.heap: list[tuple[int, int, str]] = []
        self.seq = 0
        self._api_prompt: dict[str, Any] | None = None
        self.output_set = set(plan.outputs)

    def _log(self, event: ev.Event) -> None:
        self.result.messages.append((event.type, event.data()))
        if self.emit is not None:
            self.emit(event)

    def go(self) -> RunResult:
        result = self.result
        self._log(ev.ExecutionStart(self.prompt_id))
        keys = self.plan.keys
        result.cached = [nid for nid in self.plan.order if keys[nid] in self.cache]
        self._log(ev.ExecutionCached(list(result.cached), self.prompt_id))
        current: str | None = None
        try:
            self._schedule(self.plan.outputs)
            heap = self.heap
            while heap:
                current = heapq.heappop(heap)[2]
                self.interrupt.check()
                if self._run_node(current):
                    self._complete(current)
            if len(self.done) < len(self.scheduled):
                stuck = sorted(self.scheduled - self.done)
                raise NodeFailed(stuck[0], RuntimeError(f"dependency cycle among {stuck}"), {})
        except Interrupted:
            result.status = "interrupted"
            node_type = self.plan.specs[current].id if current else None
            result.error = ev.ExecutionInterrupted(
                self.prompt_id, current, node_type, list(result.executed)
            )
            self._log(result.error)
            return result
        except NodeFailed as failed:
            result.status = "error"
            result.error = self._error_event(failed)
            self._log(result.error)
            return result
        for nid in self.plan.outputs:
            if nid in self.values:
                result.values[nid] = self.values[nid]
        self._log(ev.ExecutionSuccess(self.prompt_id))
        return result

    # -- scheduling -------------------------------------------------------------------------

    def _schedule(self, targets: list[str], waiter: str | None = None) -> None:
        """Make `targets` available: cached nodes are loaded now, the rest are queued together
        with every uncached node they need (lazy inputs only once requested)."""
        prompt, specs, keys, cache = self.prompt, self.plan.specs, self.plan.keys, self.cache
        new: list[str] = []
        stack = list(targets)
        while stack:
            nid = stack.pop()
            if nid in self.scheduled or nid in self.values:
                continue
            entry = cache.get(keys[nid])
            if entry is not None:
                self.values[nid] = entry.outputs
                if entry.ui is not None and specs[nid].output_node:
                    self._report_ui(nid, entry.ui)
                continue
            self.scheduled.add(nid)
            new.append(nid)
            lazy = specs[nid].lazy_inputs
            for name, value in prompt[nid].inputs.items():
                if isinstance(value, Link) and name not in lazy:
                    stack.append(value.node_id)
        for nid in new:
            self._add_blockers(nid)
        if waiter is not None:
            pending = [t for t in targets if t not in self.values]
            for target in pending:
                self.waiters.setdefault(target, []).append(waiter)
            self.blockers[waiter] = len(pending)
            if not pending:
                self._push(waiter)

    def _add_blockers(self, nid: str) -> None:
        count = 0
        lazy = self.plan.specs[nid].lazy_inputs
        refs, values = self.refs, self.values
        for name, value in self.prompt[nid].inputs.items():
            if isinstance(value, Link):
                src = value.node_id
                refs[src] = refs.get(src, 0) + 1
                if name not in lazy and src not in values:
                    self.waiters.setdefault(src, []).append(nid)
                    count += 1
        self.blockers[nid] = count
        if count == 0:
            self._push(nid)

    def _push(self, nid: str) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (self._priority(nid), self.seq, nid))

    def _priority(self, nid: str) -> int:
        """ComfyUI's UX order: output nodes, then nodes one or two hops from an output."""
        specs, consumers = self.plan.specs, self.plan.consumers
        if specs[nid].output_node:
            return 0
        near = consumers[nid]
        if any(specs[c].output_node for c in near):
            return 1
        if any(specs[c2].output_node for c in near[:64] for c2 in consumers[c][:64]):
            return 2
        return 3

    def _complete(self, nid: str) -> None:
        self.done.add(nid)
        for waiter in self.waiters.pop(nid, ()):
            self.blockers[waiter] -= 1
            if self.blockers[waiter] == 0:
                self._push(waiter)
        outputs, refs = self.output_set, self.refs
        for value in self.prompt[nid].inputs.values():
            if isinstance(value, Link):
                src = value.node_id
                refs[src] -= 1
                if refs[src] == 0 and src not in outputs:
                    self.values.pop(src, None)  # free intermediates after their last consumer

    # -- one node ---------------------------------------------------------------------------

    def _run_node(self, nid: str) -> bool:
        spec = self.plan.specs[nid]
        node = self.prompt[nid]
        args, missing = self._gather(nid, spec, node.inputs)
        if nid not in self.started:
            self.started.add(nid)
            if self.emit is not None:
                self.emit(ev.Executing(nid, nid, self.prompt_id))
        if spec.check_lazy is not None and missing:
            needed = lazy_needed(nid, spec, args, missing)
            if needed:
                sources = [node.inputs[name].node_id for name in needed]
                self._schedule(sources, waiter=nid)
                return _PENDING
        outputs, ui = self._call(nid, spec, args)
        self.values[nid] = outputs
        self.cache.put(self.plan.keys[nid], CacheEntry(outputs, ui))
        self.result.executed.append(nid)
        if ui is not None:
            self._report_ui(nid, ui)
        return _DONE

    def _report_ui(self, nid: str, ui: dict[str, Any]) -> None:
        self.result.outputs[nid] = ui
        if self.emit is not None:
            self.emit(ev.Executed(nid, nid, ui, self.prompt_id))

    def _gather(
        self, nid: str, spec: NodeSpec, inputs: dict[str, Any]
    ) -> tuple[dict[str, list[Any]], set[str]]:
        """Each input as a list (ComfyUI's convention); unevaluated lazy inputs are [None]."""
        args: dict[str, list[Any]] = {}
        missing: set[str] = set()
        declared = spec.inputs
        for name, value in inputs.items():
            inp = declared.get(name)
            if isinstance(value, Link):
                if inp is None and not spec.accepts_extra_links:
                    continue
                if inp is not None and inp.raw_link:
                    args[name] = [[value.node_id, value.slot]]
                    continue
                source = self.values.get(value.node_id)
                if source is None:
                    args[name] = [None]
                    missing.add(name)
                else:
                    args[name] = source[value.slot]
            elif inp is not None and inp.section != "hidden":
                args[name] = [value]
        if spec.has_hidden:
            for inp in declared.values():
                if inp.hidden_kind is not None:
                    args[inp.name] = [self._hidden(nid, inp.hidden_kind)]
        return args, missing

    def _hidden(self, nid: str, kind: str) -> Any:
        if kind == "PROMPT":
            if self._api_prompt is None:
                self._api_prompt = to_api(self.prompt)
            return self._api_prompt
        if kind == "EXTRA_PNGINFO":
            return self.extra_data.get("extra_pnginfo")
        if kind == "UNIQUE_ID":
            return nid
        return self.prompt_id

    def _call(
        self, nid: str, spec: NodeSpec, args: dict[str, list[Any]]
    ) -> tuple[tuple[list[Any], ...], dict[str, Any] | None]:
        ctx = self._context(nid) if spec.context_param else None
        return call_node(nid, spec, args, ctx, self.interrupt, self._blocked)

    def _context(self, nid: str) -> Context:
        return Context(
            node_id=nid,
            prompt_id=self.prompt_id,
            settings=self.ex.settings,
            interrupt=self.interrupt,
            on_progress=self._progress,
            on_preview=self._preview,
            services=self.ex.services,
        )

    def _progress(self, nid: str, value: float, total: float) -> None:
        if self.emit is not None:
            self.emit(ev.Progress(value, total, self.prompt_id, nid))

    def _preview(self, nid: str, image_format: str, data: bytes) -> None:
        if self.emit is not None:
            self.emit(ev.Preview(nid, self.prompt_id, image_format, data))

    def _blocked(self, nid: str, spec: NodeSpec, message: str) -> None:
        """An output node reached by a blocker with a message reports it (not fatal)."""
        self._log(
            ev.ExecutionError(
                self.prompt_id,
                nid,
                spec.id,
                list(self.result.executed),
                message,
                "ExecutionBlocked",
                [],
                [],
                [],
            )
        )

    def _error_event(self, failed: NodeFailed) -> ev.ExecutionError:
        cause = failed.cause
        spec = self.plan.specs.get(failed.node_id)
        return ev.ExecutionError(
            prompt_id=self.prompt_id,
            node_id=failed.node_id,
            node_type=spec.id if spec else "",
            executed=list(self.result.executed),
            exception_message=str(cause),
            exception_type=full_type_name(type(cause)),
            traceback=traceback.format_tb(cause.__traceback__),
            current_inputs={k: [show(v) for v in vs] for k, vs in failed.inputs.items()},
            current_outputs=list(self.result.cached),
        )
