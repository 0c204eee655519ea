"""Session.accept_text: every question the session holds for the current text, accepted with
one key press (one transaction), taken back with one undo."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from nerloop.core.annotate.session import Session
from nerloop.core.project import Project
from tests.helpers.queue_helpers import FakeClock, add_texts, make_queue, make_session, propose

TEXTS = ["heard wheat bid 250 usd/t fob rouen march", "corn offered 4.10 usd/bu cif rotterdam"]


def all_labels(project: Project, clock: FakeClock | None = None) -> tuple[Session, list[int]]:
    """Text a: PRICE '250 usd/t' and LOCATION 'rouen', 'march' (3 questions over 2 labels);
    text b: PRICE '4.10 usd/bu'. An all-labels session holding both texts."""
    a, b = add_texts(project, TEXTS)
    ids = [
        propose(project, a, "PRICE", "250 usd/t"),
        propose(project, a, "LOCATION", "rouen"),
        propose(project, a, "LOCATION", "march"),
        propose(project, b, "PRICE", "4.10 usd/bu"),
    ]
    queue = make_queue(project, "ann", clock)
    session = make_session(project, queue, clock)
    session.set_pass(None)
    session.add_tasks(queue.fetch(None, held=session.held()).tasks)
    session.set_progress(*queue.pass_progress(None))
    return session, ids


def live(project: Project) -> list[tuple[int, str]]:
    """(proposal, answer) of the answers not taken back, in the order given."""
    rows = project.store.query(
        "SELECT a.proposal_id, a.answer FROM answers a WHERE a.answer != 'undo' AND NOT EXISTS "
        "(SELECT 1 FROM answers u WHERE u.undoes = a.id) ORDER BY a.id"
    )
    return [(r["proposal_id"], r["answer"]) for r in rows]


def leased(project: Project) -> set[tuple[int, str]]:
    return {(t, label) for t, label, _ in project.store.leases_of("ann")}


@contextmanager
def commits(project: Project) -> Iterator[list[str]]:
    """The transactions (BEGIN ... COMMIT) the store's connection runs meanwhile."""
    seen: list[str] = []
    conn = project.store.db.conn
    conn.set_trace_callback(lambda sql: seen.append(sql) if sql.startswith("COMMIT") else None)
    try:
        yield seen
    finally:
        conn.set_trace_callback(None)


def test_a_text_with_three_questions_over_two_labels_is_accepted_at_once(
    project: Project,
) -> None:
    session, (p1, p2, p3, p4) = all_labels(project)
    a = session.current().task.text.id  # type: ignore[union-attr]
    assert [q.first.id for q in session.text_questions()] == [p1, p2, p3]
    assert {(a, "PRICE"), (a, "LOCATION")} <= leased(project)
    with commits(project) as seen:
        assert session.accept_text() == 3
    assert len(seen) == 1  # one transaction, one fsync, for the three answers and the leases
    assert live(project) == [(p1, "accept"), (p2, "accept"), (p3, "accept")]
    assert not {(a, "PRICE"), (a, "LOCATION")} & leased(project)
    # On to the next text; the figures count each question as an answer.
    assert session.current().question.first.id == p4  # type: ignore[union-attr]
    assert session.answered == 3 and session.counts["accept"] == 3
    assert session.progress() == (3, 4) and session.accept_rate() == 1.0


def test_accept_text_after_some_answers_takes_the_rest_of_the_text(project: Project) -> None:
    session, (p1, p2, p3, p4) = all_labels(project)
    session.answer("reject")
    assert [q.first.id for q in session.text_questions()] == [p2, p3]
    assert session.accept_text() == 2
    assert live(project) == [(p1, "reject"), (p2, "accept"), (p3, "accept")]
    assert session.current().question.first.id == p4  # type: ignore[union-attr]


