"""Opening a project database: pragmas, migrations, schema checks and write transactions."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from nerloop.core.store.schema import latest_version, migrations

# Long enough that a training run's bulk read or an import's transaction never surfaces as
# "database is locked" to an annotator; short enough that a wedged peer is reported.
BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """A problem with the project database that the user has to act on."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer nerloop than this one."""


class CorruptDatabaseError(StoreError):
    """The file is not a usable SQLite database."""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StoreBase:
    """The connection and transaction plumbing every table mixin shares."""

    db: Database
    path: Path | None

    def __init__(self, path: Path | str | None) -> None:
        """Open (creating and migrating if needed) the database at `path`; None means in memory."""
        self.path = Path(path) if path is not None else None
        try:
            if self.path is None:
                self.db = Database(memory=True)
            else:
                self.db = Database(self.path)
            self._configure()
            self._migrate()
        except sqlite3.DatabaseError as exc:
            where = self.path or ":memory:"
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreError(f"{where}: the database is locked by another process") from exc
            raise CorruptDatabaseError(
                f"{where}: not a usable nerloop database ({exc}). "
                "Restore it from a backup or start a new project with `nerloop init`."
            ) from exc

    def _configure(self) -> None:
        conn = self.db.conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path is not None:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not switch the database to WAL mode")
            # WAL with synchronous=NORMAL can lose the last transactions on power loss but never
            # corrupts; FULL keeps every committed answer through a power cut, which is the promise.
            conn.execute("PRAGMA synchronous = FULL")

    def schema_version(self) -> int:
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version()
        known = latest_version()
        if current > known:
            raise SchemaTooNewError(
                f"{self.path or ':memory:'}: the database has schema version {current}, "
                f"this nerloop knows up to {known}. Upgrade nerloop (pip install -U nerloop)."
            )
        if current == known:
            return
        with self.write():
            # Re-check under the write lock: another process may have migrated meanwhile.
            if self.schema_version() < known:
                migrations.apply(self.db)
                self.db.conn.execute(f"PRAGMA user_version = {known}")

    @contextmanager
    def write(self) -> Iterator[Database]:
        """One write transaction, taken with BEGIN IMMEDIATE.

        A deferred transaction that reads first and writes later can fail with SQLITE_BUSY at the
        upgrade no matter the busy timeout; IMMEDIATE takes the write lock up front, so concurrent
        writers queue on the busy timeout instead of failing. Nested calls join the outer
        transaction.
        """
        conn = self.db.conn
        if conn.in_transaction:
            with self.db.atomic():
                yield self.db
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        return list(self.db.query(sql, params or ()))

    def scalar(self, sql: str, params: Any = None) -> Any:
        row = self.db.conn.execute(sql, params or ()).fetchone()
        return None if row is None else row[0]

    def integrity_check(self) -> str:
        return str(self.scalar("PRAGMA integrity_check"))

    def close(self) -> None:
        self.db.close()
