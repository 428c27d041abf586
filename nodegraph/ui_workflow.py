"""Convert ComfyUI litegraph UI workflows (schema 0.4 and 1) into API-format prompts."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from nodegraph import schema

__all__ = ["WorkflowFormatError", "is_ui_workflow", "ui_to_api"]

NodeInfo = Callable[[str], dict[str, Any] | None]

# Node types that exist only in the browser and never reach the server.
FRONTEND_ONLY_TYPES: Final = frozenset({"Reroute", "PrimitiveNode", "Note", "MarkdownNote"})
MODE_MUTED: Final = 2
MODE_BYPASS: Final = 4
# Input types the frontend draws as widgets, so they own a slot in widgets_values.
WIDGET_TYPES: Final = frozenset({"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"})
# Values of the frontend's "control_after_generate" widget (old workflows stored a bool).
CONTROL_VALUES: Final = frozenset({"fixed", "increment", "decrement", "randomize"})
LEGACY_SEED_NAMES: Final = frozenset({"seed", "noise_seed"})
UPLOAD_FLAGS: Final = ("image_upload", "video_upload", "animated_image_upload", "audio_upload")
UPLOAD_BUTTON_VALUES: Final = frozenset({"image", "video", "audio", "upload"})


class WorkflowFormatError(ValueError):
    """A UI workflow that cannot be converted; the message names the node or link at fault."""


def is_ui_workflow(data: object) -> bool:
    """Tell a litegraph UI workflow (a dict with a "nodes" list) from an API prompt."""
    return isinstance(data, dict) and isinstance(data.get("nodes"), list)


def ui_to_api(workflow: dict[str, Any], node_info: NodeInfo) -> dict[str, Any]:
    """Build the API prompt the frontend's graphToPrompt would send for `workflow`.

    `node_info(class_type)` returns the /object_info entry of a class, or None when unknown;
    unknown classes are kept so that prompt validation can report them.
    """
    _validate_structure(workflow)
    return _Converter(workflow, node_info).convert()


def _validate_structure(workflow: object) -> None:
    """Reject malformed workflows up front so conversion can trust the shapes it reads."""
    error = schema.first_error(schema.UI_WORKFLOW, workflow)
    if error is None:
        return
    where = schema.error_path(error)
    path = list(error.absolute_path)
    if len(path) >= 2 and path[0] == "nodes" and isinstance(path[1], int):
        node = workflow["nodes"][path[1]] if isinstance(workflow, dict) else None
        if isinstance(node, dict) and "id" in node:  # point at the node the user can find
            rest = schema.error_path(error, 2)
            where = f"nodes[{path[1]}] (node {node['id']!r}){'.' + rest if rest else ''}"
    raise WorkflowFormatError(f"invalid UI workflow at {where or 'top level'}: {error.message}")


@dataclass(frozen=True)
class _Link:
    """One link, whatever the schema version stored it as."""

    id: int
    origin_id: str
    origin_slot: int
    type: object


@dataclass(frozen=True)
class _Literal:
    """A constant that replaces a link, e.g. the value of a PrimitiveNode."""

    value: Any


class _Outcome(enum.Enum):
    """Link resolutions that produce no `[id, slot]` pair."""

    UNLINKED = "unlinked"  # behave as if not connected: the widget value, if any, is used
    DROPPED = "dropped"  # leave the input out entirely


_Resolved = tuple[str, int] | _Literal | _Outcome
_MISSING: Final = object()


def _wrap(value: Any) -> Any:
    """Wrap list literals, because the server reads every list as a link."""
    return {"__value__": value} if isinstance(value, list) else value


def _types_match(a: object, b: object) -> bool:
    """litegraph's isValidConnection: wildcards match, comma unions match by intersection."""
    if a in (None, "", "*") or b in (None, "", "*") or a == b:
        return True
    if not isinstance(a, str) or not isinstance(b, str):
        return False
    return bool(set(a.lower().split(",")) & set(b.lower().split(",")))


def _split_spec(spec: object) -> tuple[object, dict[str, Any]]:
    """Split an INPUT_TYPES entry `[TYPE, {opts}]` into its type and options."""
    if isinstance(spec, list | tuple) and spec:
        opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
        return spec[0], opts
    return spec, {}


def _declared_inputs(info: Mapping[str, Any]) -> Iterator[tuple[str, object]]:
    """Yield (name, spec) for required then optional inputs, honouring `input_order`."""
    sections = info.get("input") or {}
    order = info.get("input_order")
    for section in ("required", "optional"):
        specs = sections.get(section) or {}
        if not isinstance(specs, dict):
            continue
        names = order.get(section) if isinstance(order, dict) else None
        for name in names if isinstance(names, list) else list(specs):
            if name in specs:
                yield name, specs[name]


