"""Opening a project database: pragmas, migrations, schema checks and write transactions."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from sqlite_utils import Database

from nerloop.core.store.schema import MIGRATION_SET, latest_version, migrations

# Long enough that a training run's bulk read or an import's transaction never surfaces as
# "database is locked" to an annotator; short enough that a wedged peer is reported.
BUSY_TIMEOUT_MS = 30_000


class StoreError(Exception):
    """A problem with the project database that the user has to act on."""


class SchemaTooNewError(StoreError):
    """The database was written by a newer nerloop than this one."""


class CorruptDatabaseError(StoreError):
    """The file is not a usable SQLite database."""


class ForeignDatabaseError(StoreError):
    """The file exists but was not made by nerloop (empty, or another program's database)."""


class ReadOnlyError(StoreError):
    """A write was asked of a project opened read-only (its file or folder is not writable)."""


def connect_read_only(path: Path) -> sqlite3.Connection:
    """A connection that cannot change a byte of `path`: no WAL switch, no migration, and no
    -shm or -journal made beside it."""
    from urllib.parse import quote

    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as exc:
        if "unable to open" not in str(exc):
            conn.close()
            raise
        # A WAL database in a folder this process cannot write: SQLite cannot make the -shm it
        # reads through. Read the file as it stands instead (a clean close leaves no -wal, so
        # nothing committed is missed unless a writer with more rights is at work right now).
        conn.close()
        conn = sqlite3.connect(uri + "&immutable=1", uri=True)
    return conn


def probe(path: Path) -> int:
    """The schema version of the nerloop database at `path`, read without writing anything.

    Raises ForeignDatabaseError for an empty file or a database without nerloop's schema, and
    sqlite3.DatabaseError for a file that is not SQLite at all.
    """
    if path.stat().st_size == 0:
        raise ForeignDatabaseError(
            f"{path}: an empty file, not a nerloop database; nerloop leaves it untouched. "
            "If it was made by mistake, remove it and run `nerloop init`."
        )
    conn = connect_read_only(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        ours = "_sqlite_migrations" in tables and bool(
            conn.execute(
                "SELECT 1 FROM _sqlite_migrations WHERE migration_set = ? LIMIT 1",
                (MIGRATION_SET,),
            ).fetchone()
        )
    finally:
        conn.close()
    # Only sqlite-utils' migrations table: a nerloop that was stopped while creating the file.
    unfinished = tables == {"_sqlite_migrations"}
    if not unfinished and (not ours or version < 1):
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise ForeignDatabaseError(
            f"{path}: not a nerloop database ("
            + (f"it holds other tables: {shown}" if tables else "it holds no tables")
            + "); nerloop leaves it untouched. Use another folder for the project."
        )
    return version


def writable(path: Path) -> bool:
    """Whether this process may write the database file and make its -wal/-shm beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


UNDO_LOGS = {"answers": ("proposal_id", "answer"), "text_marks": ("text_id", "mark")}
"""The append-only logs, where an undo is a row naming the row it takes back: table -> (the
column the undo row copies from it, the column that says `undo` and names a row in errors)."""


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StoreBase:
    """The connection and transaction plumbing every table mixin shares."""

    db: Database
    path: Path | None

    read_only: bool = False
    """Opened without write access: reading works, every write raises ReadOnlyError."""

    def __init__(self, path: Path | str | None) -> None:
        """Open the database at `path` (None: in memory), migrating it if needed.

        A missing file is created. An existing file is first read without writing (`probe`):
        one that nerloop did not make, or one from a newer nerloop, is refused byte for byte
        untouched. A file this process cannot write opens read-only.
        """
        self.path = Path(path) if path is not None else None
        try:
            if self.path is None:
                self.db = Database(memory=True)
            elif self.path.exists():
                version = probe(self.path)
                self._refuse_newer(version)
                if writable(self.path):
                    self.db = Database(self.path)
                else:
                    self.read_only = True
                    self.db = Database(connect_read_only(self.path))
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

    def reopen(self) -> Self:
        """A new connection to the same database file, for another thread (sqlite3 connections
        belong to the thread that opened them); the caller closes it. Code that holds a
        `Project` calls `Project.connect` instead."""
        if self.path is None:
            raise StoreError("an in-memory database cannot be opened from another thread")
        return type(self)(self.path)

    def _configure(self) -> None:
        conn = self.db.conn
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        if self.path is not None and not self.read_only:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: could not switch the database to WAL mode")
            # WAL with synchronous=NORMAL can lose the last transactions on power loss but never
            # corrupts; FULL keeps every committed answer through a power cut, which is the promise.
            conn.execute("PRAGMA synchronous = FULL")

    def schema_version(self) -> int:
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def _refuse_newer(self, current: int) -> None:
        known = latest_version()
        if current > known:
            raise SchemaTooNewError(
                f"{self.path or ':memory:'}: the database has schema version {current}, "
                f"this nerloop knows up to {known}. Upgrade nerloop (pip install -U nerloop)."
            )

    def _migrate(self) -> None:
        current = self.schema_version()
        self._refuse_newer(current)
        if current == latest_version():
            return
        if self.read_only:
            raise ReadOnlyError(
                f"{self.path}: read-only, and this nerloop must upgrade its schema "
                f"(version {current}) before using it; make it writable and run again."
            )
        known = latest_version()
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
        if self.read_only:
            raise ReadOnlyError(
                f"{self.path}: the project is read-only (this user cannot write the file or its "
                "folder); only reading commands work on it"
            )
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

    # Row helpers shared by the table mixins. `table` and the column names are always constants
    # of the calling mixin, never input, so they may be formatted into the SQL.

    def _where(self, table: str, where: dict[str, Any]) -> tuple[str, list[Any]]:
        """`FROM table WHERE` the columns equal the values given (a None value is no condition),
        and its parameters."""
        given = {column: value for column, value in where.items() if value is not None}
        sql = f"FROM {table}"
        if given:
            sql += " WHERE " + " AND ".join(f"{column} = ?" for column in given)
        return sql, list(given.values())

    def count_rows(self, table: str, **where: Any) -> int:
        """Rows of `table` whose columns equal the values given; a None value is no condition."""
        sql, params = self._where(table, where)
        return int(self.scalar(f"SELECT count(*) {sql}", params))

    def has_rows(self, table: str, **where: Any) -> bool:
        """Whether `count_rows` would be above 0: one index probe, where counting reads every
        matching row."""
        sql, params = self._where(table, where)
        return self.scalar(f"SELECT EXISTS (SELECT 1 {sql})", params) == 1

    def insert_row(self, table: str, values: dict[str, Any]) -> int:
        """Insert one row (column -> value), committed before returning unless the caller holds
        a transaction; returns its id."""
        columns = ", ".join(f'"{column}"' for column in values)
        marks = ", ".join("?" * len(values))
        with self.write():
            cur = self.db.conn.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(values.values())
            )
            return int(cur.lastrowid or 0)

    def append_undo(self, table: str, row_id: int, annotator: str, session: str) -> int:
        """Take back row `row_id` of an append-only log (UNDO_LOGS) by appending an undo row
        that names it; nothing is deleted. A row that is missing, an undo or taken back already
        raises KeyError."""
        about, kind = UNDO_LOGS[table]
        with self.write():
            conn = self.db.conn
            row = conn.execute(f"SELECT {about}, {kind} FROM {table} WHERE id = ?", (row_id,))
            found = row.fetchone()
            undone = conn.execute(f"SELECT 1 FROM {table} WHERE undoes = ?", (row_id,)).fetchone()
            if found is None or found[1] == "undo" or undone is not None:
                raise KeyError(f"no {kind} {row_id} to undo")
            values = {about: found[0], "annotator": annotator, kind: "undo", "undoes": row_id}
            return self.insert_row(table, {**values, "session": session})

    def integrity_check(self) -> str:
        return str(self.scalar("PRAGMA integrity_check"))

    def close(self) -> None:
        self.db.close()