def test_one_undo_takes_the_whole_text_back(project: Project) -> None:
    session, (p1, p2, p3, p4) = all_labels(project)
    a = session.current().task.text.id  # type: ignore[union-attr]
    session.accept_text()
    assert session.undo()
    # Back to the first question the key accepted, the text's tasks held (and leased) again.
    assert live(project) == []
    assert session.current().question.first.id == p1  # type: ignore[union-attr]
    assert [q.first.id for q in session.text_questions()] == [p1, p2, p3]
    assert {(a, "PRICE"), (a, "LOCATION")} <= leased(project)
    assert session.answered == 0 and session.counts["accept"] == 0
    assert session.progress() == (0, 4) and not session.can_undo
    # Asked one by one after the undo, and the next text still follows.
    assert session.answer("accept") and session.answer("reject") and session.answer("accept")
    assert session.current().question.first.id == p4  # type: ignore[union-attr]
    assert live(project) == [(p1, "accept"), (p2, "reject"), (p3, "accept")]


def test_undo_after_some_answers_goes_back_to_the_first_question_accepted(
    project: Project,
) -> None:
    session, (p1, p2, _, p4) = all_labels(project)
    a = session.current().task.text.id  # type: ignore[union-attr]
    session.answer("reject")  # PRICE done: its lease is given back
    session.accept_text()
    assert session.current().question.first.id == p4  # type: ignore[union-attr]
    assert session.undo()
    assert live(project) == [(p1, "reject")]
    assert session.current().question.first.id == p2  # type: ignore[union-attr]
    assert (a, "LOCATION") in leased(project) and (a, "PRICE") not in leased(project)
    assert session.undo() and session.current().question.first.id == p1  # type: ignore[union-attr]
    assert live(project) == [] and (a, "PRICE") in leased(project)


def test_a_moved_boundary_is_accepted_as_moved(project: Project) -> None:
    session, (p1, p2, p3, _) = all_labels(project)
    assert session.move_start(-1)  # "bid 250 usd/t"
    session.accept_text()
    (moved,) = project.store.answers_for_proposal(p1)
    assert moved.span is not None
    assert TEXTS[0][moved.span.start : moved.span.end] == "bid 250 usd/t"
    # Only the question that was on screen moved; the others are accepted as proposed.
    assert [a.span for p in (p2, p3) for a in project.store.answers_for_proposal(p)] == [None] * 2


def test_a_one_label_pass_accepts_the_rest_of_the_texts_task(project: Project) -> None:
    a, b = add_texts(project, TEXTS)
    p1 = propose(project, a, "PRICE", "250 usd/t")
    p2 = propose(project, a, "PRICE", "rouen")
    propose(project, a, "LOCATION", "rouen")
    p4 = propose(project, b, "PRICE", "4.10 usd/bu")
    queue = make_queue(project, "ann")
    session = make_session(project, queue)
    session.set_pass("PRICE")
    session.add_tasks(queue.fetch("PRICE", held=session.held()).tasks)
    assert session.accept_text() == 2
    assert live(project) == [(p1, "accept"), (p2, "accept")]  # not the LOCATION one
    assert session.current().question.first.id == p4  # type: ignore[union-attr]


def test_a_task_another_annotator_has_now_is_dropped_and_the_rest_accepted(
    project: Project,
) -> None:
    clock = FakeClock()
    session, (p1, _, _, p4) = all_labels(project, clock)
    a = session.current().task.text.id  # type: ignore[union-attr]
    lost: list[tuple[int, str]] = []
    session.on_lost = lambda task, other: lost.append(task.key)
    # The session's leases ran out and bob was given the LOCATION task meanwhile.
    clock.advance(project.settings.lease_seconds + 1)
    bob = make_queue(project, "bob", clock)
    assert [t.key for t in bob.fetch("LOCATION").tasks][:1] == [(a, "LOCATION")]
    assert session.accept_text() == 1
    assert live(project) == [(p1, "accept")]
    assert lost == [(a, "LOCATION")]
    assert session.current().question.first.id == p4  # type: ignore[union-attr]
    assert session.undo() and session.current().question.first.id == p1  # type: ignore[union-attr]


def test_answers_per_minute_count_every_accepted_question(project: Project) -> None:
    clock = FakeClock()
    session, _ = all_labels(project, clock)
    session.answer("accept")
    clock.advance(30)
    session.accept_text()  # two questions, thirty seconds after the first answer
    assert session.per_minute() == 4.0


def test_accept_text_without_a_question_does_nothing(project: Project) -> None:
    session = make_session(project, make_queue(project, "ann"))
    assert session.accept_text() == 0
    assert session.text_questions() == [] and not session.can_undo
