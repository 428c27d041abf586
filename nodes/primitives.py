"""ComfyUI's backend primitive nodes (comfy_extras/nodes_primitive.py): one constant each."""

from __future__ import annotations

import sys
from typing import Annotated

from nodegraph import Boolean, Float, Int, String, node

CATEGORY = "utils/primitive"


@node("PrimitiveString", category=CATEGORY, display_name="String")
def primitive_string(*, value: Annotated[str, String()]) -> str:
    """Provide a single-line string constant for other nodes' inputs."""
    return value


@node("PrimitiveStringMultiline", category=CATEGORY, display_name="String (Multiline)")
def primitive_string_multiline(*, value: Annotated[str, String(multiline=True)]) -> str:
    """Provide a multi-line string constant for other nodes' inputs."""
    return value


@node("PrimitiveInt", category=CATEGORY, display_name="Int")
def primitive_int(
    *,
    value: Annotated[int, Int(min=-sys.maxsize, max=sys.maxsize, control_after_generate=True)],
) -> int:
    """Provide an integer constant (with a fixed/increment/randomize control) for other nodes."""
    return value


@node("PrimitiveFloat", category=CATEGORY, display_name="Float")
def primitive_float(*, value: Annotated[float, Float(min=-sys.maxsize, max=sys.maxsize)]) -> float:
    """Provide a floating-point constant for other nodes' inputs."""
    return value


@node("PrimitiveBoolean", category=CATEGORY, display_name="Boolean")
def primitive_boolean(*, value: Annotated[bool, Boolean()]) -> bool:
    """Provide a true/false constant for other nodes' inputs."""
    return value
