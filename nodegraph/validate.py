"""Prompt validation: every error at once, ComfyUI's shapes, partial acceptance of outputs."""

from __future__ import annotations

import inspect
import json
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from nodegraph import errors as E
from nodegraph.errors import InputError, NodeErrors, PromptError
from nodegraph.graph import BadLink, Link, Prompt, PromptFormatError, PromptNode, parse_prompt
from nodegraph.registry import Registry
from nodegraph.spec import Combo, InputSpec, NodeSpec
from nodegraph.types import BOOLEAN, FLOAT, INT, STRING, can_connect

_COERCE: dict[str, type] = {INT: int, FLOAT: float, STRING: str, BOOLEAN: bool}


@dataclass
class Validation:
    """The outcome: the coerced prompt, outputs to run, and every error found."""

    prompt: Prompt
    outputs: list[str] = field(default_factory=list)
    order: list[str] | None = None  # sources-first order of what the outputs need, when known
    specs: dict[str, NodeSpec] = field(default_factory=dict)
    node_errors: dict[str, NodeErrors] = field(default_factory=dict)
    error: PromptError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def node_errors_json(self) -> dict[str, Any]:
        return {node_id: errs.to_json() for node_id, errs in self.node_errors.items()}

    def to_json(self) -> dict[str, Any]:
        """The 400 body of ComfyUI's POST /prompt (or just node_errors when accepted)."""
        body: dict[str, Any] = {"node_errors": self.node_errors_json()}
        if self.error is not None:
            body = {"error": self.error.to_json(), **body}
        return body


def wants_settings(hook: Callable[..., Any]) -> bool:
    """Hooks (validate, fingerprint) that declare a `settings` parameter receive the engine's
    Settings, e.g. to find the input folder."""
    return "settings" in inspect.signature(hook).parameters


def validate_prompt(
    registry: Registry,
    data: Any,
    partial_targets: Iterable[str] | None = None,
    settings: Any = None,
) -> Validation:
    """Validate an API-format prompt (raw JSON or already parsed)."""
    try:
        prompt = data if _is_parsed(data) else parse_prompt(data)
    except PromptFormatError as ex:
        return Validation(
            {}, error=PromptError(ex.error_type, ex.message, ex.details, ex.extra_info)
        )
    return _Validator(registry, prompt, settings).run(partial_targets)


def _is_parsed(data: Any) -> bool:
    return (
        bool(data)
        and isinstance(data, dict)
        and all(isinstance(v, PromptNode) for v in data.values())
    )