def _is_widget(type_: object, opts: Mapping[str, Any], ui_input: Mapping[str, Any] | None) -> bool:
    """Decide whether an input owns a widgets_values slot.

    Standard widget types do, unless `forceInput` made them plain sockets; any other type only
    when the saved node marks the socket as a converted widget (`"widget": {...}`).
    """
    has_widget_entry = ui_input is not None and isinstance(ui_input.get("widget"), dict)
    standard = isinstance(type_, list) or (isinstance(type_, str) and type_ in WIDGET_TYPES)
    if not standard or opts.get("forceInput"):
        return has_widget_entry
    return True


def _extra_widget_values(name: str, type_: object, opts: Mapping[str, Any], following: Any) -> int:
    """Count the non-serialised widget values saved right after an input's own value."""
    controlled = bool(opts.get("control_after_generate")) or (
        type_ == "INT" and name in LEGACY_SEED_NAMES
    )
    if controlled and (
        following is None
        or isinstance(following, bool)
        or (isinstance(following, str) and following in CONTROL_VALUES)
    ):
        return 1
    uploads = any(opts.get(flag) for flag in UPLOAD_FLAGS)
    if uploads and (
        following is None or (isinstance(following, str) and following in UPLOAD_BUTTON_VALUES)
    ):
        return 1
    return 0


