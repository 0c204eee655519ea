"""The LLM path stores an outcome once: the proposer asks (no store writes), one committer
writes the ledger row and its proposals together, and the queue never stores them again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import pytest

from nerloop.core.llm import LLMClient
from nerloop.core.project import Project
from nerloop.core.prompts import FewShot
from nerloop.core.proposers.llm_task import build_prompt, place_answer
from nerloop.core.proposers.llm_writer import commit_outcomes
from nerloop.core.records import NewProposal, Source, StoredText
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.propose_helpers import GOLD, T1, add_texts, clean_env, proposer, wire
from tests.helpers.queue_helpers import make_queue


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    clean_env(monkeypatch)
    with FakeLLM(GOLD) as server:
        yield server


def test_ask_writes_nothing_and_the_committer_writes_both(project: Project, fake: FakeLLM) -> None:
    wire(project, fake.url, fewshot_k=0)
    add_texts(project, [T1])
    [text] = project.store.iter_texts("pool")
    p = proposer(project)

    async def ask() -> object:
        async with LLMClient(project.settings) as client:
            return await p.ask(client, text, ["PRICE"], batch=False)

    outcome = asyncio.run(ask())
    assert outcome.proposals  # type: ignore[attr-defined]
    assert project.store.count_proposals() == 0
    assert project.store.llm_calls() == []
    commit_outcomes(project.store, [outcome])  # type: ignore[list-item]
    [row] = project.store.llm_calls()
    assert row["label"] == "PRICE" and row["error"] is None
    assert project.store.count_proposals() == len(outcome.proposals)  # type: ignore[attr-defined]


class CommittingProposer:
    """Returns proposals it says it has committed, without storing them: a queue that stores
    them anyway shows up as proposals in the store."""

    source: Source = "llm"
    commits = True

    def __init__(self, project: Project) -> None:
        self.project = project

    def labels(self) -> Sequence[str]:
        return ["PRICE"]

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        out = []
        for t in texts:
            start = t.text.index("250 usd/t")
            doc = self.project.nlp(t.text)
            span = doc.char_span(start, start + 9, alignment_mode="expand")
            assert span is not None
            out.append(NewProposal(t.id, label, start, start + 9, span.start, span.end - 1, "llm"))
        return out


def test_queue_does_not_store_what_a_committing_proposer_returns(project: Project) -> None:
    add_texts(project, [T1])
    q = make_queue(project, "ann", proposers=[CommittingProposer(project)])
    q.fetch("PRICE")
    assert project.store.count_proposals() == 0
    assert project.store.count_covered("PRICE", "llm") == 1


def test_llm_proposals_through_the_queue_are_stored_once_with_their_ledger(
    project: Project, fake: FakeLLM
) -> None:
    wire(project, fake.url, fewshot_k=0)
    add_texts(project, [T1])
    q = make_queue(project, "ann", proposers=[proposer(project)])
    fetch = q.fetch("PRICE")
    [task] = fetch.tasks
    shown = [p.id for question in task.questions for p in question.proposals]
    assert len(shown) == project.store.count_proposals() == 1
    assert len(project.store.llm_calls()) == 1


class BatchAwareShots:
    """A few-shot source that is neither a function nor the retrieval provider: it gives
    examples only when told the prompt is a batch prompt."""

    def __init__(self) -> None:
        self.asked: list[bool] = []

    async def fewshot(
        self, text: StoredText, labels: Sequence[str], *, batch: bool
    ) -> Sequence[FewShot]:
        self.asked.append(batch)
        return [FewShot("corn 150 usd/t", (("PRICE", "150 usd/t"),))] if batch else []


def test_any_few_shot_source_is_awaited_with_the_mode(project: Project, fake: FakeLLM) -> None:
    wire(project, fake.url)
    add_texts(project, [T1])
    texts = list(project.store.iter_texts("pool"))
    shots = BatchAwareShots()
    p = proposer(project, examples_for=shots)
    asyncio.run(p.run([(texts[0], ["PRICE"])], batch=True))
    assert shots.asked == [True]
    [body] = fake.stats.bodies
    assert '"150 usd/t"' in body["messages"][2]["content"]


def test_the_task_places_an_answer_without_any_io(project: Project) -> None:
    text = StoredText(id=7, input_hash=1, text=T1, meta={}, split="pool")
    labels = [project.taxonomy.get("PRICE")]
    prompt = build_prompt(text, labels, [], batch=False)
    proposals, dropped = place_answer(
        ["250 usd/t", "not in the text"],
        prompt,
        text,
        project.nlp(T1),
        model="m",
        threshold=85.0,
        mode="expand",
    )
    assert [(p.text_id, T1[p.start : p.end], p.source_detail) for p in proposals] == [
        (7, "250 usd/t", f"m|{prompt.version}")
    ]
    assert sum(dropped.values()) == 1