class _Validator:
    def __init__(self, registry: Registry, prompt: Prompt, settings: Any) -> None:
        self.registry = registry
        self.prompt = prompt
        self.settings = settings
        self.own_errors: dict[str, list[InputError]] = {}
        self.specs: dict[str, NodeSpec] = {}
        self._choices: dict[tuple[str, str], list[str]] = {}
        self._source_cache: dict[str, list[str]] = {}

    def run(self, partial_targets: Iterable[str] | None) -> Validation:
        prompt = self.prompt
        error = self._check_classes()
        if error is not None:
            return Validation(prompt, error=error)
        outputs = [nid for nid, spec in self.specs.items() if spec.output_node]
        if partial_targets is not None:
            targets = {str(t) for t in partial_targets}
            outputs = [nid for nid in outputs if nid in targets]
        if not outputs:
            return Validation(
                prompt, error=PromptError("prompt_no_outputs", "Prompt has no outputs")
            )

        order, cycles = self._walk(outputs)
        for nid in order:
            errs = self._check_node(nid)
            if errs:
                self.own_errors[nid] = errs
        classes = {nid: str(node.class_type) for nid, node in prompt.items()}
        in_cycle: set[str] = set()
        for cycle in cycles:
            for nid in cycle[:-1]:
                in_cycle.add(nid)
                self.own_errors.setdefault(nid, []).append(E.dependency_cycle(nid, cycle, classes))

        valid: dict[str, bool] = {}
        for nid in order:  # sources come before their consumers
            valid[nid] = nid not in self.own_errors and all(
                valid.get(src, False) for src in self._sources(nid)
            )
        node_errors: dict[str, NodeErrors] = {}
        good: list[str] = []
        for out in outputs:
            if valid[out]:
                good.append(out)
                continue
            for nid in self._ancestors(out):
                if nid in self.own_errors:
                    entry = node_errors.setdefault(
                        nid, NodeErrors(classes[nid], self.own_errors[nid])
                    )
                    entry.dependent_outputs.append(out)
        result = Validation(prompt, good, node_errors=node_errors, specs=self.specs)
        if len(good) == len(outputs):
            result.order = order
        if not good:
            lines = list(
                dict.fromkeys(
                    f"{err.message}: {err.details}"
                    for ne in node_errors.values()
                    for err in ne.errors
                )
            )
            result.error = PromptError(
                "prompt_outputs_failed_validation",
                "Prompt outputs failed validation",
                "\n".join(lines),
            )
        return result

    def _check_classes(self) -> PromptError | None:
        missing: list[tuple[str, Any, str | None]] = []
        for nid, node in self.prompt.items():
            if node.class_type is None:
                if missing:  # the first failing node (prompt order) decides the error
                    break
                return PromptError(
                    "invalid_prompt",
                    "Cannot execute because a node is missing the class_type property.",
                    f"Node ID '#{nid}'",
                )
            spec = self.registry.get(node.class_type) if isinstance(node.class_type, str) else None
            if spec is None:
                missing.append((nid, node.class_type, node.title))
            else:
                self.specs[nid] = spec
        if not missing:
            return None
        nid, class_type, title = missing[0]
        return PromptError(
            "missing_node_type",
            f"Cannot execute because node {class_type} does not exist.",
            "\n".join(f"Node ID '#{m[0]}': {m[1]}" for m in missing),
            {
                "node_id": nid,
                "class_type": class_type,
                "node_title": title or class_type,
                "missing": [{"node_id": m[0], "class_type": m[1]} for m in missing],
            },
        )

    def _sources(self, nid: str) -> list[str]:
        found = self._source_cache.get(nid)
        if found is None:
            prompt = self.prompt
            found = self._source_cache[nid] = [
                v.node_id
                for v in prompt[nid].inputs.values()
                if type(v) is Link and v.node_id in prompt
            ]
        return found

    def _walk(self, roots: list[str]) -> tuple[list[str], list[list[str]]]:
        """Post-order of everything the roots depend on, and every cycle met (iteratively)."""
        state: dict[str, int] = {}
        order: list[str] = []
        cycles: list[list[str]] = []
        for root in roots:
            if root in state:
                continue
            state[root] = 1
            path = [root]
            stack = [iter(self._sources(root))]
            while stack:
                for src in stack[-1]:
                    seen = state.get(src)
                    if seen is None:
                        state[src] = 1
                        path.append(src)
                        stack.append(iter(self._sources(src)))
                        break
                    if seen == 1:  # back edge: path[i:] is a cycle, listed in data-flow order
                        loop = path[path.index(src) :]
                        cycles.append([src, *reversed(loop[1:]), src])
                else:
                    stack.pop()
                    done = path.pop()
                    state[done] = 2
                    order.append(done)
        return order, cycles

    def _ancestors(self, root: str) -> list[str]:
        seen = {root}
        todo = [root]
        while todo:
            for src in self._sources(todo.pop()):
                if src not in seen:
                    seen.add(src)
                    todo.append(src)
        return sorted(seen, key=_id_sort_key)

    def _check_node(self, nid: str) -> list[InputError]:
        node = self.prompt[nid]
        spec = self.specs[nid]
        errs: list[InputError] = []
        literals: dict[str, Any] = {}
        custom = spec.validate is not None
        named = spec.validate_params
        for name, inp in spec.inputs.items():
            if inp.section == "hidden":
                continue
            if name not in node.inputs:
                if inp.section == "required":
                    errs.append(E.required_input_missing(name))
                continue
            value = node.inputs[name]
            if isinstance(value, Link):
                err = self._check_link(spec, inp, value)
            elif isinstance(value, BadLink):
                err = E.bad_linked_input(name, self._config(inp), value.raw)
            else:
                skip_limits = custom and (named is None or name in named)
                err = self._check_constant(node.inputs, spec, inp, value, skip_limits)
                if err is None:
                    literals[name] = node.inputs[name]
            if err is not None:
                errs.append(err)
        if not errs:
            try:
                node.literal_sig = literal_signature(literals)
            except (TypeError, ValueError) as ex:
                bad = next(k for k, v in literals.items() if not _jsonable(v))
                errs.append(E.unhashable_input(bad, literals[bad], ex))
        if custom:  # ComfyUI calls VALIDATE_INPUTS after the per-input checks, errors or not
            errs.extend(self._custom_validation(nid, spec))
        return errs

    def _check_link(self, spec: NodeSpec, inp: InputSpec, link: Link) -> InputError | None:
        source = self.prompt.get(link.node_id)
        if source is None:
            return E.exception_during_validation(
                f"{inp.name}: links to node '{link.node_id}', which is not in the prompt",
                "KeyError",
                input_name=inp.name,
            )
        source_spec = self.specs[link.node_id]
        if not 0 <= link.slot < len(source_spec.outputs):
            return E.exception_during_validation(
                f"{inp.name}: node '{link.node_id}' ({source_spec.id}) has no output "
                f"{link.slot}; it has {len(source_spec.outputs)}",
                "IndexError",
                input_name=inp.name,
            )
        received = source_spec.outputs[link.slot].type
        if not spec.validate_wants_types and not can_connect(received, inp.type):
            return E.return_type_mismatch(
                inp.name, self._config(inp), received, inp.type, [link.node_id, link.slot]
            )
        return None

    def _check_constant(
        self, values: dict[str, Any], spec: NodeSpec, inp: InputSpec, value: Any, skip: bool
    ) -> InputError | None:
        name = inp.name
        convert = _COERCE.get(inp.type)
        if convert is not None:
            try:
                value = convert(value)
            except Exception as ex:
                return E.invalid_input_type(name, self._config(inp), inp.type, value, ex)
            values[name] = value
        if skip or inp.widget is None:
            return None
        widget = inp.widget
        lo = getattr(widget, "min", None)
        hi = getattr(widget, "max", None)
        try:
            if lo is not None and value < lo:
                return E.out_of_range(name, self._config(inp), value, lo, below=True)
            if hi is not None and value > hi:
                return E.out_of_range(name, self._config(inp), value, hi, below=False)
        except TypeError as ex:
            return E.invalid_input_type(name, self._config(inp), inp.type, value, ex)
        if isinstance(widget, Combo):
            choices = self._combo_choices(spec, inp, widget)
            if not isinstance(value, str) or value not in choices:
                return E.value_not_in_list(name, self._config(inp), value, choices)
        return None

    def _config(self, inp: InputSpec) -> list[Any]:
        return inp.config(self.settings, pair=True)

    def _combo_choices(self, spec: NodeSpec, inp: InputSpec, widget: Combo) -> list[str]:
        key = (spec.id, inp.name)
        cached = self._choices.get(key)
        if cached is None:
            cached = self._choices[key] = widget.resolve(self.settings)
        return cached

    def _custom_validation(self, nid: str, spec: NodeSpec) -> list[InputError]:
        node = self.prompt[nid]
        names = [
            n
            for n, inp in spec.inputs.items()
            if inp.section != "hidden"
            and (spec.validate_params is None or n in spec.validate_params)
        ]
        kwargs = {
            n: None if isinstance(node.inputs[n], Link | BadLink) else node.inputs[n]
            for n in names
            if n in node.inputs
        }
        if spec.validate_wants_types:
            types: dict[str, str] = {}
            for n, v in node.inputs.items():
                source = self.specs.get(v.node_id) if isinstance(v, Link) else None
                if source is not None and 0 <= v.slot < len(source.outputs):
                    types[n] = source.outputs[v.slot].type
            kwargs["input_types"] = types
        assert spec.validate is not None
        if wants_settings(spec.validate):
            kwargs["settings"] = self.settings
        try:
            returned = spec.validate(**kwargs)
        except Exception as ex:
            return [
                E.exception_during_validation(
                    str(ex),
                    full_type_name(type(ex)),
                    traceback.format_tb(ex.__traceback__),
                )
            ]
        if returned is True:
            return []
        injected = ("input_types", "settings")
        return [E.custom_validation_failed(n, returned) for n in kwargs if n not in injected]


def full_type_name(cls: type) -> str:
    """`module.QualName`, with builtins left bare (ComfyUI's exception_type)."""
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


_SCALARS = (str, int, float, bool, type(None))


def literal_signature(literals: dict[str, Any]) -> str:
    """A stable text for the cache key; scalars take a fast path, the rest canonical JSON."""
    if all(type(v) in _SCALARS for v in literals.values()):
        return repr(sorted(literals.items()))
    return json.dumps(literals, sort_keys=True, separators=(",", ":"), default=_fingerprint_default)


def _fingerprint_default(value: Any) -> Any:
    method = getattr(value, "cache_fingerprint", None)
    if callable(method):
        return method()
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value, default=_fingerprint_default)
    except (TypeError, ValueError):
        return False
    return True


def _id_sort_key(node_id: str) -> tuple[int, str]:
    return (int(node_id), "") if node_id.isdigit() else (1 << 62, node_id)
