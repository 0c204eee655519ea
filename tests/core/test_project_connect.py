"""Project.connect: the one way a thread opens the project's database (issue 15, thin TUI)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import pytest

from nerloop.core.project import DB_FILE, Project, connect
from nerloop.core.store import Store
from nerloop.core.taxonomy import update_label

T = TypeVar("T")


def _on_a_thread(fn: Callable[[], T]) -> T:
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


def test_connect_opens_the_projects_file_on_the_calling_thread(project: Project) -> None:
    first, _ = project.store.add_text("wheat fob rouen 250 usd/t")

    def work() -> tuple[int, Path | None, int]:
        store = project.connect()
        try:
            seen = store.count_texts()
            added, _ = store.add_text("corn cif rotterdam")
            return seen, store.path, added
        finally:
            store.close()

    seen, path, added = _on_a_thread(work)
    assert seen == 1
    assert path == project.path / DB_FILE
    # What the thread's connection committed is in the project's file, for every connection.
    assert project.store.count_texts() == 2
    assert project.store.get_text(added).text == "corn cif rotterdam"
    assert first != added


def test_the_projects_own_store_does_not_work_on_another_thread(project: Project) -> None:
    """Why threads connect: sqlite3 refuses a connection on a thread that did not open it."""
    with pytest.raises(sqlite3.ProgrammingError):
        _on_a_thread(project.store.count_texts)


def test_connect_is_a_new_connection_each_call(project: Project) -> None:
    a, b = project.connect(), project.connect()
    try:
        assert a is not b and a is not project.store
        assert a.db.conn is not b.db.conn
    finally:
        a.close()
        b.close()
    assert project.store.count_texts() == 0  # closing them leaves the project's own open


def test_module_connect_opens_a_folders_project(project: Project) -> None:
    project.store.add_text("brent cif rotterdam")
    store = connect(project.path)
    try:
        assert isinstance(store, Store)
        assert store.count_texts() == 1
    finally:
        store.close()


def test_for_thread_carries_the_taxonomy_in_force_now(project: Project) -> None:
    update_label(project.taxonomy_path, "PRICE", description="A price per tonne.", terms=[])
    project.reload_taxonomy()

    def work() -> tuple[str, int, object]:
        mine = project.for_thread()
        try:
            return (
                mine.taxonomy.get("PRICE").description,
                mine.store.taxonomy_version(),
                mine.settings,
            )
        finally:
            mine.close()

    description, version, settings = _on_a_thread(work)
    assert description == "A price per tonne."
    assert version == project.store.taxonomy_version()
    assert settings is project.settings
    assert project.store.count_texts() == 0  # its close left the project's connection open
