"""Long-lived objects that node libraries provide (e.g. a model manager), made on first use.

A node library registers a factory with `Registry.add_service`; each Engine owns one instance
per service for its lifetime, so loaded models survive between prompts without globals.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

ServiceFactory = Callable[[Any], Any]
"""Called with the engine's Settings; returns the service object."""


class Services(Mapping[str, Any]):
    """A lazy mapping: a service is built by its factory the first time a node asks for it."""

    def __init__(
        self,
        factories: Mapping[str, ServiceFactory],
        settings: Any,
        given: Mapping[str, Any] | None = None,
    ) -> None:
        self._factories = dict(factories)
        self._settings = settings
        self._made: dict[str, Any] = dict(given or {})
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> Any:
        if name in self._made:
            return self._made[name]
        factory = self._factories[name]
        with self._lock:
            if name not in self._made:
                self._made[name] = factory(self._settings)
            return self._made[name]

    def __iter__(self) -> Iterator[str]:
        return iter({**self._factories, **self._made})

    def __len__(self) -> int:
        return len({**self._factories, **self._made})

    def created(self) -> dict[str, Any]:
        """The services built so far (nothing is built by asking)."""
        return dict(self._made)

    def free(self) -> None:
        """Ask every built service to release what it holds (ComfyUI's /free unload_models)."""
        for service in self.created().values():
            release = getattr(service, "free", None)
            if callable(release):
                release()
