"""API-format prompts parsed once: links become Link objects, wrapped literals are unwrapped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from nodegraph import schema


class Link(NamedTuple):
    """A connection from output `slot` of node `node_id`."""

    node_id: str
    slot: int


@dataclass(frozen=True)
class BadLink:
    """A list value that is not a valid `[node_id, slot]` pair; validation reports it."""

    raw: Any


class PromptFormatError(ValueError):
    """The prompt is not an object of node objects; carries ComfyUI's prompt-level error."""

    def __init__(self, error_type: str, message: str, details: str = "", **extra: Any) -> None:
        super().__init__(f"{message} {details}".strip())
        self.error_type = error_type
        self.message = message
        self.details = details
        self.extra_info = extra


@dataclass
class PromptNode:
    """One node of a prompt: literals and Links by input name, plus coerced/derived state."""

    id: str
    class_type: Any
    inputs: dict[str, Any]
    title: str | None = None
    literal_sig: str = ""
    fingerprint: Any = None


Prompt = dict[str, PromptNode]


def parse_value(value: Any) -> Any:
    """Turn one raw input value into a literal, a Link or a BadLink (ComfyUI's rules)."""
    kind = type(value)
    if kind is list:
        if len(value) == 2 and type(value[0]) in (str, int):
            slot = value[1]
            if type(slot) is int:
                return Link(str(value[0]), slot)
            if type(slot) is float and slot.is_integer():
                return Link(str(value[0]), int(slot))
        return BadLink(value)
    if kind is dict and len(value) == 1 and "__value__" in value:
        return value["__value__"]
    return value


def parse_prompt(data: Any) -> Prompt:
    """Parse an API-format prompt `{id: {class_type, inputs, _meta}}`.

    The shape is that of schemas/api_prompt.schema.json; checking it by hand here keeps
    large prompts fast, and the schema explains any violation. A missing class_type is kept
    as None so that validation reports it in ComfyUI's own words.
    """
    if not isinstance(data, dict):
        raise _structure_error(data)
    prompt: Prompt = {}
    for raw_id, raw in data.items():
        node_id = str(raw_id)
        if type(raw) is not dict:
            raise _structure_error(data)
        raw_inputs = raw.get("inputs", {})
        meta = raw.get("_meta")
        title = meta.get("title") if type(meta) is dict else None
        if type(raw_inputs) is not dict or not (title is None or type(title) is str):
            raise _structure_error(data)
        prompt[node_id] = PromptNode(
            id=node_id,
            class_type=raw.get("class_type"),
            inputs={str(k): parse_value(v) for k, v in raw_inputs.items()},
            title=title,
        )
    return prompt


def _structure_error(data: Any) -> PromptFormatError:
    error = schema.first_error(schema.API_PROMPT, data)
    if error is None:  # cannot happen while the hand checks mirror the schema
        return PromptFormatError("invalid_prompt", "Invalid prompt", "malformed prompt")
    prefix, where = "", schema.error_path(error)
    if error.absolute_path:  # name the node the way ComfyUI's messages do
        prefix, where = f"Node ID '#{error.absolute_path[0]}': ", schema.error_path(error, 1)
    return PromptFormatError(
        "invalid_prompt",
        "Invalid prompt",
        f"{prefix}{where + ': ' if where else ''}{error.message}",
    )


def to_api(prompt: Prompt) -> dict[str, Any]:
    """Render a parsed prompt back to API JSON (coerced values included), e.g. for PNG info."""
    out: dict[str, Any] = {}
    for node_id, node in prompt.items():
        inputs: dict[str, Any] = {}
        for name, value in node.inputs.items():
            if isinstance(value, Link):
                inputs[name] = [value.node_id, value.slot]
            elif isinstance(value, BadLink):
                inputs[name] = value.raw
            elif isinstance(value, list):
                inputs[name] = {"__value__": value}
            else:
                inputs[name] = value
        entry: dict[str, Any] = {"inputs": inputs, "class_type": node.class_type}
        if node.title is not None:
            entry["_meta"] = {"title": node.title}
        out[node_id] = entry
    return out
