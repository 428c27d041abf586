"""ComfyUI's "Preview Any" node: shows any value as text in the client."""

from __future__ import annotations

import json
from typing import Annotated, Any

from nodegraph import Result, Socket, node


def render_text(value: Any) -> str:
    """Render `value` as ComfyUI's PreviewAny does (comfy_extras/nodes_preview_any.py)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "None"
    if isinstance(value, int | float | bool):
        return str(value)
    try:
        return json.dumps(value, indent=4)
    except Exception:
        try:
            return str(value)
        except Exception:
            return "source exists, but could not be serialized."


@node("PreviewAny", category="utils", display_name="Preview Any", output_node=True)
def preview_any(*, source: Annotated[Any, Socket("*")]) -> Result:
    """Show any input value as text, to inspect what flows through a graph."""
    return Result(ui={"text": [render_text(source)]})
