"""The @node decorator (one declaration -> NodeSpec) and the registry that serves object_info."""

from __future__ import annotations

import inspect
import logging
import types
import typing
from collections.abc import Callable, Iterable, Iterator
from types import ModuleType
from typing import Annotated, Any, TypeVar, get_args, get_origin

from nodegraph.context import Context
from nodegraph.results import Result
from nodegraph.spec import (
    Boolean,
    Float,
    Hidden,
    Input,
    InputSpec,
    Int,
    NodeSpec,
    Out,
    OutputSpec,
    Section,
    Socket,
    String,
    Widget,
)

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

SPEC_ATTR = "__node_spec__"
_DEFAULT_WIDGETS: dict[type, Callable[[], Widget]] = {
    bool: Boolean,
    int: Int,
    float: Float,
    str: String,
}


class NodeDeclarationError(TypeError):
    """A node declaration is wrong; the message names the node and the parameter."""


def node(
    node_id: str,
    *,
    category: str = "sd",
    display_name: str | None = None,
    output_node: bool = False,
    input_is_list: bool = False,
    outputs: Iterable[Any] | None = None,
    python_module: str | None = None,
    not_idempotent: bool = False,
    version: str = "1",
    deprecated: bool = False,
    experimental: bool = False,
    fingerprint: Callable[..., Any] | None = None,
    validate: Callable[..., Any] | None = None,
    check_lazy: Callable[..., Any] | None = None,
    search_aliases: Iterable[str] = (),
) -> Callable[[F], F]:
    """Declare a function as node `node_id`; the function itself stays callable as is.

    Inputs come from keyword parameters and their annotations; outputs from the return
    annotation (a type, a tuple of types, or `outputs=` when the function returns a Result).
    """

    def decorate(fn: F) -> F:
        spec = build_spec(
            fn,
            node_id,
            category=category,
            display_name=display_name or node_id,
            output_node=output_node,
            input_is_list=input_is_list,
            outputs=outputs,
            python_module=python_module or fn.__module__.split(".")[0],
            not_idempotent=not_idempotent,
            version=version,
            deprecated=deprecated,
            experimental=experimental,
            fingerprint=fingerprint,
            validate=validate,
            check_lazy=check_lazy,
            search_aliases=tuple(search_aliases),
        )
        setattr(fn, SPEC_ATTR, spec)
        return fn

    return decorate


def build_spec(fn: Callable[..., Any], node_id: str, **meta: Any) -> NodeSpec:
    """Derive a NodeSpec from `fn`, failing loudly on anything the engine could not honour."""
    where = f"node {node_id!r}"
    if not isinstance(node_id, str) or not node_id:
        raise NodeDeclarationError(f"node id must be a non-empty string, got {node_id!r}")
    doc = inspect.getdoc(fn)
    if not doc:
        raise NodeDeclarationError(f"{where}: missing docstring (it becomes the description)")
    try:
        hints = typing.get_type_hints(fn, include_extras=True)
    except Exception as ex:
        raise NodeDeclarationError(f"{where}: cannot resolve annotations: {ex}") from ex

    signature = inspect.signature(fn)
    inputs: dict[str, InputSpec] = {}
    context_param: str | None = None
    accepts_extra = False
    for param in signature.parameters.values():
        if param.kind is param.VAR_KEYWORD:
            accepts_extra = True
            continue
        if param.kind in (param.VAR_POSITIONAL, param.POSITIONAL_ONLY):
            raise NodeDeclarationError(
                f"{where}, parameter {param.name!r}: inputs are passed by keyword; "
                "positional-only and *args parameters are not allowed"
            )
        if param.name not in hints:
            raise NodeDeclarationError(f"{where}, parameter {param.name!r}: missing annotation")
        annotation = hints[param.name]
        if annotation is Context:
            context_param = param.name
            continue
        inputs[param.name] = _input_spec(where, param, annotation)

    outputs = _output_specs(
        where, hints.get("return", inspect.Signature.empty), meta.pop("outputs")
    )
    lazy = frozenset(name for name, spec in inputs.items() if spec.lazy)
    check_lazy = meta["check_lazy"]
    if lazy and check_lazy is None:
        raise NodeDeclarationError(
            f"{where}: lazy inputs {sorted(lazy)} need a check_lazy function"
        )
    validate = meta["validate"]
    validate_params, wants_types = _validate_params(where, validate)
    for hook in ("fingerprint", "validate", "check_lazy"):
        if meta[hook] is not None and not callable(meta[hook]):
            raise NodeDeclarationError(f"{where}: {hook} must be callable")
    return NodeSpec(
        id=node_id,
        fn=fn,
        inputs=inputs,
        outputs=outputs,
        description=doc,
        accepts_extra_links=accepts_extra,
        context_param=context_param,
        is_async=inspect.iscoroutinefunction(fn),
        validate_params=validate_params,
        validate_wants_types=wants_types,
        lazy_inputs=lazy,
        has_hidden=any(i.section == "hidden" for i in inputs.values()),
        keyed_by_id=meta["not_idempotent"]
        or any(i.hidden_kind == "UNIQUE_ID" for i in inputs.values()),
        **meta,
    )


