"""SQLite persistence for the prompt queue and history (stdlib sqlite3, numbered migrations).

One database file under the server's data dir. WAL journaling: every committed write survives
a crash or kill -9 of the process. The connection is shared between the event loop and the
worker thread, so every method takes the lock; callers compose several writes atomically with
`transaction()`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIGRATIONS: tuple[str, ...] = (
    # 1: queue, history, counters
    """
    CREATE TABLE queue (
        prompt_id TEXT PRIMARY KEY,
        number REAL NOT NULL,
        seq INTEGER NOT NULL,
        prompt TEXT NOT NULL,
        extra_data TEXT NOT NULL,
        outputs TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'running')),
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        prompt_id TEXT NOT NULL UNIQUE,
        entry TEXT NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """,
)
"""Schema steps; the database's `user_version` says how many have been applied. Append only."""


@dataclass(frozen=True)
class StoredItem:
    """A queue row."""

    prompt_id: str
    number: float
    seq: int
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]
    state: str
    created_ms: int


class Storage:
    """Queue rows, history rows and counters in one SQLite file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path) if str(path) != ":memory:" else path
        if isinstance(self.path, Path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._depth = 0
        self.migrate()

    # -- plumbing ----------------------------------------------------------------------------

    def migrate(self) -> int:
        """Apply the migrations this file has not seen yet; returns the schema version."""
        with self.transaction():
            version = int(self._db.execute("PRAGMA user_version").fetchone()[0])
            if version > len(MIGRATIONS):
                raise RuntimeError(
                    f"{self.path}: schema version {version} is newer than this nodegraph "
                    f"({len(MIGRATIONS)}); upgrade nodegraph or use another --data-dir"
                )
            for number in range(version, len(MIGRATIONS)):
                for statement in MIGRATIONS[number].split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number + 1}")
            return len(MIGRATIONS)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together or not at all (nests: the outermost commits)."""
        with self._lock:
            if self._depth == 0:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                self._depth -= 1
                if self._depth == 0:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if self._depth == 0:
                self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- counters ----------------------------------------------------------------------------

    def counter(self, name: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
            return int(row[0]) if row else 0

    def set_counter(self, name: str, value: int) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, value),
            )

    # -- queue -------------------------------------------------------------------------------

    def add_item(self, item: StoredItem) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO queue(prompt_id, number, seq, prompt, extra_data, outputs, state, "
                "created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.prompt_id,
                    item.number,
                    item.seq,
                    _dump(item.prompt),
                    _dump(item.extra_data),
                    _dump(item.outputs),
                    item.state,
                    item.created_ms,
                ),
            )

    def set_state(self, prompt_id: str, state: str) -> None:
        with self._lock:
            self._db.execute("UPDATE queue SET state = ? WHERE prompt_id = ?", (state, prompt_id))

    def remove_items(self, prompt_ids: list[str]) -> None:
        with self._lock:
            self._db.executemany(
                "DELETE FROM queue WHERE prompt_id = ?", [(pid,) for pid in prompt_ids]
            )

    def items(self) -> list[StoredItem]:
        """Every queue row, in run order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prompt_id, number, seq, prompt, extra_data, outputs, state, created_ms "
                "FROM queue ORDER BY number, seq"
            ).fetchall()
        return [
            StoredItem(
                prompt_id=row[0],
                number=float(row[1]),
                seq=int(row[2]),
                prompt=json.loads(row[3]),
                extra_data=json.loads(row[4]),
                outputs=json.loads(row[5]),
                state=row[6],
                created_ms=int(row[7]),
            )
            for row in rows
        ]

    # -- history -----------------------------------------------------------------------------

    def add_history(self, prompt_id: str, entry: dict[str, Any], summary: dict[str, Any]) -> None:
        """Insert (or replace, moving it to the end) the history entry of a prompt."""
        with self._lock:
            self._db.execute("DELETE FROM history WHERE prompt_id = ?", (prompt_id,))
            self._db.execute(
                "INSERT INTO history(prompt_id, entry, summary) VALUES (?, ?, ?)",
                (prompt_id, _dump(entry), _dump(summary)),
            )

    def trim_history(self, keep: int) -> None:
        """Drop the oldest entries beyond `keep`."""
        with self._lock:
            self._db.execute(
                "DELETE FROM history WHERE seq <= "
                "(SELECT seq FROM history ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                (keep,),
            )

    def history_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM history").fetchone()[0])

    def history(
        self, limit: int | None = None, offset: int = 0
    ) -> list[tuple[str, dict[str, Any]]]:
        """(prompt_id, entry) oldest first, `offset` skipped, at most `limit`."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prompt_id, entry FROM history ORDER BY seq LIMIT ? OFFSET ?",
                (-1 if limit is None else limit, offset),
            ).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    def history_entry(self, prompt_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT entry FROM history WHERE prompt_id = ?", (prompt_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def summaries(self) -> list[dict[str, Any]]:
        """The job summaries of every history entry, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT summary FROM history ORDER BY seq").fetchall()
        return [json.loads(row[0]) for row in rows]

    def delete_history(self, prompt_ids: list[str] | None = None) -> None:
        """Delete these entries, or all of them when `prompt_ids` is None."""
        with self._lock:
            if prompt_ids is None:
                self._db.execute("DELETE FROM history")
            else:
                self._db.executemany(
                    "DELETE FROM history WHERE prompt_id = ?", [(pid,) for pid in prompt_ids]
                )


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
