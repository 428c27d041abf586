"""Capabilities handed to a running node: progress, interrupt checks, previews, folders."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodegraph.settings import Settings


class Interrupted(Exception):
    """Raised inside a run when the user interrupted it."""


class InterruptFlag:
    """A thread-safe flag set by /interrupt or Ctrl-C and checked between nodes and steps."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise Interrupted when the flag is set."""
        if self._event.is_set():
            raise Interrupted("Processing interrupted")


@dataclass
class Context:
    """Passed to nodes that declare a `Context` parameter; never a global."""

    node_id: str
    prompt_id: str
    settings: Settings
    interrupt: InterruptFlag
    on_progress: Callable[[str, float, float], None] = lambda node, value, total: None
    on_preview: Callable[[str, str, bytes], None] = lambda node, fmt, data: None
    services: Mapping[str, Any] = field(default_factory=dict)

    @property
    def output_dir(self) -> Path:
        return self.settings.output_dir

    @property
    def input_dir(self) -> Path:
        return self.settings.input_dir

    @property
    def temp_dir(self) -> Path:
        return self.settings.temp_dir

    @property
    def models_dir(self) -> Path:
        return self.settings.models_dir

    def check_interrupt(self) -> None:
        """Raise Interrupted if the user asked to stop; call this in long loops."""
        self.interrupt.check()

    def progress(self, value: float, total: float) -> None:
        """Report progress (e.g. a sampling step); also an interrupt point."""
        self.interrupt.check()
        self.on_progress(self.node_id, value, total)

    def preview(self, image_format: str, data: bytes) -> None:
        """Send an encoded preview image ("JPEG" or "PNG") to clients that want previews."""
        if self.settings.previews != "none":
            self.on_preview(self.node_id, image_format, data)
