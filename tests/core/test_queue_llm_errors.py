"""An LLM error on one text (an unreadable answer, a storm of 500s) leaves the text uncovered,
so that it is asked again later, without the queue asking it over and over in one session.
Through the real client and proposer, against the fake server on 127.0.0.1."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from typing import Any

import pytest
from click.testing import CliRunner

from nerloop.core.annotate.queue import Fetch, Queue, TaskKey
from nerloop.core.llm import LLMClient
from nerloop.core.project import Project
from nerloop.core.prompts import read_user_message
from nerloop.core.proposers import TextsFailed
from nerloop.core.proposers.llm import LLMProposer
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.store import Store
from nerloop.tui.cli import main
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.propose_helpers import GOLD, T1, T2, T3, T4, add_texts, clean_env, wire
from tests.helpers.queue_helpers import FakeClock, make_queue, propose


class FailsOn(FakeLLM):
    """The fake LLM, answering prose instead of JSON for one text, every time it is asked."""

    def __init__(self, bad: str | None) -> None:
        super().__init__(GOLD)
        self.bad = bad
        self.asked: Counter[str] = Counter()
        self._count = threading.Lock()

    def content_for(self, body: dict[str, Any]) -> str:
        user = next(m for m in reversed(body["messages"]) if m["role"] == "user")
        parsed = read_user_message(user["content"])
        assert parsed is not None
        with self._count:
            self.asked[parsed[0]] += 1
        if parsed[0] == self.bad:
            return "Sorry, I cannot find a price in that text."
        return super().content_for(body)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FailsOn]:
    clean_env(monkeypatch)
    server = FailsOn(T2)
    with server:
        yield server


async def no_sleep(seconds: float) -> None:
    pass


def llm(project: Project) -> LLMProposer:
    """The LLM proposer the queue would make; retry waits are not slept."""
    return LLMProposer.from_project(
        project, client_factory=lambda: LLMClient(project.settings, sleep=no_sleep)
    )


def drain(queue: Queue, label_pass: str | None, most: int = 12) -> tuple[list[TaskKey], Fetch]:
    """Fetch and answer (reject) every question until the queue says it is empty; fail past
    `most` fetches: a queue that keeps asking the LLM about a failing text never gets there."""
    asked: list[TaskKey] = []
    with closing(Store(queue.db_path)) as store:
        for _ in range(most):
            fetch = queue.fetch(label_pass)
            for task in fetch.tasks:
                asked.append(task.key)
                for q in task.questions:
                    for p in q.proposals:
                        store.add_answer(p.id, "reject", queue.annotator)
            if fetch.empty is not None:
                return asked, fetch
    raise AssertionError(f"still not empty after {most} fetches; asked {asked}")


def error_rows(project: Project, text: str) -> int:
    return int(
        project.store.scalar(
            "SELECT count(*) FROM llm_calls l JOIN texts t ON t.input_hash = l.text_hash "
            "WHERE t.text = ? AND l.error IS NOT NULL",
            [text],
        )
    )


def uncovered(project: Project, label: str) -> list[int]:
    return project.store.uncovered_texts(label, "llm", after_id=0, n=100)


def test_the_llm_proposer_says_which_texts_failed(project: Project, fake: FailsOn) -> None:
    wire(project, fake.url)
    ids = add_texts(project)
    texts = [project.store.get_text(i) for i in ids]
    with pytest.raises(TextsFailed) as info:
        llm(project).propose(texts, "PRICE")
    assert list(info.value.failed) == [ids[1]]
    assert "unreadable answer" in info.value.failed[ids[1]]
    # The other texts' proposals come with it, and are stored already.
    assert sorted({p.text_id for p in info.value.proposals}) == [ids[0], ids[2], ids[3]]
    assert project.store.count_proposals("PRICE") == 3


def test_a_text_the_llm_fails_on_stays_uncovered_and_the_queue_moves_on(
    project: Project, fake: FailsOn
) -> None:
    wire(project, fake.url)
    t1, t2, t3, t4 = add_texts(project)
    queue = make_queue(project, "ann", proposers=[llm(project)])
    asked, empty = drain(queue, "PRICE")
    assert sorted(asked) == [(t1, "PRICE"), (t3, "PRICE"), (t4, "PRICE")]
    # Asked once in this session, counted as an error, and left for later: not covered.
    assert fake.asked[T2] == 1 and error_rows(project, T2) == 1
    assert uncovered(project, "PRICE") == [t2]
    assert project.store.llm_stats()["errors"] == 1
    assert empty.empty is not None and empty.empty.reason == "source_failed"
    assert "1 text(s) a proposer failed on" in empty.empty.message
    assert "unreadable answer" in empty.empty.message
    # The next session asks it again; it works now and is asked like any other text.
    fake.bad = None
    again, _ = drain(make_queue(project, "ann", proposers=[llm(project)]), "PRICE")
    assert again == [(t2, "PRICE")] and fake.asked[T2] == 2
    assert uncovered(project, "PRICE") == []
    assert project.store.llm_stats()["errors"] == 1  # the failure stays in the ledger


def test_the_all_labels_pass_asks_a_failing_texts_other_labels_and_moves_on(
    project: Project, fake: FailsOn
) -> None:
    wire(project, fake.url)
    t1, t2, t3, t4 = add_texts(project)
    # Text 1 was reviewed before: the pass looks for new work past it first.
    project.store.add_answer(propose(project, t1, "COMMODITY", "wheat", "rule"), "accept", "x")
    proposers = [*proposers_for(project)[:1], llm(project)]
    asked, empty = drain(make_queue(project, "ann", proposers=proposers), None)
    assert set(asked) >= {(t2, "COMMODITY"), (t3, "PRICE"), (t4, "LOCATION"), (t1, "PRICE")}
    assert not {(t2, "PRICE"), (t2, "LOCATION")} & set(asked)
    assert fake.asked[T2] == 2  # once per ner label, in the whole pass
    assert uncovered(project, "PRICE") == uncovered(project, "LOCATION") == [t2]
    assert empty.empty is not None and "1 text(s) a proposer failed on" in empty.empty.message


def test_a_storm_of_500s_pauses_the_llm_instead_of_walking_the_pool(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    clean_env(monkeypatch)
    texts = [f"heard wheat lot {i} bid {200 + i} usd/t fob rouen" for i in range(20)]
    with FakeLLM({}) as storm:
        storm.add_faults(*["500"] * 1000)
        wire(project, storm.url, llm_max_retries=1)
        ids = add_texts(project, texts)
        fetch = make_queue(project, "ann", proposers=[llm(project)]).fetch("PRICE")
        # One batch of texts, each tried twice (one retry), then the LLM is left alone.
        assert fetch.tasks == [] and fetch.empty is not None
        assert fetch.empty.reason == "source_failed" and "failed on all of the last 8" in (
            fetch.empty.message
        )
        assert storm.requests == 16 and project.store.llm_stats()["errors"] == 8
        assert project.store.count_covered("PRICE", "llm") == 0
        storm.faults.clear()
        # Once it is over, a new session covers every text, the failed ones too.
        _, done = drain(make_queue(project, "ann", proposers=[llm(project)]), "PRICE")
        assert done.empty is not None and done.empty.reason == "finished"
        assert project.store.count_covered("PRICE", "llm") == len(ids)


def test_nerloop_propose_asks_again_what_the_queue_failed_on(
    project: Project, fake: FailsOn
) -> None:
    wire(project, fake.url)
    _, t2, _, _ = add_texts(project)
    drain(make_queue(project, "ann", proposers=[llm(project)]), "PRICE")
    assert uncovered(project, "PRICE") == [t2]
    fake.bad = None
    res = CliRunner().invoke(main, ["propose", "-p", str(project.path), "--label", "PRICE"])
    assert res.exit_code == 0, res.output
    assert "requests 1 (1 to the LLM, 0 from the cache)" in res.output
    assert fake.asked[T2] == 2
    # The queue's next session asks it from the cache: no request, and it is covered now.
    again, _ = drain(make_queue(project, "ann", proposers=[llm(project)]), "PRICE")
    assert again == [(t2, "PRICE")] and fake.asked[T2] == 2
    assert uncovered(project, "PRICE") == []


def test_a_text_nerloop_propose_failed_on_is_asked_by_the_queue(
    project: Project, fake: FailsOn
) -> None:
    wire(project, fake.url)
    t1, t2, t3, t4 = add_texts(project)
    res = CliRunner().invoke(main, ["propose", "-p", str(project.path), "--label", "PRICE"])
    assert res.exit_code == 1 and "errors   1" in res.output
    fake.bad = None
    clock = FakeClock()
    asked, _ = drain(make_queue(project, "ann", clock, proposers=[llm(project)]), "PRICE")
    assert sorted(asked) == [(t1, "PRICE"), (t2, "PRICE"), (t3, "PRICE"), (t4, "PRICE")]
    assert fake.asked[T2] == 2 and fake.asked[T1] == 1  # T1 came from the cache
    assert {T1, T3, T4} <= set(fake.asked) and uncovered(project, "PRICE") == []
