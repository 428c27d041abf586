"""Typed execution events; `data()` gives the exact ComfyUI websocket payload."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Event:
    """Base class: `type` is the websocket event name, fields are its data."""

    type: ClassVar[str] = ""

    def data(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class ExecutionStart(Event):
    type: ClassVar[str] = "execution_start"
    prompt_id: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(slots=True)
class ExecutionCached(Event):
    type: ClassVar[str] = "execution_cached"
    nodes: list[str]
    prompt_id: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(slots=True)
class Executing(Event):
    type: ClassVar[str] = "executing"
    node: str | None
    display_node: str | None
    prompt_id: str


@dataclass(slots=True)
class Progress(Event):
    type: ClassVar[str] = "progress"
    value: float
    max: float
    prompt_id: str
    node: str


@dataclass(slots=True)
class Executed(Event):
    type: ClassVar[str] = "executed"
    node: str
    display_node: str
    output: dict[str, Any] | None
    prompt_id: str


@dataclass(slots=True)
class Preview(Event):
    """A binary preview image; the server frames it (never sent as text)."""

    type: ClassVar[str] = "preview"
    node: str
    prompt_id: str
    image_format: str
    image: bytes


@dataclass(slots=True)
class ExecutionSuccess(Event):
    type: ClassVar[str] = "execution_success"
    prompt_id: str
    timestamp: int = field(default_factory=now_ms)


@dataclass(slots=True)
class ExecutionError(Event):
    type: ClassVar[str] = "execution_error"
    prompt_id: str
    node_id: str
    node_type: str
    executed: list[str]
    exception_message: str
    exception_type: str
    traceback: list[str]
    current_inputs: dict[str, Any] | list[Any]
    current_outputs: list[str] | list[Any]
    timestamp: int = field(default_factory=now_ms)


@dataclass(slots=True)
class ExecutionInterrupted(Event):
    type: ClassVar[str] = "execution_interrupted"
    prompt_id: str
    node_id: str | None
    node_type: str | None
    executed: list[str]
    timestamp: int = field(default_factory=now_ms)


EventSink = Callable[[Event], None]
"""Receives events as they happen (a websocket fan-out, a progress bar, a test list)."""
