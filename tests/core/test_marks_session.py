"""Session.mark_missing / flag_missing / text_spans: spans the LLM missed, marked by hand and
stored as accepted answers of source "human"; the text marked complete or flagged; one undo
takes a mark back whole. Every check reads the database right after the call."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerloop.core.annotate.session import Session
from nerloop.core.project import Project
from nerloop.core.records import Span
from nerloop.core.store import Store
from tests.helpers.queue_helpers import add_texts, make_queue, make_session, propose

TEXT = "heard wheat bid 250 usd/t fob rouen march"
ROUEN = Span(30, 35, "LOCATION")
MARCH = Span(36, 41, "LOCATION")


def session_on_price(project: Project) -> tuple[Session, int, int]:
    """A session whose current question is the LLM's PRICE '250 usd/t' on TEXT."""
    (text_id,) = add_texts(project, [TEXT])
    pid = propose(project, text_id, "PRICE", "250 usd/t")
    queue = make_queue(project, "ann")
    session = make_session(project, queue)
    session.set_pass(None)
    session.add_tasks(queue.fetch(None, held=session.held()).tasks)
    assert session.current() is not None
    return session, text_id, pid


def human_rows(project: Project) -> list[tuple[str, int, int, str, str, str]]:
    """(label, start, end, source_detail, answer, annotator) of every answer on a human
    proposal, undo rows included, in order."""
    rows = project.store.query(
        'SELECT p.label, p.start, p."end", p.source_detail, a.answer, a.annotator '
        "FROM answers a JOIN proposals p ON p.id = a.proposal_id WHERE p.source = 'human' "
        "ORDER BY a.id"
    )
    return [tuple(r.values()) for r in rows]


def marks(project: Project) -> list[tuple[int, str, str]]:
    rows = project.store.query("SELECT text_id, mark, annotator FROM text_marks ORDER BY id")
    return [(r["text_id"], r["mark"], r["annotator"]) for r in rows]


def test_marked_spans_are_stored_as_accepted_human_answers_and_the_text_complete(
    project: Project,
) -> None:
    session, text_id, pid = session_on_price(project)
    assert session.mark_missing([ROUEN, MARCH]) == 2
    assert human_rows(project) == [
        ("LOCATION", 30, 35, "ann", "accept", "ann"),
        ("LOCATION", 36, 41, "ann", "accept", "ann"),
    ]
    tokens = project.store.query(
        "SELECT token_start, token_end FROM proposals WHERE source = 'human' ORDER BY start"
    )
    assert [(r["token_start"], r["token_end"]) for r in tokens] == [(8, 8), (9, 9)]
    assert marks(project) == [(text_id, "complete", "ann")]
    assert project.store.text_mark(text_id) == "complete"
    # The current question stays where it was, and the editor sees the spans as accepted.
    assert session.current().question.first.id == pid  # type: ignore[union-attr]
    assert [(s.start, s.label) for s in session.text_spans()] == [
        (30, "LOCATION"),
        (36, "LOCATION"),
    ]


def test_nothing_missing_marks_the_text_complete_without_spans(project: Project) -> None:
    session, text_id, _ = session_on_price(project)
    assert session.mark_missing([]) == 0
    assert human_rows(project) == []
    assert marks(project) == [(text_id, "complete", "ann")]


def test_undo_takes_the_whole_mark_back(project: Project) -> None:
    session, text_id, pid = session_on_price(project)
    session.mark_missing([ROUEN, MARCH])
    assert session.undo()
    rows = human_rows(project)
    assert [r[4] for r in rows] == ["accept", "accept", "undo", "undo"]  # appended, not deleted
    assert project.store.text_mark(text_id) is None
    assert [r["mark"] for r in project.store.query("SELECT mark FROM text_marks")] == [
        "complete",
        "undo",
    ]
    assert session.text_spans() == []
    assert session.current().question.first.id == pid  # type: ignore[union-attr]
    # Marked again after the undo: the same proposals, answered anew.
    assert session.mark_missing([ROUEN]) == 1
    assert project.store.text_mark(text_id) == "complete"
    assert [s.start for s in session.text_spans()] == [30]


