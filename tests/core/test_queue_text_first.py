"""The all-labels pass goes text first, and a span answered through one source is not asked again
when another source proposes it later."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from nerloop.core.annotate import queue as queue_module
from nerloop.core.annotate.queue import Fetch
from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.records import NewProposal, Source, StoredText
from tests.helpers.queue_helpers import add_texts, make_queue, make_session, propose

TEXTS = [
    "heard wheat bid 250 usd/t fob rouen march",
    "corn offered 4.10 usd/bu cif rotterdam",
    "brent at 80 usd/bbl",
    "soybeans 390 usd/t fob santos",
]


def keys(fetch: Fetch) -> list[tuple[int, str]]:
    return [t.key for t in fetch.tasks]


class PhraseProposer:
    """Proposes the first of its phrases found in a text, for one label; records the texts it
    was given."""

    commits = False

    def __init__(self, project: Project, source: Source, label: str, *phrases: str) -> None:
        self.project = project
        self.source = source
        self.label = label
        self.phrases = phrases
        self.calls: list[list[int]] = []

    def labels(self) -> Sequence[str]:
        return [self.label]

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        self.calls.append([t.id for t in texts])
        found = []
        for t in texts:
            phrase = next((p for p in self.phrases if p in t.text), None)
            if phrase is None:
                continue
            start = t.text.index(phrase)
            end = start + len(phrase)
            span = self.project.nlp(t.text).char_span(start, end, alignment_mode="expand")
            assert span is not None
            found.append(
                NewProposal(t.id, label, start, end, span.start, span.end - 1, self.source)
            )
        return found


class FailingProposer:
    source: Source = "llm"
    commits = False

    def labels(self) -> Sequence[str]:
        return ["PRICE"]

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        raise ConnectionError("connection refused by 127.0.0.1:9")


# -- text first ---------------------------------------------------------------------------------


def test_stored_proposals_are_asked_text_by_text_in_taxonomy_order(project: Project) -> None:
    a, b = add_texts(project, TEXTS[:2])
    propose(project, a, "PRICE", "250 usd/t", "llm")
    propose(project, b, "COMMODITY", "corn", "rule")
    propose(project, a, "INCOTERM", "fob", "rule")
    propose(project, a, "COMMODITY", "wheat", "import")
    q = make_queue(project, "ann")
    fetch = q.fetch(None, n=1)
    # Taxonomy order is COMMODITY, INCOTERM, PRICE, LOCATION; b's task (proposed before some of
    # a's) waits until every label of a has been handed out.
    assert keys(fetch) == [(a, "COMMODITY"), (a, "INCOTERM"), (a, "PRICE")]
    assert keys(q.fetch(None, n=1, held=keys(fetch))) == [(b, "COMMODITY")]


def test_a_lagging_proposer_covers_a_text_before_the_text_is_asked(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rules cover 256 texts at once, the LLM one at a time: text a must not be asked for the
    # rule labels before the LLM has covered it too (else its PRICE would come back later).
    monkeypatch.setitem(queue_module.PROPOSE_BATCH, "llm", 1)
    a, b, *_ = add_texts(project, TEXTS)
    llm = PhraseProposer(project, "llm", "PRICE", "usd")
    q = make_queue(project, "ann", proposers=[*proposers_for(project), llm])
    fetch = q.fetch(None, n=1)
    assert keys(fetch) == [(a, "COMMODITY"), (a, "INCOTERM"), (a, "PRICE")]
    assert llm.calls == [[a]]
    fetch = q.fetch(None, n=1, held=keys(fetch))
    assert keys(fetch) == [(b, "COMMODITY"), (b, "INCOTERM"), (b, "PRICE")]
    assert llm.calls == [[a], [b]]


def test_a_model_that_joins_late_covers_the_reviewed_texts_in_the_same_batch(
    project: Project,
) -> None:
    a, b = add_texts(project, TEXTS[:2])
    project.store.add_answer(propose(project, a, "COMMODITY", "wheat", "rule"), "accept", "x")
    project.store.add_answer(propose(project, a, "PRICE", "250 usd/t", "llm"), "accept", "x")
    # A model is promoted (and rules switched on) after text a was reviewed. Local sources are
    # fast, so they cover a and b in one batch (issue 14.1: no text is asked without them); b
    # is asked first, then the rules' new "fob" on a; their "wheat" and the model's
    # "250 usd/t" were answered through the earlier proposals, so they are not asked again.
    model = PhraseProposer(project, "model", "PRICE", "250 usd/t", "4.10 usd/bu")
    q = make_queue(project, "ann", proposers=[*proposers_for(project), model])
    first = q.fetch(None, n=1)
    assert model.calls == [[a, b]]
    assert keys(first) == [(b, "COMMODITY"), (b, "INCOTERM"), (b, "PRICE")]
    second = q.fetch(None, n=1, held=keys(first))
    assert keys(second) == [(a, "INCOTERM")]
    assert model.calls == [[a, b]]


def test_a_failing_proposer_does_not_hold_back_the_other_sources(project: Project) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    q = make_queue(project, "ann", proposers=[*proposers_for(project), FailingProposer()])
    assert keys(q.fetch(None)) == [(a, "COMMODITY"), (a, "INCOTERM")]
    fetch = q.fetch(None, held=[(a, "COMMODITY"), (a, "INCOTERM")])
    assert fetch.empty is not None and fetch.empty.reason == "source_failed"


def test_texts_imported_after_the_pass_finished_are_covered_and_asked(project: Project) -> None:
    add_texts(project, TEXTS[:1])
    q = make_queue(project, "ann", proposers=proposers_for(project))
    for task in q.fetch(None).tasks:
        for question in task.questions:
            for p in question.proposals:
                project.store.add_answer(p.id, "accept", "ann")
    fetch = q.fetch(None)
    # (PRICE and LOCATION have no source here, which is what an empty queue reports.)
    assert fetch.tasks == [] and fetch.progress == (2, 2)
    (b,) = add_texts(project, TEXTS[1:2])
    assert keys(q.fetch(None)) == [(b, "COMMODITY"), (b, "INCOTERM")]


def test_two_annotators_in_the_all_labels_pass_never_get_the_same_task(project: Project) -> None:
    add_texts(project, TEXTS)
    alice = make_queue(project, "alice", proposers=proposers_for(project))
    bob = make_queue(project, "bob", proposers=proposers_for(project))
    got: list[tuple[int, str]] = []
    for _ in range(3):
        for q, name in ((alice, "alice"), (bob, "bob")):
            held = [(t, label) for t, label, _ in project.store.leases_of(name)]
            got += keys(q.fetch(None, n=1, held=held))
    assert len(got) == len(set(got))
    assert len({t for t, _ in got}) == 4  # every text, each handed out whole to one annotator
    alice_texts = {t for t, _, _ in project.store.leases_of("alice")}
    bob_texts = {t for t, _, _ in project.store.leases_of("bob")}
    assert alice_texts and bob_texts and not alice_texts & bob_texts


def test_a_session_in_the_all_labels_pass_finishes_a_text_before_the_next(
    project: Project,
) -> None:
    a, b = add_texts(project, TEXTS[:2])
    propose(project, b, "COMMODITY", "corn", "rule")
    propose(project, a, "COMMODITY", "wheat", "rule")
    propose(project, b, "PRICE", "4.10 usd/bu", "llm")
    propose(project, a, "PRICE", "250 usd/t", "llm")
    q = make_queue(project, "ann")
    session = make_session(project, q)
    asked = []
    while True:
        if session.wants_more():
            session.add_tasks(q.fetch(None, n=1, held=session.held()).tasks)
        shown = session.current()
        if shown is None:
            break
        asked.append((shown.task.text.id, shown.question.label))
        session.answer("accept")
    assert asked == [(a, "COMMODITY"), (a, "PRICE"), (b, "COMMODITY"), (b, "PRICE")]


@pytest.mark.parametrize("overlap", [False, True])
def test_the_text_first_walk_seeks_an_index(project: Project, overlap: bool) -> None:
    plan = project.store.claim_texts_plan(["COMMODITY", "PRICE"], overlap=overlap, after=5)
    first = plan.splitlines()[0]
    assert "USING INDEX proposals_text_label (text_id>? AND text_id<?)" in first
    assert "SCAN" not in plan and "TEMP B-TREE" not in plan
    # "already answered" looks the span up by task_hash, then its answers, both by index.
    assert "proposals_task_source (task_hash=?)" in plan
    assert "answers_proposal (proposal_id=?)" in plan


# -- a span answered through another source ---------------------------------------------------


def test_a_span_answered_through_one_source_is_not_asked_when_another_proposes_it(
    project: Project,
) -> None:
    (a,) = add_texts(project, TEXTS[:1])
    llm_pid = propose(project, a, "PRICE", "250 usd/t", "llm")
    q = make_queue(project, "ann")
    (task,) = q.fetch("PRICE").tasks
    answer = project.store.add_answer(llm_pid, "accept", "ann")
    q.release(project.store, task.key)
    # The model proposes the same span later (and one new span).
    propose(project, a, "PRICE", "250 usd/t", "model", score=0.5)
    propose(project, a, "PRICE", "rouen", "model", score=0.4)
    for label_pass in ("PRICE", None):
        q.reset_pass(label_pass)
        (task,) = q.fetch(label_pass).tasks
        assert [(x.start, x.end, x.sources) for x in task.questions] == [(30, 35, ("model",))]
    # The duplicate counts as answered by the earlier answer; only "rouen" is open.
    assert q.pass_progress("PRICE") == (2, 3)
    # Undoing the earlier answer reopens the span, asked once for both sources.
    project.store.undo_answer(answer, "ann")
    q.reset_pass("PRICE")
    (task,) = q.fetch("PRICE").tasks
    assert [(x.start, x.end, x.sources) for x in task.questions] == [
        (16, 25, ("model", "llm")),
        (30, 35, ("model",)),
    ]
    assert q.pass_progress("PRICE") == (0, 3)


def test_with_overlap_only_the_annotators_own_earlier_answer_counts(project: Project) -> None:
    project.settings = project.settings.model_copy(update={"overlap": True})
    (a,) = add_texts(project, TEXTS[:1])
    llm_pid = propose(project, a, "PRICE", "250 usd/t", "llm")
    project.store.add_answer(llm_pid, "accept", "alice")
    propose(project, a, "PRICE", "250 usd/t", "model", score=0.5)
    alice, bob = make_queue(project, "alice"), make_queue(project, "bob")
    assert alice.fetch("PRICE").tasks == []
    (task,) = bob.fetch("PRICE").tasks
    assert [x.sources for x in task.questions] == [("model", "llm")]
    assert alice.pass_progress("PRICE") == (2, 2)
    assert bob.pass_progress("PRICE") == (0, 2)
