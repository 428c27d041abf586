"""Node output cache keyed by content (Merkle keys): LRU with entry and byte budgets, or none."""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Protocol

from nodegraph.settings import CacheSettings


@dataclass(slots=True)
class CacheEntry:
    """A node's outputs (one list per output slot) and its ui dict."""

    outputs: tuple[list[Any], ...]
    ui: dict[str, Any] | None
    nbytes: int = 0


class OutputCache(Protocol):
    """What the executor needs from a cache."""

    def get(self, key: bytes) -> CacheEntry | None: ...

    def put(self, key: bytes, entry: CacheEntry) -> None: ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...

    def clear(self) -> None: ...


class NullCache:
    """Caches nothing: every node runs on every prompt (ComfyUI's --cache-none)."""

    def get(self, key: bytes) -> CacheEntry | None:
        return None

    def put(self, key: bytes, entry: CacheEntry) -> None:
        return None

    def __contains__(self, key: object) -> bool:
        return False

    def __len__(self) -> int:
        return 0

    def clear(self) -> None:
        return None


class LRUCache:
    """Least-recently-used eviction under an entry count and an (estimated) byte budget."""

    def __init__(self, max_entries: int = 10_000, max_bytes: int | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.evictions = 0
        self._entries: OrderedDict[bytes, CacheEntry] = OrderedDict()

    def get(self, key: bytes) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: bytes, entry: CacheEntry) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        if self.max_bytes is not None:
            entry.nbytes = estimate_size(entry.outputs)
            if entry.nbytes > self.max_bytes:
                return  # larger than the whole budget: keeping it would evict everything
            self.nbytes += entry.nbytes
        self._entries[key] = entry
        self._evict()

    def _evict(self) -> None:
        entries = self._entries
        while len(entries) > self.max_entries or (
            self.max_bytes is not None and self.nbytes > self.max_bytes and entries
        ):
            _, dropped = entries.popitem(last=False)
            self.nbytes -= dropped.nbytes
            self.evictions += 1

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()
        self.nbytes = 0


def make_cache(settings: CacheSettings) -> OutputCache:
    """Build the cache that `settings.mode` names."""
    if settings.mode == "none":
        return NullCache()
    if settings.mode == "lru":
        return LRUCache(settings.max_entries, settings.max_bytes)
    raise ValueError(f"unknown cache mode {settings.mode!r} (expected 'lru' or 'none')")


_SCALARS = frozenset({int, float, bool, str, bytes, type(None)})


def estimate_size(value: Any, _depth: int = 0) -> int:
    """Bytes held by a value: `__nbytes__()` or `.nbytes` (tensors, arrays) where offered,
    containers and dataclasses summed, anything else by sys.getsizeof."""
    if type(value) in _SCALARS:
        return sys.getsizeof(value)
    if _depth > 16:
        return 0
    custom = getattr(value, "__nbytes__", None)
    if callable(custom):
        return int(custom())
    if isinstance(value, str | bytes | int | float | bool) or value is None:
        return sys.getsizeof(value)
    nbytes = getattr(value, "nbytes", None)
    if isinstance(nbytes, int):
        return nbytes
    if isinstance(value, dict):
        return sum(estimate_size(v, _depth + 1) for v in value.values()) + sys.getsizeof(value)
    if isinstance(value, list | tuple | set | frozenset):
        return sum(estimate_size(v, _depth + 1) for v in value) + sys.getsizeof(value)
    if is_dataclass(value) and not isinstance(value, type):
        return sum(estimate_size(getattr(value, f.name), _depth + 1) for f in fields(value))
    return sys.getsizeof(value)