def test_an_answer_then_a_mark_undo_in_reverse_order(project: Project) -> None:
    session, text_id, pid = session_on_price(project)
    session.flag_missing()  # while the question is still open
    assert marks(project) == [(text_id, "flagged", "ann")]
    session.answer("accept")
    assert project.store.answers_for_proposal(pid)[0].answer == "accept"
    assert session.undo()  # the accept
    assert project.store.answers_for_proposal(pid) == []
    assert project.store.text_mark(text_id) == "flagged"
    assert session.undo()  # the flag
    assert project.store.text_mark(text_id) is None


def test_the_latest_mark_of_a_text_wins(project: Project) -> None:
    session, text_id, _ = session_on_price(project)
    session.mark_missing([ROUEN])
    session.flag_missing()
    assert project.store.text_mark(text_id) == "flagged"
    assert project.store.pool_marks() == {text_id: "flagged"}
    session.undo()
    assert project.store.pool_marks() == {text_id: "complete"}


def test_accepted_spans_show_in_text_spans_and_cannot_be_overlapped(project: Project) -> None:
    session, _, pid = session_on_price(project)
    # Accepted meanwhile (another annotator, say): shown, and a marked span may not overlap it.
    project.store.add_answer(pid, "accept", "other")
    assert [(s.start, s.end, s.label) for s in session.text_spans()] == [(16, 25, "PRICE")]
    with pytest.raises(ValueError, match=r"overlaps the accepted span PRICE 16-25"):
        session.mark_missing([Span(20, 25, "LOCATION")])
    assert human_rows(project) == [] and marks(project) == []


@pytest.mark.parametrize(
    ("spans", "message"),
    [
        ([Span(30, 36 + 99, "LOCATION")], r"marked span 1 \(LOCATION 30-135\): outside the text"),
        ([Span(31, 35, "LOCATION")], r"not start and end on token boundaries"),
        ([Span(30, 35, "COMMODITY")], r"'COMMODITY' is not a ner label \(ner labels: LOC"),
        ([ROUEN, Span(30, 41, "PRICE")], r"marked span 2 .*overlaps the marked span LOCATION"),
        ([Span(35, 30, "LOCATION")], r"outside the text .* or empty"),
    ],
)
def test_bad_spans_are_refused_and_nothing_is_stored(
    project: Project, spans: list[Span], message: str
) -> None:
    session, _, _ = session_on_price(project)
    with pytest.raises(ValueError, match=message):
        session.mark_missing(spans)
    assert human_rows(project) == [] and marks(project) == []
    assert not session.can_undo


def test_human_spans_export_as_accepted_spans(project: Project, tmp_path: Path) -> None:
    from nerloop.core.answer_spans import answer_spans

    session, text_id, _ = session_on_price(project)
    session.mark_missing([ROUEN])
    rows = [r for r in project.store.iter_answers_by_text() if r["text_id"] == text_id]
    assert [(s.start, s.label) for s in answer_spans(rows).accepted] == [(30, "LOCATION")]
    assert {r["source"] for r in rows} == {"human"}


def test_migration_keeps_rows_and_foreign_keys(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    assert store.integrity_check() == "ok"
    assert store.db.conn.execute("PRAGMA foreign_key_check").fetchall() == []
    sql = store.scalar("SELECT sql FROM sqlite_master WHERE name = 'answers'")
    assert 'REFERENCES "proposals"' in sql and "answers_new" not in sql
    store.close()


def test_a_mark_taken_back_is_not_asked_as_a_question(project: Project) -> None:
    session, text_id, _ = session_on_price(project)
    session.mark_missing([ROUEN])
    session.undo()
    assert project.store.proposals_for(text_id, "LOCATION", "human")  # kept, append-only
    assert project.store.open_proposals(text_id, "LOCATION") == []
    march = propose(project, text_id, "LOCATION", "march")
    assert [p.id for p in project.store.open_proposals(text_id, "LOCATION")] == [march]


def test_progress_counts_a_marked_span_and_forgets_it_when_taken_back(project: Project) -> None:
    session, _, _ = session_on_price(project)
    store = project.store
    assert store.pass_progress("LOCATION") == (0, 0)
    session.mark_missing([ROUEN])
    assert store.pass_progress("LOCATION") == (1, 1)
    assert session.undo()
    assert store.pass_progress("LOCATION") == (0, 0)
    session.mark_missing([ROUEN])  # the same proposal, answered anew
    assert store.pass_progress("LOCATION") == (1, 1)
    assert store.pass_progress("PRICE") == (0, 1)
