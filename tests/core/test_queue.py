"""The queue: order, grouping, leases between annotators, proposers, and why it is empty."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from nerloop.core.annotate.queue import Fetch, Queue
from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.records import NewProposal, Source, StoredText
from nerloop.core.store.queue import Cursor
from tests.helpers.queue_helpers import FakeClock, add_texts, make_queue, propose

TEXTS = [
    "heard wheat bid 250 usd/t fob rouen march",
    "corn offered 4.10 usd/bu cif rotterdam",
    "brent at 80 usd/bbl",
    "soybeans 390 usd/t fob santos",
]


def keys(fetch: Fetch) -> list[tuple[int, str]]:
    return [t.key for t in fetch.tasks]


def test_rule_proposals_come_before_llm_and_one_texts_proposals_come_together(
    project: Project,
) -> None:
    a, b, c, _ = add_texts(project, TEXTS)
    propose(project, a, "PRICE", "250 usd/t", "llm")
    propose(project, b, "PRICE", "4.10 usd/bu", "rule")
    propose(project, a, "PRICE", "rouen", "llm")
    propose(project, c, "PRICE", "80 usd/bbl", "llm")
    q = make_queue(project, "ann")
    fetch = q.fetch("PRICE", n=10)
    assert keys(fetch) == [(b, "PRICE"), (a, "PRICE"), (c, "PRICE")]
    first_a = fetch.tasks[1]
    assert [(qq.start, qq.end) for qq in first_a.questions] == [(16, 25), (30, 35)]
    assert fetch.progress is None  # not counted while there are tasks
    assert q.pass_progress("PRICE") == (0, 4)


def test_the_same_span_from_two_sources_is_one_question(project: Project) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    propose(project, a, "PRICE", "250 usd/t", "llm", context="bid 250 usd/t")
    propose(project, a, "PRICE", "250 usd/t", "model", score=0.6)
    (task,) = make_queue(project, "ann").fetch("PRICE").tasks
    (question,) = task.questions
    assert question.sources == ("model", "llm")
    assert question.score == 0.6
    assert question.context == "bid 250 usd/t"


def test_model_proposals_are_asked_most_uncertain_first(project: Project) -> None:
    ids = add_texts(project, TEXTS)
    for text_id, phrase, score in zip(
        ids,
        ["250 usd/t", "4.10 usd/bu", "80 usd/bbl", "390 usd/t"],
        [0.95, 0.52, 0.1, 0.4],
        strict=True,
    ):
        propose(project, text_id, "PRICE", phrase, "model", score=score)
    q = make_queue(project, "ann")
    order = [t.text.id for t in q.fetch("PRICE", n=10).tasks]
    assert order == [ids[1], ids[3], ids[2], ids[0]]


def test_model_walk_resumes_from_its_cursor(project: Project) -> None:
    ids = add_texts(project, TEXTS)
    for text_id, phrase, score in zip(
        ids,
        ["250 usd/t", "4.10 usd/bu", "80 usd/bbl", "390 usd/t"],
        [0.95, 0.52, 0.1, 0.4],
        strict=True,
    ):
        propose(project, text_id, "PRICE", phrase, "model", score=score)
    q = make_queue(project, "ann")
    got = [t.text.id for t in q.fetch("PRICE", n=2).tasks]
    held = [(i, "PRICE") for i in got]
    got += [t.text.id for t in q.fetch("PRICE", n=2, held=held).tasks]
    assert got == [ids[1], ids[3], ids[2], ids[0]]


def test_two_annotators_never_get_the_same_task(project: Project) -> None:
    ids = add_texts(project, [f"wheat lot {i} at {100 + i} usd/t" for i in range(40)])
    for text_id in ids:
        propose(project, text_id, "PRICE", "usd/t", "llm")
    clock = FakeClock()
    alice, bob = make_queue(project, "alice", clock), make_queue(project, "bob", clock)
    got: dict[str, list[int]] = {"alice": [], "bob": []}

    def work(q: Queue) -> None:
        held: list[tuple[int, str]] = []
        while True:
            fetch = q.fetch("PRICE", n=3, held=held)
            if not fetch.tasks:
                return
            held += [t.key for t in fetch.tasks]
            got[q.annotator] += [t.text.id for t in fetch.tasks]

    threads = [threading.Thread(target=work, args=(q,)) for q in (alice, bob)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Which thread gets how many depends on the scheduler; that no task is given twice and
    # none is lost does not.
    assert not set(got["alice"]) & set(got["bob"])
    assert sorted(got["alice"] + got["bob"]) == ids


def test_annotators_taking_turns_share_the_tasks(project: Project) -> None:
    ids = add_texts(project, [f"wheat lot {i} at {100 + i} usd/t" for i in range(10)])
    for text_id in ids:
        propose(project, text_id, "PRICE", "usd/t", "llm")
    clock = FakeClock()
    queues = [make_queue(project, "alice", clock), make_queue(project, "bob", clock)]
    held: dict[str, list[tuple[int, str]]] = {"alice": [], "bob": []}
    for turn in range(10):
        q = queues[turn % 2]
        held[q.annotator] += keys(q.fetch("PRICE", n=2, held=held[q.annotator]))
    alice = {t for t, _ in held["alice"]}
    bob = {t for t, _ in held["bob"]}
    assert alice == set(ids[0:2] + ids[4:6] + ids[8:10])
    assert bob == set(ids[2:4] + ids[6:8])


def test_an_expired_lease_goes_back_to_the_pool(project: Project) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    propose(project, a, "PRICE", "250 usd/t")
    clock = FakeClock()
    alice, bob = make_queue(project, "alice", clock), make_queue(project, "bob", clock)
    assert keys(alice.fetch("PRICE")) == [(a, "PRICE")]
    empty = bob.fetch("PRICE")
    assert empty.tasks == [] and empty.empty is not None and empty.empty.reason == "leased"
    clock.advance(project.settings.lease_seconds + 1)
    assert keys(bob.fetch("PRICE")) == [(a, "PRICE")]


def test_a_fetch_renews_the_annotators_leases(project: Project) -> None:
    a, b = add_texts(project, TEXTS[:2])
    propose(project, a, "PRICE", "250 usd/t")
    propose(project, b, "PRICE", "4.10 usd/bu")
    clock = FakeClock()
    alice, bob = make_queue(project, "alice", clock), make_queue(project, "bob", clock)
    alice.fetch("PRICE", n=1)
    clock.advance(project.settings.lease_seconds - 1)
    alice.fetch("PRICE", n=1, held=[(a, "PRICE")])  # renews the lease on a
    clock.advance(2)
    assert bob.fetch("PRICE").tasks == []


def test_overlap_gives_every_task_to_every_annotator(project: Project) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    pid = propose(project, a, "PRICE", "250 usd/t")
    project.settings = project.settings.model_copy(update={"overlap": True})
    alice, bob = make_queue(project, "alice"), make_queue(project, "bob")
    assert keys(alice.fetch("PRICE")) == [(a, "PRICE")]
    assert keys(bob.fetch("PRICE")) == [(a, "PRICE")]
    project.store.add_answer(pid, "accept", "alice")
    assert alice.fetch("PRICE").tasks == []
    assert keys(bob.fetch("PRICE")) == [(a, "PRICE")]


def test_answered_and_gold_texts_are_not_asked(project: Project) -> None:
    a, b = add_texts(project, TEXTS[:2])
    pid = propose(project, a, "PRICE", "250 usd/t")
    propose(project, b, "PRICE", "4.10 usd/bu")
    project.store.add_answer(pid, "reject", "someone")
    project.store.save_gold(b, "someone", [], done=False)
    fetch = make_queue(project, "ann").fetch("PRICE")
    assert fetch.tasks == [] and fetch.empty is not None
    assert fetch.empty.reason == "finished"


def test_an_undone_answer_is_asked_again(project: Project) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    pid = propose(project, a, "PRICE", "250 usd/t")
    q = make_queue(project, "ann")
    assert q.fetch("PRICE").tasks
    answer = project.store.add_answer(pid, "accept", "ann")
    assert q.fetch("PRICE").tasks == []
    project.store.undo_answer(answer, "ann")
    assert keys(q.fetch("PRICE")) == [(a, "PRICE")]


def test_rules_propose_when_stored_proposals_run_out(project: Project) -> None:
    ids = add_texts(project, TEXTS)
    q = make_queue(project, "ann", proposers=proposers_for(project))
    fetch = q.fetch("COMMODITY", n=10)
    assert [t.text.id for t in fetch.tasks] == ids
    assert [
        project.store.get_text(t.text.id).text[q0.start : q0.end]
        for t in fetch.tasks
        for q0 in t.questions
    ] == ["wheat", "corn", "brent", "soybeans"]
    assert project.store.count_covered("COMMODITY", "rule") == 4
    # Covered texts are not proposed again: a second annotator finds the tasks leased.
    other = make_queue(project, "other", proposers=proposers_for(project))
    assert other.fetch("COMMODITY").empty.reason == "leased"  # type: ignore[union-attr]
    assert project.store.count_proposals("COMMODITY") == 4


def test_all_labels_pass_asks_every_label_of_a_text_before_the_next_text(
    project: Project,
) -> None:
    a, b = add_texts(project, TEXTS[:2])
    q = make_queue(project, "ann", proposers=proposers_for(project))
    # n=1 still takes the whole text: a text's labels are never split between fetches.
    fetch = q.fetch(None, n=1)
    assert keys(fetch) == [(a, "COMMODITY"), (a, "INCOTERM")]
    fetch = q.fetch(None, n=1, held=[(a, "COMMODITY"), (a, "INCOTERM")])
    assert keys(fetch) == [(b, "COMMODITY"), (b, "INCOTERM")]


def test_empty_queue_without_texts_says_how_to_import(project: Project) -> None:
    fetch = make_queue(project, "ann").fetch("PRICE")
    assert fetch.empty is not None and fetch.empty.reason == "no_texts"
    assert "nerloop import" in fetch.empty.hint


def test_empty_queue_for_a_ner_label_without_llm_says_to_configure_it(project: Project) -> None:
    add_texts(project, TEXTS)
    fetch = make_queue(project, "ann", proposers=proposers_for(project)).fetch("PRICE")
    assert fetch.empty is not None and fetch.empty.reason == "no_source"
    assert "LLM is not configured" in fetch.empty.message
    assert "llm_model" in fetch.empty.hint


class FailingProposer:
    source: Source = "llm"
    commits = False

    def labels(self) -> Sequence[str]:
        return ["PRICE"]

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        raise ConnectionError("connection refused by 127.0.0.1:9")


def test_empty_queue_when_the_llm_is_unreachable_says_so(project: Project) -> None:
    add_texts(project, TEXTS)
    fetch = make_queue(project, "ann", proposers=[FailingProposer()]).fetch("PRICE")
    assert fetch.empty is not None and fetch.empty.reason == "source_failed"
    assert "connection refused" in fetch.empty.message
    assert project.store.count_covered("PRICE", "llm") == 0  # nothing marked as done


def test_empty_queue_when_the_pass_is_finished(project: Project) -> None:
    add_texts(project, TEXTS[:1])
    q = make_queue(project, "ann", proposers=proposers_for(project))
    (task,) = q.fetch("COMMODITY").tasks
    for question in task.questions:
        for p in question.proposals:
            project.store.add_answer(p.id, "accept", "ann")
    fetch = q.fetch("COMMODITY")
    assert fetch.empty is not None and fetch.empty.reason == "finished"
    assert fetch.progress == (1, 1)


@pytest.mark.parametrize("source", ["llm", "model"])
@pytest.mark.parametrize("cursor", [None, Cursor(0.25, 10)])
def test_claim_queries_walk_an_index(project: Project, source: str, cursor: Cursor | None) -> None:
    plan = project.store.claim_plan("PRICE", source, cursor=cursor)
    assert (
        "USING INDEX proposals_label_source" in plan or "USING INDEX proposals_informative" in plan
    )
    assert "SCAN p" not in plan and "TEMP B-TREE" not in plan
    if cursor is not None:  # the walk seeks past the cursor instead of scanning up to it
        assert ">?" in plan.splitlines()[0]


def test_the_registry_wires_rules_always_and_the_llm_when_configured(project: Project) -> None:
    assert [p.source for p in proposers_for(project)] == ["rule"]
    project.settings = project.settings.model_copy(update={"llm_model": "some-model"})
    sources = [p.source for p in proposers_for(project)]
    assert sources == ["rule", "llm"]
    (llm,) = [p for p in proposers_for(project) if p.source == "llm"]
    assert set(llm.labels()) == {"PRICE", "LOCATION"}
