"""The annotate session without a UI: answers committed at once, undo, boundary edits, figures."""

from __future__ import annotations

from nerloop.core.project import Project
from nerloop.core.records import Span
from tests.helpers.queue_helpers import FakeClock, add_texts, make_queue, make_session, propose

TEXT = "heard wheat bid 250 usd/t fob rouen march"


def started(project: Project, clock: FakeClock | None = None):
    (a,) = add_texts(project, [TEXT])
    p1 = propose(project, a, "PRICE", "250 usd/t")
    p2 = propose(project, a, "PRICE", "rouen")
    queue = make_queue(project, "ann", clock)
    session = make_session(project, queue, clock)
    fetch = queue.fetch("PRICE", held=session.held())
    session.add_tasks(fetch.tasks)
    session.set_progress(*queue.pass_progress("PRICE"))
    return session, a, p1, p2


def live(project: Project, proposal_id: int) -> list[str]:
    return [a.answer for a in project.store.answers_for_proposal(proposal_id)]


def test_an_answer_is_in_the_database_when_answer_returns(project: Project) -> None:
    session, _, p1, p2 = started(project)
    shown = session.current()
    assert shown is not None and shown.question.first.id == p1
    assert session.answer("accept")
    assert live(project, p1) == ["accept"]
    assert session.current().question.first.id == p2
    assert session.answer("reject")
    assert live(project, p2) == ["reject"]
    assert session.current() is None


def test_undo_goes_back_one_answer_at_a_time(project: Project) -> None:
    session, _, p1, p2 = started(project)
    session.answer("accept")
    session.answer("ignore")
    assert session.undo()
    assert live(project, p2) == [] and live(project, p1) == ["accept"]
    assert session.current().question.first.id == p2
    assert session.undo()
    assert live(project, p1) == []
    assert session.current().question.first.id == p1
    assert not session.undo()
    # Undo appends: the answers are still in the log, taken back.
    assert int(project.store.scalar("SELECT count(*) FROM answers")) == 4


def test_undo_after_a_finished_task_leases_it_again(project: Project) -> None:
    session, a, _, _ = started(project)
    session.answer("accept")
    session.answer("accept")
    assert project.store.leases_of("ann") == []
    session.undo()
    assert [(t, lab) for t, lab, _ in project.store.leases_of("ann")] == [(a, "PRICE")]


def test_moved_boundaries_are_stored_with_an_accept(project: Project) -> None:
    session, _, p1, _ = started(project)
    assert session.move_end(1)  # "250 usd/t fob"
    assert session.move_start(1)  # "usd/t fob"
    shown = session.current()
    assert shown is not None and shown.edited
    assert TEXT[shown.start : shown.end] == "usd/t fob"
    session.answer("accept")
    (answer,) = project.store.answers_for_proposal(p1)
    doc = project.nlp(TEXT)
    expected = doc.char_span(20, 29)
    assert expected is not None
    assert answer.span == Span(20, 29, "", expected.start, expected.end - 1)


def test_boundaries_stop_at_the_text_and_at_each_other(project: Project) -> None:
    session, *_ = started(project)
    assert not session.move_start(1) or session.move_start(-1)  # one-token span stays valid
    assert not session.move_end(-5)
    for _ in range(20):
        session.move_end(1)
    shown = session.current()
    assert shown is not None and shown.end == len(TEXT)
    for _ in range(20):
        session.move_start(-1)
    shown = session.current()
    assert shown is not None and shown.start == 0


def test_an_unmoved_accept_stores_no_span(project: Project) -> None:
    session, _, p1, _ = started(project)
    session.move_end(1)
    session.move_end(-1)
    session.answer("accept")
    assert project.store.answers_for_proposal(p1)[0].span is None


def test_figures_answers_per_minute_accept_rate_and_progress(project: Project) -> None:
    clock = FakeClock()
    session, *_ = started(project, clock)
    assert session.progress() == (0, 2)
    assert session.per_minute() is None and session.accept_rate() is None
    session.answer("accept")
    clock.advance(6)
    session.answer("reject")
    assert session.progress() == (2, 2)
    # Two presses six seconds apart are no rate: not extrapolated to 10 a minute (issue 14).
    assert session.per_minute() is None
    assert session.accept_rate() == 0.5
    session.undo()
    assert session.progress() == (1, 2)


def test_switching_pass_releases_the_held_tasks(project: Project) -> None:
    session, *_ = started(project)
    assert project.store.leases_of("ann")
    session.set_pass("COMMODITY")
    assert project.store.leases_of("ann") == []
    assert session.current() is None and session.label_pass == "COMMODITY"


def test_answers_per_minute_once_there_is_something_to_go_on(project: Project) -> None:
    clock = FakeClock()
    ids = add_texts(project, [f"heard wheat bid {200 + i} usd/t fob rouen" for i in range(8)])
    for i, tid in enumerate(ids):
        propose(project, tid, "PRICE", f"{200 + i} usd/t")
    queue = make_queue(project, "ann", clock)
    session = make_session(project, queue, clock)
    session.add_tasks(queue.fetch("PRICE", n=8).tasks)
    session.answer("accept")
    for _ in range(4):
        clock.advance(5)
        session.answer("accept")
    assert session.per_minute() is None  # 5 answers, but over 20 s only (RATE_MIN_SECONDS)
    for _ in range(2):
        clock.advance(10)
        session.answer("reject")
    # 6 answers after the first in 40 s: 9 a minute.
    assert session.per_minute() == 9.0


def test_undo_after_a_restart_reaches_the_annotators_last_answer(project: Project) -> None:
    clock = FakeClock()
    session, _, p1, p2 = started(project, clock)
    session.answer("accept")
    session.answer("reject")
    assert live(project, p1) == ["accept"] and live(project, p2) == ["reject"]
    session.close()
    # A new app, a new session: its own history is empty.
    queue = make_queue(project, "ann", clock)
    again = make_session(project, queue, clock)
    assert again.undo()
    assert live(project, p2) == []  # the last answer (p2's reject) is taken back
    shown = again.current()
    assert shown is not None and any(p.id == p2 for p in shown.question.proposals)
    assert again.undo()
    assert live(project, p1) == []
    assert not again.undo()  # nothing of ann's is left to take back
    # Another annotator's answers are never touched.
    other = make_session(project, make_queue(project, "bob", clock), clock)
    assert not other.undo()
