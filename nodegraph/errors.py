"""Validation errors as dataclasses, rendered to ComfyUI's exact JSON shapes at the edge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class InputError:
    """One entry of `node_errors[id].errors` (comfy-protocol.md §1.3): type, message,
    details and extra_info."""

    type: str
    message: str
    details: str = ""
    extra_info: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "message": self.message,
            "details": self.details,
            "extra_info": self.extra_info,
        }


@dataclass
class NodeErrors:
    """All errors of one node, and the output nodes they keep from running."""

    class_type: str
    errors: list[InputError] = field(default_factory=list)
    dependent_outputs: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "errors": [e.to_json() for e in self.errors],
            "dependent_outputs": self.dependent_outputs,
            "class_type": self.class_type,
        }


class PromptError(InputError):
    """The top-level `error` object of a rejected prompt (same four fields)."""


def required_input_missing(name: str) -> InputError:
    return InputError(
        "required_input_missing", "Required input is missing", name, {"input_name": name}
    )


def bad_linked_input(name: str, config: Any, value: Any) -> InputError:
    return InputError(
        "bad_linked_input",
        "Bad linked input, must be a length-2 list of [node_id, slot_index]",
        name,
        {"input_name": name, "input_config": config, "received_value": value},
    )


def return_type_mismatch(
    name: str, config: Any, received: str, expected: str, link: list[Any]
) -> InputError:
    return InputError(
        "return_type_mismatch",
        "Return type mismatch between linked nodes",
        f"{name}, received_type({received}) mismatch input_type({expected})",
        {
            "input_name": name,
            "input_config": config,
            "received_type": received,
            "linked_node": link,
        },
    )


def invalid_input_type(
    name: str, config: Any, type_name: str, value: Any, ex: Exception
) -> InputError:
    return InputError(
        "invalid_input_type",
        f"Failed to convert an input value to a {type_name} value",
        f"{name}, {value}, {ex}",
        {
            "input_name": name,
            "input_config": config,
            "received_value": value,
            "exception_message": str(ex),
        },
    )


def out_of_range(name: str, config: Any, value: Any, bound: Any, *, below: bool) -> InputError:
    if below:
        kind, message = "value_smaller_than_min", f"Value {value} smaller than min of {bound}"
    else:
        kind, message = "value_bigger_than_max", f"Value {value} bigger than max of {bound}"
    return InputError(
        kind, message, name, {"input_name": name, "input_config": config, "received_value": value}
    )


def value_not_in_list(name: str, config: Any, value: Any, choices: list[str]) -> InputError:
    shown = f"(list of length {len(choices)})" if len(choices) > 20 else str(choices)
    if not choices:
        shown += " (the list is empty: is the model folder missing or empty?)"
    return InputError(
        "value_not_in_list",
        "Value not in list",
        f"{name}: '{value}' not in {shown}",
        {
            "input_name": name,
            "input_config": None if len(choices) > 20 else config,
            "received_value": value,
        },
    )


def custom_validation_failed(name: str, returned: Any) -> InputError:
    details = name if returned is False else f"{name} - {returned}"
    return InputError(
        "custom_validation_failed",
        "Custom validation failed for node",
        details,
        {"input_name": name},
    )


def exception_during_validation(
    details: str, exception_type: str, traceback: list[str] | None = None, **extra: Any
) -> InputError:
    return InputError(
        "exception_during_validation",
        "Exception when validating node",
        details,
        {"exception_type": exception_type, "traceback": traceback or [], **extra},
    )


def unhashable_input(name: str, value: Any, ex: Exception) -> InputError:
    return InputError(
        "unhashable_input_value",
        "Input value cannot be fingerprinted for the cache",
        f"{name}: {type(value).__name__} value has no stable fingerprint ({ex})",
        {"input_name": name, "exception_message": str(ex)},
    )


def dependency_cycle(node_id: str, cycle: list[str], classes: dict[str, str]) -> InputError:
    path = " -> ".join(f"{n} ({classes.get(n, '?')})" for n in cycle)
    return InputError(
        "dependency_cycle",
        "Dependency cycle detected",
        path,
        {"node_id": node_id, "cycle_nodes": cycle[:-1]},
    )
