"""Shows a headless run's events: a tqdm bar on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

from nodegraph import events as ev


class ProgressPrinter:
    """An event sink for `nodegraph run`; `class_of` maps node ids to class names."""

    def __init__(self, class_of: dict[str, str], stream: TextIO | None = None) -> None:
        self.class_of = class_of
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._bar: Any = None
        self._last_shown: tuple[str, int] | None = None

    def __call__(self, event: ev.Event) -> None:
        if isinstance(event, ev.ExecutionCached) and event.nodes:
            self._line(f"cached: {len(event.nodes)} node(s) reused ({', '.join(event.nodes)})")
        elif isinstance(event, ev.Executing) and event.node is not None:
            self._close_bar()
            self._line(f"executing {event.node} ({self.class_of.get(event.node, '?')})")
        elif isinstance(event, ev.Progress):
            self._progress(event)
        elif isinstance(event, ev.ExecutionError | ev.ExecutionInterrupted | ev.ExecutionSuccess):
            self._close_bar()

    def _progress(self, event: ev.Progress) -> None:
        total = max(int(event.max), 1)
        value = int(event.value)
        if self.tty:
            if self._bar is None:
                from tqdm import tqdm

                label = f"{event.node} {self.class_of.get(event.node, '')}".strip()
                self._bar = tqdm(total=total, desc=label, file=self.stream, leave=True)
            self._bar.total = total
            self._bar.n = value
            self._bar.refresh()
            return
        step = max(total // 10, 1)
        shown = (event.node, value)
        if (value % step == 0 or value == total) and shown != self._last_shown:
            self._last_shown = shown
            self._line(f"progress {event.node}: {value}/{total}")

    def _close_bar(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)
