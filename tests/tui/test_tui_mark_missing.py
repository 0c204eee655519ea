"""Pilot tests of marking what the LLM missed in the Annotate tab (issue 13 item 1): `m` opens the
text in the span editor, enter stores the marked spans as accepted answers of source human and
the text as complete, escape leaves; `!` flags the text; `u` takes either back. Each key is
asserted on the database right after it is pressed."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console
from textual.widgets import Static

from nerloop.core.annotate.session import RATE_MIN_SECONDS
from nerloop.core.project import Project
from nerloop.tui.app import NerloopApp
from nerloop.tui.keymap import HELP_NOTES
from nerloop.tui.panes.annotate import RATE_MIN_ANSWERS, AnnotatePane
from nerloop.tui.widgets.modals import HelpScreen
from nerloop.tui.widgets.span_editor import SpanEditor
from tests.helpers.queue_helpers import FakeClock
from tests.helpers.tui_helpers import app_for, price_project, shown, wait_for_question

STATUS = "m marks missed spans, ! flags them; without either, the rest is no entity."


def human_spans(project: Project) -> list[tuple[int, str, str]]:
    """(text id, label, span text) of the live accepted answers of source human."""
    rows = project.store.query(
        'SELECT p.text_id, p.label, substr(t.text, p.start + 1, p."end" - p.start) AS span '
        "FROM answers a JOIN proposals p ON p.id = a.proposal_id JOIN texts t ON t.id = p.text_id "
        "WHERE p.source = 'human' AND a.answer = 'accept' AND NOT EXISTS "
        "(SELECT 1 FROM answers u WHERE u.undoes = a.id) ORDER BY a.id"
    )
    return [(r["text_id"], r["label"], r["span"]) for r in rows]


def rows(project: Project, table: str) -> int:
    return int(project.store.query(f"SELECT count(*) AS n FROM {table}")[0]["n"])


def marks(project: Project) -> list[dict[str, Any]]:
    return [dict(r) for r in project.store.query("SELECT * FROM text_marks ORDER BY rowid")]


def live_mark(project: Project, text_id: int) -> str | None:
    """The mark in force for a text: the latest one an undo has not taken back."""
    rows_ = [r for r in marks(project) if r["text_id"] == text_id]
    undone = {r.get("undoes") for r in rows_ if r.get("undoes") is not None}
    live = [r for r in rows_ if r["mark"] in ("complete", "flagged") and r["id"] not in undone]
    return str(live[-1]["mark"]) if live else None


def text_now(app: NerloopApp) -> int:
    current = app.session.current()
    assert current is not None
    return current.task.text.id


async def test_m_shows_the_accepted_spans_enter_stores_the_marked_ones(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert text_now(app) == ids[0]
        await pilot.press("y")  # PRICE '250 usd/t' accepted; 'rouen' is asked next
        await pilot.pause()
        answers = rows(project, "answers")
        await pilot.press("m")
        await pilot.pause()
        pane = app.query_one(AnnotatePane)
        assert pane.marking and app.focused is app.query_one("#ann-editor", SpanEditor)
        assert "PRICE: 250 usd/t (accepted)" in shown(app, "ann-mark-spans")
        assert rows(project, "answers") == answers and human_spans(project) == []
        # The last token, 'march', tagged LOCATION (the 2nd ner label): nothing stored yet.
        await pilot.press("end", "2")
        await pilot.pause()
        assert "LOCATION: march" in shown(app, "ann-mark-spans")
        assert rows(project, "answers") == answers and human_spans(project) == []
        await pilot.press("enter")
        await pilot.pause()
        assert human_spans(project) == [(ids[0], "LOCATION", "march")]
        assert live_mark(project, ids[0]) == "complete"
        assert not pane.marking
        # One undo takes the whole mark back: its answer and the mark.
        await pilot.press("u")
        await pilot.pause()
        assert human_spans(project) == []
        assert live_mark(project, ids[0]) is None
        assert text_now(app) == ids[0]


async def test_enter_with_nothing_marked_says_nothing_is_missing(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("m", "enter")
        await pilot.pause()
        assert human_spans(project) == []
        assert live_mark(project, ids[0]) == "complete"


async def test_escape_leaves_without_storing_and_the_keys_return(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        answers = rows(project, "answers")
        await pilot.press("m", "end", "1")
        await pilot.pause()
        # y, n, a while the editor is open do not answer the question hidden under it.
        await pilot.press("y", "n", "a")
        await pilot.pause()
        assert rows(project, "answers") == answers
        await pilot.press("escape")
        await pilot.pause()
        pane = app.query_one(AnnotatePane)
        assert not pane.marking and app.focused is pane
        assert rows(project, "answers") == answers and marks(project) == []
        assert text_now(app) == ids[0]
        assert "'250 usd/t'" in shown(app, "ann-info")
        await pilot.press("y")
        await pilot.pause()
        assert rows(project, "answers") == answers + 1


async def test_flag_key_marks_the_text_flagged_and_u_takes_it_back(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("exclamation_mark")
        await pilot.pause()
        assert live_mark(project, ids[0]) == "flagged"
        assert human_spans(project) == []
        await pilot.press("u")
        await pilot.pause()
        assert live_mark(project, ids[0]) is None
        assert text_now(app) == ids[0]


async def test_the_status_line_says_what_finishing_a_text_means(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert shown(app, "ann-status") == STATUS
        assert len(STATUS) <= 78  # the pane's width at 80 columns


async def test_remapped_mark_and_flag_keys_work_and_the_line_names_them(
    project: Project,
) -> None:
    ids = price_project(project)
    keymap = {"annotate.mark_missing": "M", "annotate.flag_missing": "F", "gold.done": "s"}
    project.settings = project.settings.model_copy(update={"keymap": keymap})
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert shown(app, "ann-status").startswith("M marks missed spans, F flags them;")
        await pilot.press("M")
        await pilot.pause()
        assert "s saves" in shown(app, "ann-info")
        await pilot.press("s")
        await pilot.pause()
        assert live_mark(project, ids[0]) == "complete"


async def test_no_color_the_editor_shows_the_cursor_and_spans(
    project: Project, monkeypatch: Any
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("m", "end", "2", "enter")
        await pilot.pause()
        assert human_spans(project) == [(ids[0], "LOCATION", "march")]


async def test_answers_per_minute_waits_for_enough_answers_and_time(project: Project) -> None:
    from tests.helpers.queue_helpers import add_texts, propose

    ids = add_texts(project, [f"lot {i} at {i}0 usd/t fob" for i in range(8)])
    for i, text_id in enumerate(ids):
        propose(project, text_id, "PRICE", f"{i}0 usd/t", "llm")
    clock = FakeClock()
    app = app_for(project, session_clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        # Three answers over a minute: the time is there, the answers are too few to go on.
        for _ in range(RATE_MIN_ANSWERS - 2):
            await pilot.press("n")
            await pilot.pause()
            clock.advance(RATE_MIN_SECONDS)
        assert "–/min" in shown(app, "ann-progress")
        await pilot.press("n")
        await pilot.pause()
        assert "–/min" in shown(app, "ann-progress")
        await pilot.press("n")
        await pilot.pause()
        assert "/min" in shown(app, "ann-progress")
        assert "–/min" not in shown(app, "ann-progress")


async def test_help_says_what_the_two_keys_do_and_what_complete_means(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        rows_ = {row[2]: row[0] for _, group in app.help_groups() for row in group}
        assert rows_["annotate.mark_missing"] == "m" and rows_["annotate.flag_missing"] == "!"
        console = Console(width=400, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-body Static", Static).content)
        plain = console.export_text()
        assert "complete" in HELP_NOTES["annotate.mark_missing"]
        assert "no entity" in HELP_NOTES["annotate.flag_missing"]
        assert "[annotate.mark_missing]" in plain and "[annotate.flag_missing]" in plain


async def test_an_accepted_span_is_not_changed_by_marking(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("y")  # PRICE '250 usd/t' accepted
        await pilot.pause()
        answers = rows(project, "answers")
        # '250' tagged LOCATION over the accepted PRICE span, then enter: refused, kept open.
        await pilot.press("m", "right", "right", "right", "2", "enter")
        await pilot.pause()
        assert rows(project, "answers") == answers and marks(project) == []
        assert app.query_one(AnnotatePane).marking
        await pilot.press("escape")
        await pilot.pause()
        assert not app.query_one(AnnotatePane).marking
        assert text_now(app) == ids[0]
