"""Leases of held tasks: renewed while the session is open, and what happens when one was lost
anyway (the machine slept past it and another annotator was given the task)."""

from __future__ import annotations

import json
import subprocess
import sys

from nerloop.core.annotate.queue import Task, TaskKey
from nerloop.core.annotate.session import Session
from nerloop.core.project import Project
from tests.helpers.queue_helpers import FakeClock, add_texts, make_queue, make_session, propose
from tests.helpers.tui_helpers import TEXTS, open_again

BOB = """
import json, sys
from pathlib import Path
from nerloop.core.project import Project
from nerloop.core.annotate.queue import Queue
project = Project.open(Path(sys.argv[1]))
now = float(sys.argv[2])
queue = Queue(project.store.path, project.taxonomy, project.settings, "bob", clock=lambda: now)
print(json.dumps([list(t.key) for t in queue.fetch("PRICE", n=int(sys.argv[3])).tasks]))
"""


def bob_fetches(project: Project, now: float, n: int = 8) -> list[TaskKey]:
    """What another annotator's process is given at time `now`."""
    out = subprocess.run(
        [sys.executable, "-c", BOB, str(project.path), repr(now), str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [(int(t), str(label)) for t, label in json.loads(out.stdout)]


def live_answers(project: Project) -> list[tuple[int, str, str]]:
    rows = project.store.query(
        "SELECT a.proposal_id, a.annotator, a.answer FROM answers a WHERE a.answer != 'undo' "
        "AND NOT EXISTS (SELECT 1 FROM answers u WHERE u.undoes = a.id) ORDER BY a.id"
    )
    return [(r["proposal_id"], r["annotator"], r["answer"]) for r in rows]


def alice_holding_one(project: Project, clock: FakeClock) -> tuple[Session, list[tuple[Task, str]]]:
    """Alice's session holding the first PRICE task, and the list its on_lost fills."""
    queue = make_queue(project, "alice", clock)
    session = make_session(project, queue, clock)
    told: list[tuple[Task, str]] = []
    session.on_lost = lambda task, who: told.append((task, who))
    session.add_tasks(queue.fetch("PRICE", n=1).tasks)
    return session, told


def two_texts(project: Project) -> tuple[int, int]:
    a, b = add_texts(project, TEXTS[:2])
    propose(project, a, "PRICE", "250 usd/t")
    propose(project, b, "PRICE", "4.10 usd/bu")
    return a, b


def lost_to_bob(project: Project) -> tuple[int, int, FakeClock, Session, list[tuple[Task, str]]]:
    """Alice holds text a's task, sleeps past its lease, and bob's process is given it."""
    a, b = two_texts(project)
    clock = FakeClock()
    session, told = alice_holding_one(project, clock)
    clock.advance(project.settings.lease_seconds + 1)  # asleep: no renewal
    assert bob_fetches(project, clock.now, n=1) == [(a, "PRICE")]
    return a, b, clock, session, told


def test_renewal_keeps_held_tasks_from_another_annotator_past_the_lease(
    project: Project,
) -> None:
    a, b = two_texts(project)
    clock = FakeClock()
    session, _ = alice_holding_one(project, clock)
    assert session.held() == {(a, "PRICE")}
    lease = project.settings.lease_seconds
    for _ in range(6):  # two leases long, renewed three times a lease as the app does
        clock.advance(lease / 3)
        assert session.queue.renew(session.held()) == {}
    # Another process at that time: a is still alice's, only b is free.
    assert bob_fetches(project, clock.now) == [(b, "PRICE")]
    (expires,) = [e for t, _, e in project.store.leases_of("alice") if t == a]
    assert expires == clock.now + lease


def test_a_lease_lost_anyway_is_reported_dropped_and_not_taken_back(project: Project) -> None:
    a, _, clock, session, told = lost_to_bob(project)
    lost = session.queue.renew(session.held())
    assert lost == {(a, "PRICE"): "bob"}
    assert session.forget(lost)
    assert session.current() is None and session.held() == set()
    assert [(t.key, who) for t, who in told] == [((a, "PRICE"), "bob")]
    # Alice's lapsed lease was not renewed: bob's is the only live lease on a.
    assert all(e < clock.now for t, _, e in project.store.leases_of("alice") if t == a)


def test_answering_a_task_another_annotator_holds_now_stores_nothing(project: Project) -> None:
    a, _, _, session, told = lost_to_bob(project)
    assert session.answer("accept")  # the screen moves on
    assert live_answers(project) == []
    assert [(t.key, who) for t, who in told] == [((a, "PRICE"), "bob")]
    assert session.current() is None and session.answered == 0


def test_a_question_another_annotator_answered_meanwhile_is_not_answered_twice(
    project: Project,
) -> None:
    two_texts(project)
    clock = FakeClock()
    session, told = alice_holding_one(project, clock)
    clock.advance(project.settings.lease_seconds + 1)
    # Bob (his own connection) gets a, answers it and gives the lease back at once.
    other = open_again(project)
    try:
        bob = make_session(other, make_queue(other, "bob", clock), clock)
        bob.add_tasks(bob.queue.fetch("PRICE", n=1).tasks)
        assert bob.answer("reject")
    finally:
        other.close()
    assert project.store.leases_of("bob") == []
    session.answer("accept")
    ((_, who, kind),) = live_answers(project)
    assert (who, kind) == ("bob", "reject")
    assert [who for _, who in told] == ["bob"]


def test_a_fetch_renews_only_the_held_tasks_it_still_has(project: Project) -> None:
    _, b, clock, session, _ = lost_to_bob(project)
    fetch = session.queue.fetch("PRICE", n=1, held=session.held())
    assert [t.key for t in fetch.tasks] == [(b, "PRICE")]
    # The fetch renewed what alice still has, not the task bob was given.
    live = {(t, lab) for t, lab, e in project.store.leases_of("alice") if e > clock.now}
    assert live == {(b, "PRICE")}


def test_undo_into_a_task_another_annotator_has_now_does_not_lease_it_back(
    project: Project,
) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    p1 = propose(project, a, "PRICE", "250 usd/t")
    propose(project, a, "PRICE", "rouen")
    clock = FakeClock()
    session, told = alice_holding_one(project, clock)
    assert session.answer("accept")  # p1; the task is still held for "rouen"
    clock.advance(project.settings.lease_seconds + 1)
    other = open_again(project)
    try:
        bob = make_session(other, make_queue(other, "bob", clock), clock)
        bob.add_tasks(bob.queue.fetch("PRICE", n=1).tasks)
        assert bob.held() == {(a, "PRICE")}
        assert session.forget(session.queue.renew(session.held()))
        assert session.undo()  # takes back p1 and shows it again, but a stays bob's
        assert bob.queue.renew(bob.held()) == {}
        assert session.answer("reject")  # refused: bob holds the task
        assert [(p, who) for p, who, _ in live_answers(project)] == []
        assert [who for _, who in told] == ["bob", "bob"]
        assert p1 not in [p.id for q in bob.current().task.questions for p in q.proposals]  # type: ignore[union-attr]
    finally:
        other.close()