class _Converter:
    """One conversion run: indexes the workflow once, then emits nodes in execution order."""

    def __init__(self, workflow: dict[str, Any], node_info: NodeInfo) -> None:
        self.node_info = node_info
        self.nodes: dict[str, dict[str, Any]] = {}
        for node in workflow["nodes"]:
            key = str(node["id"])
            if key in self.nodes:
                raise WorkflowFormatError(f"node id {node['id']!r} appears more than once")
            self.nodes[key] = node
        self.links: dict[int, _Link] = {}
        for raw in workflow.get("links") or []:
            link = self._parse_link(raw)
            self.links[link.id] = link  # the frontend keeps the last of duplicate ids
        definitions = workflow.get("definitions") or {}
        self.subgraph_ids = {
            str(sg["id"]) for sg in definitions.get("subgraphs") or [] if "id" in sg
        }

    @staticmethod
    def _parse_link(raw: Sequence[Any] | Mapping[str, Any]) -> _Link:
        """Normalise a v0.4 link array or a v1 link object."""
        if isinstance(raw, Mapping):
            return _Link(
                int(raw["id"]), str(raw["origin_id"]), int(raw["origin_slot"]), raw.get("type")
            )
        link_type = raw[5] if len(raw) > 5 else None
        return _Link(int(raw[0]), str(raw[1]), int(raw[2]), link_type)

    def convert(self) -> dict[str, Any]:
        """Emit every executable node, then drop links that point at nodes left out."""
        output: dict[str, Any] = {}
        ordered = sorted(
            enumerate(self.nodes.values()),
            key=lambda item: (item[1].get("order", float("inf")), item[0]),
        )
        for _, node in ordered:
            class_type = node["type"]
            if class_type in self.subgraph_ids:
                raise WorkflowFormatError(
                    f"node {node['id']!r} is an instance of subgraph {class_type!r}: "
                    "subgraphs are not supported yet"
                )
            if class_type in FRONTEND_ONLY_TYPES or node.get("mode") in (MODE_MUTED, MODE_BYPASS):
                continue
            info = self.node_info(class_type)
            inputs = self._known_inputs(node, info) if info else self._unknown_inputs(node)
            title = node.get("title")
            if not isinstance(title, str) or not title:
                title = (info or {}).get("display_name") or class_type
            output[str(node["id"])] = {
                "class_type": class_type,
                "inputs": inputs,
                "_meta": {"title": title},
            }
        for entry in output.values():
            inputs = entry["inputs"]
            for name in [n for n, v in inputs.items() if isinstance(v, list) and len(v) == 2]:
                if inputs[name][0] not in output:
                    del inputs[name]
        return output

    def _known_inputs(self, node: dict[str, Any], info: Mapping[str, Any]) -> dict[str, Any]:
        """Walk declared inputs in object_info order, pairing widgets with widgets_values."""
        ui_inputs = {i["name"]: i for i in node.get("inputs") or []}
        values = node.get("widgets_values")
        positional = values if isinstance(values, list) else None
        by_name = values if isinstance(values, dict) else {}
        cursor = 0
        inputs: dict[str, Any] = {}
        for name, spec in _declared_inputs(info):
            type_, opts = _split_spec(spec)
            ui_input = ui_inputs.get(name)
            value: Any = _MISSING
            if _is_widget(type_, opts, ui_input):
                if positional is not None and cursor < len(positional):
                    value = positional[cursor]
                    cursor += 1
                    following = positional[cursor] if cursor < len(positional) else _MISSING
                    if following is not _MISSING:
                        cursor += _extra_widget_values(name, type_, opts, following)
                elif name in by_name:
                    value = by_name[name]
            self._store(inputs, name, self._resolve_input(node, ui_input), value)
        sections = info.get("input") or {}
        declared = {n for s in sections.values() if isinstance(s, dict) for n in s}
        for name, ui_input in ui_inputs.items():
            if name not in declared:  # variadic/dynamic sockets travel as undeclared links
                self._store(inputs, name, self._resolve_input(node, ui_input), _MISSING)
        return inputs

    def _unknown_inputs(self, node: dict[str, Any]) -> dict[str, Any]:
        """Keep what can be kept without a definition: dict widget values and links."""
        values = node.get("widgets_values")
        inputs = {k: _wrap(v) for k, v in values.items()} if isinstance(values, dict) else {}
        for ui_input in node.get("inputs") or []:
            name = ui_input["name"]
            self._store(
                inputs, name, self._resolve_input(node, ui_input), inputs.get(name, _MISSING)
            )
        return inputs

    @staticmethod
    def _store(inputs: dict[str, Any], name: str, resolved: _Resolved, value: Any) -> None:
        """Write one input: a link or literal wins over the widget value; DROPPED removes it."""
        if isinstance(resolved, tuple):
            inputs[name] = list(resolved)
        elif isinstance(resolved, _Literal):
            inputs[name] = _wrap(resolved.value)
        elif resolved is _Outcome.UNLINKED and value is not _MISSING:
            inputs[name] = _wrap(value)
        else:
            inputs.pop(name, None)

    def _resolve_input(self, node: dict[str, Any], ui_input: Mapping[str, Any] | None) -> _Resolved:
        """Resolve the link feeding `ui_input`, or UNLINKED when it has none."""
        if ui_input is None or ui_input.get("link") is None:
            return _Outcome.UNLINKED
        return self._resolve_link(int(ui_input["link"]), node)

    def _resolve_link(self, link_id: int, consumer: dict[str, Any]) -> _Resolved:
        """Follow a link through Reroutes and bypassed nodes to the node that really feeds it."""
        seen: set[int] = set()
        while True:
            if link_id in seen:
                raise WorkflowFormatError(
                    f"link {link_id} into node {consumer['id']!r} loops through "
                    "Reroute or bypassed nodes"
                )
            seen.add(link_id)
            link = self.links.get(link_id)
            origin = self.nodes.get(link.origin_id) if link else None
            if link is None or origin is None:
                return _Outcome.UNLINKED  # dangling link: the frontend ignores it
            if origin["type"] == "Reroute":
                next_id = self._input_link(origin, 0)
            elif origin["type"] == "PrimitiveNode":
                values = origin.get("widgets_values")
                if isinstance(values, list) and values:
                    return _Literal(values[0])
                return _Outcome.UNLINKED
            elif origin.get("mode") == MODE_BYPASS:
                slot = self._bypass_input_slot(origin, link)
                if slot is None:
                    return _Outcome.DROPPED
                next_id = self._input_link(origin, slot)
                if next_id is None:
                    return _Outcome.DROPPED
            else:
                return (link.origin_id, link.origin_slot)
            if next_id is None:
                return _Outcome.UNLINKED
            link_id = next_id

    @staticmethod
    def _input_link(node: Mapping[str, Any], slot: int) -> int | None:
        """The link id plugged into input `slot` of `node`, if any."""
        node_inputs = node.get("inputs") or []
        if slot >= len(node_inputs) or node_inputs[slot].get("link") is None:
            return None
        return int(node_inputs[slot]["link"])

    @staticmethod
    def _bypass_input_slot(node: Mapping[str, Any], link: _Link) -> int | None:
        """Pick the input a bypassed node passes through to output `link.origin_slot`.

        Like the frontend: the input with the same index if its type fits, else the first input
        of exactly the output's type.
        """
        node_inputs = node.get("inputs") or []
        outputs = node.get("outputs") or []
        slot = link.origin_slot
        out_type = outputs[slot].get("type", link.type) if 0 <= slot < len(outputs) else link.type
        if not node_inputs:
            return None
        if out_type in (None, "", "*"):
            return slot if slot < len(node_inputs) else 0
        if slot < len(node_inputs) and _types_match(node_inputs[slot].get("type"), out_type):
            return slot
        for i, ui_input in enumerate(node_inputs):
            if ui_input.get("type") == out_type:
                return i
        return None