def _validate_params(
    where: str, validate: Callable[..., Any] | None
) -> tuple[frozenset[str] | None, bool]:
    if validate is None:
        return frozenset(), False
    params = inspect.signature(validate).parameters
    wants_types = "input_types" in params
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return None, wants_types
    named = frozenset(name for name in params if name not in ("input_types", "settings"))
    return named, wants_types


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """Split `Annotated[T, *meta]` into (T, meta), flattening nested Annotated aliases."""
    metadata: list[Any] = []
    while get_origin(annotation) is Annotated:
        args = get_args(annotation)
        annotation, metadata = args[0], [*args[1:], *metadata]
    return annotation, metadata


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1 and len(get_args(annotation)) == 2:
            return args[0], True
    return annotation, False


def _socket_type(base: Any, metadata: list[Any]) -> str | None:
    for item in metadata:
        if isinstance(item, Socket):
            return item.type
    socket = getattr(base, "__socket_type__", None)
    return socket if isinstance(socket, str) else None


def _input_spec(where: str, param: inspect.Parameter, annotation: Any) -> InputSpec:
    where = f"{where}, parameter {param.name!r}"
    annotation, optional = _strip_optional(annotation)
    base, metadata = _unwrap(annotation)
    if not optional:
        base, optional = _strip_optional(base)
        if optional:
            base, more = _unwrap(base)
            metadata = [*more, *metadata]
    has_default = param.default is not inspect.Parameter.empty
    default = param.default if has_default else None
    if optional and not (has_default and default is None):
        raise NodeDeclarationError(f"{where}: an optional input (X | None) must default to None")
    extra = next((m for m in metadata if isinstance(m, Input)), Input())
    if extra.optional and not has_default:
        raise NodeDeclarationError(f"{where}: an optional input needs a default value")
    optional = optional or extra.optional
    section: Section = "optional" if optional else "required"
    hidden = next((m for m in metadata if isinstance(m, Hidden)), None)
    if hidden is not None:
        return InputSpec(param.name, hidden.kind, "hidden", hidden_kind=hidden.kind)

    widget = next((m for m in metadata if isinstance(m, Widget)), None)
    socket = _socket_type(base, metadata)
    if widget is None and socket is None and base in _DEFAULT_WIDGETS:
        widget = _DEFAULT_WIDGETS[base]()
    if widget is not None:
        type_name = widget.type_name
        if has_default and default is not None:
            problem = widget.check_default(default)
            if problem:
                raise NodeDeclarationError(f"{where}: {problem}")
    elif socket is not None:
        type_name = socket
        if has_default and default is not None:
            raise NodeDeclarationError(f"{where}: a socket input cannot have a default value")
    else:
        raise NodeDeclarationError(
            f"{where}: cannot derive an input type from annotation {annotation!r}; use a "
            "widget (Int, Float, String, Boolean, Combo), Socket('TYPE') or a payload class "
            "with __socket_type__"
        )
    return InputSpec(
        name=param.name,
        type=type_name,
        section=section,
        widget=widget,
        default=default if has_default and default is not None else None,
        has_default=has_default and default is not None,
        tooltip=extra.tooltip,
        lazy=extra.lazy,
        force_input=extra.force_input,
        raw_link=extra.raw_link,
        advanced=extra.advanced,
    )


_PRIMITIVE_SOCKETS = {int: "INT", float: "FLOAT", str: "STRING", bool: "BOOLEAN"}


def _output_spec(where: str, index: int, annotation: Any) -> OutputSpec:
    base, metadata = _unwrap(annotation)
    out = next((m for m in metadata if isinstance(m, Out)), Out())
    socket = _socket_type(base, metadata) or _PRIMITIVE_SOCKETS.get(base)
    if socket is None:
        raise NodeDeclarationError(
            f"{where}, output {index}: cannot derive a socket type from {annotation!r}"
        )
    return OutputSpec(
        type=socket, name=out.name or socket, is_list=out.is_list, tooltip=out.tooltip
    )


