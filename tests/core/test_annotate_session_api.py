"""Annotation is one feature behind `Session`: the Annotate pane asks the session for fetches,
figures and leases, and the session owns the empty-queue retry policy."""

from __future__ import annotations

import ast
from collections.abc import Collection
from pathlib import Path

from nerloop.core.annotate.empty import RETRY_EMPTY_AFTER
from nerloop.core.annotate.queue import Queue
from nerloop.core.annotate.tasks import EmptyQueue, Fetch, TaskKey
from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for
from tests.helpers.queue_helpers import add_texts, make_queue, make_session

ROOT = Path(__file__).resolve().parents[2]
TEXTS = ["heard wheat bid 250 usd/t fob rouen march"]


def test_the_annotate_pane_never_reaches_through_the_session() -> None:
    tree = ast.parse((ROOT / "tui" / "panes" / "annotate.py").read_text("utf-8"))
    through = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "queue"
        and isinstance(node.value, ast.Attribute | ast.Name)
        and getattr(node.value, "attr", getattr(node.value, "id", "")) in {"session", "s"}
    ]
    assert through == []
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("nerloop.core.")
    ]
    assert "nerloop.core.annotate.queue" not in imported


def test_a_fetch_is_taken_and_the_session_says_when_to_retry(project: Project) -> None:
    session = make_session(project, make_queue(project, "ann"))
    for reason, seconds in RETRY_EMPTY_AFTER.items():
        assert session.received(Fetch([], EmptyQueue(reason, "m", "h"), (3, 7))) == seconds
        assert session.empty is not None and session.empty.reason == reason
        assert session.progress() == (3, 7)
    assert session.received(Fetch([], EmptyQueue("no_texts", "m", "h"))) is None
    assert session.received(Fetch([])) is None and session.empty is None


def test_fetch_gives_tasks_figures_and_leases_through_the_session(project: Project) -> None:
    add_texts(project, TEXTS)
    session = make_session(project, make_queue(project, "ann", proposers=proposers_for(project)))
    fetch = session.fetch("COMMODITY", 4, ())
    assert fetch.tasks
    assert session.received(fetch) is None
    assert session.current() is not None
    held = session.held()
    assert session.renew(held) == {}
    assert session.pass_progress("COMMODITY")[1] >= 1
    session.give_back(fetch.tasks)
    assert project.store.leases_of("ann") == []


class BrokenQueue(Queue):
    def fetch(self, label_pass: str | None, n: int = 8, held: Collection[TaskKey] = ()) -> Fetch:
        raise OSError("disk I/O error")


def test_a_failing_fetch_is_an_empty_fetch_that_is_retried(project: Project) -> None:
    queue = BrokenQueue(
        project.store.path,  # type: ignore[arg-type]
        project.taxonomy,
        project.settings,
        "ann",
    )
    fetch = make_session(project, queue).fetch(None, 4, ())
    assert fetch.tasks == [] and fetch.empty is not None
    assert fetch.empty.reason == "source_failed" and "disk I/O error" in fetch.empty.message
    assert make_session(project, queue).received(fetch) == RETRY_EMPTY_AFTER["source_failed"]
