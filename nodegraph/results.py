"""What a node function may return besides plain values: UI data and execution blockers."""

from __future__ import annotations

from typing import Any


class Result:
    """Output values plus a `ui` dict (lists per key) shown by clients and kept in history."""

    __slots__ = ("ui", "values")

    def __init__(self, *values: Any, ui: dict[str, list[Any]] | None = None) -> None:
        self.values = values
        self.ui = ui


class ExecutionBlocker:
    """Returned in place of a value to stop everything downstream of it (ComfyUI semantics).

    With a message, an output node reached by the blocker reports it as an error event.
    """

    __slots__ = ("message",)

    def __init__(self, message: str | None = None) -> None:
        self.message = message

    def __repr__(self) -> str:
        return f"ExecutionBlocker({self.message!r})"