def _output_specs(
    where: str, annotation: Any, declared: Iterable[Any] | None
) -> tuple[OutputSpec, ...]:
    if declared is not None:
        return tuple(_output_spec(where, i, a) for i, a in enumerate(declared))
    if annotation is inspect.Signature.empty:
        raise NodeDeclarationError(f"{where}: missing return annotation (use -> None for none)")
    if annotation is None or annotation is type(None) or annotation is Result:
        return ()  # `-> Result` alone: ui only; declare outputs=[...] to add values
    base, _ = _unwrap(annotation)
    if get_origin(base) is tuple:
        return tuple(_output_spec(where, i, a) for i, a in enumerate(get_args(base)))
    return (_output_spec(where, 0, annotation),)


class Registry:
    """The node classes known to one engine; no globals, so tests and servers stay isolated."""

    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}
        self.service_factories: dict[str, Callable[[Any], Any]] = {}

    def add_service(self, name: str, factory: Callable[[Any], Any]) -> None:
        """Provide a long-lived service (built lazily from the settings) to nodes through
        `Context.services[name]`, e.g. the SD library's model manager."""
        self.service_factories[name] = factory

    def add(self, *items: Callable[..., Any] | NodeSpec) -> None:
        """Register decorated functions (or specs); a duplicate id is an error."""
        for item in items:
            spec = item if isinstance(item, NodeSpec) else getattr(item, SPEC_ATTR, None)
            if not isinstance(spec, NodeSpec):
                raise NodeDeclarationError(f"{item!r} is not declared with @node")
            existing = self._specs.get(spec.id)
            if existing is not None and existing.fn is not spec.fn:
                raise NodeDeclarationError(
                    f"node {spec.id!r} is declared twice: {_origin(existing.fn)} and "
                    f"{_origin(spec.fn)}"
                )
            self._specs[spec.id] = spec

    def add_module(self, module: ModuleType) -> None:
        """Register every @node function defined in `module`, in definition order."""
        for value in vars(module).values():
            spec = getattr(value, SPEC_ATTR, None)
            if isinstance(spec, NodeSpec) and value.__module__ == module.__name__:
                self.add(spec)

    def alias(self, alias: str, node_id: str) -> None:
        """Accept an old class name (e.g. "ConditioningAverage ") for an existing node."""
        self._specs[alias] = self._specs[node_id]

    def get(self, node_id: str) -> NodeSpec | None:
        return self._specs.get(node_id)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._specs

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def object_info(self, settings: Any = None) -> dict[str, Any]:
        """ComfyUI's `/object_info` for every node; a node whose info fails is left out."""
        info: dict[str, Any] = {}
        for node_id in self._specs:
            try:
                info[node_id] = node_info(self._specs[node_id], node_id, settings)
            except Exception:
                continue
        return info


def _origin(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def node_info(spec: NodeSpec, name: str | None = None, settings: Any = None) -> dict[str, Any]:
    """The exact `/object_info` entry of one node (comfy-protocol.md §4.3)."""
    sections: dict[str, dict[str, Any]] = {"required": {}, "optional": {}, "hidden": {}}
    for inp in spec.inputs.values():
        if inp.section == "hidden":
            sections["hidden"][inp.name] = inp.type
        else:
            sections[inp.section][inp.name] = inp.config(settings)
    info: dict[str, Any] = {
        "input": {k: v for k, v in sections.items() if v or k == "required"},
        "input_order": {k: list(v) for k, v in sections.items() if v or k == "required"},
        "is_input_list": spec.input_is_list,
        "output": [o.type for o in spec.outputs],
        "output_is_list": [o.is_list for o in spec.outputs],
        "output_name": [o.name for o in spec.outputs],
        "name": name or spec.id,
        "display_name": spec.display_name,
        "description": spec.description,
        "python_module": spec.python_module,
        "category": spec.category,
        "output_node": spec.output_node,
        "search_aliases": list(spec.search_aliases),
    }
    tooltips = [o.tooltip or "" for o in spec.outputs]
    if any(tooltips):
        info["output_tooltips"] = tooltips
    if spec.deprecated:
        info["deprecated"] = True
    if spec.experimental:
        info["experimental"] = True
    return info
