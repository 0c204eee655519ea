"""Few-shot examples for batch prompts: complete texts (reviewed for every ner label)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import pytest

from nerloop.core.config import load_settings
from nerloop.core.llm import cache_key
from nerloop.core.project import Project
from nerloop.core.prompts import BATCH_V1, FewShot, batch_prompt
from nerloop.core.proposers.llm import LLMProposer
from nerloop.core.records import LLMCall, NewProposal, StoredText
from nerloop.core.retrieval import (
    COMPLETE,
    FewShotProvider,
    Retriever,
    batch_example_tokens,
    complete_texts,
    local_embedder,
    prompt_tokens,
    to_fewshot,
)
from nerloop.core.retrieval import retriever as retrieval
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.propose_helpers import clean_env, proposer, wire

LABELS = ["PRICE", "LOCATION"]  # the conftest taxonomy's ner labels
QUERY = "heard wheat bid 251 usd/t fob rouen march"

# Reviewed for both labels: every LLM proposal answered, and the LLM ran for a label it found
# nothing of (a coverage row). The last two have no span of one label or of any (the LLM's
# one proposal there, "heard" as a PRICE, was rejected: a text nobody answered anything on is
# no training text, so not complete either).
COMPLETE_TEXTS: list[tuple[str, dict[str, list[str]]]] = [
    ("heard wheat bid 250 usd/t fob rouen april", {"PRICE": ["250 usd/t"], "LOCATION": ["rouen"]}),
    ("heard corn offered 262 usd/t fob rouen may", {"PRICE": ["262 usd/t"], "LOCATION": ["rouen"]}),
    ("corn bid 180 usd/t cif rotterdam", {"PRICE": ["180 usd/t"], "LOCATION": ["rotterdam"]}),
    ("brent crude traded at 82 usd/bbl", {"PRICE": ["82 usd/bbl"]}),
    ("heard wheat bid firm, no price yet", {}),
]
# Nearer the query than any complete text, but reviewed for PRICE only.
INCOMPLETE = ("heard wheat bid 252 usd/t fob rouen march", {"PRICE": ["252 usd/t"]})


def _propose(project: Project, tid: int, label: str, sub: str) -> int:
    text = project.store.get_text(tid).text
    start = text.index(sub)
    span = project.nlp(text).char_span(start, start + len(sub))
    assert span is not None
    [pid] = project.store.add_proposals(
        [NewProposal(tid, label, start, start + len(sub), span.start, span.end - 1, "llm")]
    )
    return pid


def review(
    project: Project, text: str, spans: Mapping[str, Sequence[str]], labels: Sequence[str] = LABELS
) -> int:
    """Store `text` reviewed for `labels`: the LLM's proposals of `spans` accepted, and a
    coverage row (the LLM ran, found nothing) for a label without spans. A text without any
    span gets a rejected proposal, so that it has an answer."""
    s = project.store
    tid, _ = s.add_text(text)
    if not spans:
        s.add_answer(_propose(project, tid, labels[0], text.split()[0]), "reject", "ann")
    for label in labels:
        for sub in spans.get(label, []):
            s.add_answer(_propose(project, tid, label, sub), "accept", "ann")
        if not spans.get(label) and (spans or label != labels[0]):
            s.mark_covered(label, "llm", [tid])
    return tid


@pytest.fixture
def pool(project: Project) -> dict[str, int]:
    ids = {text: review(project, text, spans) for text, spans in COMPLETE_TEXTS}
    ids[INCOMPLETE[0]] = review(project, *INCOMPLETE, labels=["PRICE"])
    return ids


def _query(project: Project, text: str = QUERY) -> StoredText:
    tid, _ = project.store.add_text(text)
    return project.store.get_text(tid)


def test_complete_texts_are_those_reviewed_for_every_ner_label(
    project: Project, pool: dict[str, int]
) -> None:
    s = project.store
    # A LOCATION proposal nobody answered: the text is not reviewed for LOCATION.
    tid, _ = s.add_text("maize 200 usd/t fob durban")
    s.add_answer(_propose(project, tid, "PRICE", "200 usd/t"), "accept", "ann")
    _propose(project, tid, "LOCATION", "durban")
    got = complete_texts(s, project.taxonomy)
    assert set(got) == {pool[text] for text, _ in COMPLETE_TEXTS}
    shown = {
        s.get_text(t).text: sorted((sp.label, s.get_text(t).text[sp.start : sp.end]) for sp in v)
        for t, v in got.items()
    }
    assert shown["brent crude traded at 82 usd/bbl"] == [("PRICE", "82 usd/bbl")]
    assert shown["heard wheat bid firm, no price yet"] == []
    assert shown[COMPLETE_TEXTS[0][0]] == [("LOCATION", "rouen"), ("PRICE", "250 usd/t")]


def test_batch_examples_are_the_nearest_complete_texts(
    project: Project, pool: dict[str, int]
) -> None:
    s = project.store
    query = _query(project)
    r = Retriever(s, local_embedder(), k=2, min_similarity=0.1, max_tokens=10_000)
    # For PRICE alone the incomplete text is the nearest accepted example ...
    assert r.examples_for(query, "PRICE")[0].text == INCOMPLETE[0]
    # ... but a batch prompt gets complete texts only, the nearest first.
    got = r.complete_examples_for(query, project.taxonomy)
    e = local_embedder()
    q = e.embed([QUERY])[0]
    by_sim = sorted(COMPLETE_TEXTS, key=lambda c: -float(e.embed([c[0]])[0] @ q))
    assert [ex.text for ex in got] == [by_sim[0][0], by_sim[1][0]]
    assert got[0].similarity >= got[1].similarity >= 0.1
    assert all(ex.label == COMPLETE for ex in got)
    assert to_fewshot(got[0]) == FewShot(by_sim[0][0], tuple(_pairs(by_sim[0])))
    # The text itself is never its own example.
    own = s.get_text(pool[COMPLETE_TEXTS[0][0]])
    assert own.id not in [ex.text_id for ex in r.complete_examples_for(own, project.taxonomy)]


def _pairs(item: tuple[str, dict[str, list[str]]]) -> list[tuple[str, str]]:
    text, spans = item
    pairs = [(label, sub) for label, subs in spans.items() for sub in subs]
    return sorted(pairs, key=lambda p: text.index(p[1]))


def test_a_text_with_no_complete_neighbour_gets_none(project: Project) -> None:
    s = project.store
    r = Retriever(s, local_embedder(), k=3, min_similarity=0.35, max_tokens=10_000)
    # No complete text at all (only one reviewed for PRICE).
    review(project, *INCOMPLETE, labels=["PRICE"])
    assert r.complete_examples_for(_query(project), project.taxonomy) == []
    for text, spans in COMPLETE_TEXTS:
        review(project, text, spans)
    r.complete_refresh_s = 0
    assert r.complete_examples_for(_query(project), project.taxonomy)
    # Nothing complete is like this text: no example rather than a far one.
    far = _query(project, "what movies did steven spielberg direct in the 1990s")
    assert r.complete_examples_for(far, project.taxonomy) == []


def test_the_budget_counts_the_rendered_batch_example(
    project: Project, pool: dict[str, int]
) -> None:
    query = _query(project)
    labels = [project.taxonomy.get(n) for n in LABELS]
    cost = batch_example_tokens(labels)
    roomy = load_settings(None, fewshot_k=5, fewshot_min_similarity=0.0, fewshot_max_tokens=10**4)
    every = FewShotProvider(lambda: project.store, project.taxonomy, roomy).complete_examples(
        query, LABELS
    )
    assert len(every) == 5
    budget = cost(every[0]) + cost(every[1])
    tight = load_settings(None, fewshot_k=5, fewshot_min_similarity=0.0, fewshot_max_tokens=budget)
    provider = FewShotProvider(lambda: project.store, project.taxonomy, tight)
    got = provider.complete_examples(query, LABELS)
    assert [ex.text for ex in got] == [every[0].text, every[1].text]
    shots = provider.shots(query, LABELS, batch=True)
    with_two = batch_prompt(query.text, labels, shots)
    plain = batch_prompt(query.text, labels)
    assert prompt_tokens(with_two.messages) - prompt_tokens(plain.messages) == budget


def test_new_complete_texts_are_seen_after_the_refresh_interval(
    project: Project, pool: dict[str, int]
) -> None:
    s = project.store
    query = _query(project)
    r = Retriever(s, local_embedder(), k=1, min_similarity=0.1, max_tokens=10_000)
    r.complete_refresh_s = 3600
    [before] = r.complete_examples_for(query, project.taxonomy)
    # LOCATION reviewed on the incomplete text, the query's nearest neighbour: complete now.
    tid = pool[INCOMPLETE[0]]
    s.add_answer(_propose(project, tid, "LOCATION", "rouen"), "accept", "ann")
    assert r.complete_examples_for(query, project.taxonomy) == [before]  # within the interval
    r.complete_refresh_s = 0
    [after] = r.complete_examples_for(query, project.taxonomy)
    assert after.text == INCOMPLETE[0] and after.labelled_answers == [
        ("PRICE", "252 usd/t"),
        ("LOCATION", "rouen"),
    ]


# -- in the LLM requests ---------------------------------------------------------------------


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    clean_env(monkeypatch)
    with FakeLLM({}) as server:
        yield server


def _run_batch(p: LLMProposer, texts: list[StoredText]) -> dict:
    return asyncio.run(p.run([(t, LABELS) for t in texts], batch=True)).as_dict()


def test_batch_requests_carry_complete_examples_and_key_the_cache_on_them(
    project: Project, pool: dict[str, int], fake: FakeLLM
) -> None:
    wire(project, fake.url, fewshot_k=2, fewshot_min_similarity=0.1)
    query = _query(project, "brent crude traded at 85 usd/bbl")
    p = proposer(project)
    assert isinstance(p.examples_for, FewShotProvider)
    p.examples_for.retriever.complete_refresh_s = 0
    _run_batch(p, [query])
    [body] = fake.stats.bodies
    roles = [m["role"] for m in body["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    # The nearest complete text: its PRICE, and no LOCATION item (it has none).
    assert "brent crude traded at 82 usd/bbl" in body["messages"][1]["content"]
    assert body["messages"][2]["content"] == (
        '{"spans": [{"label": "PRICE", "text": "82 usd/bbl", '
        '"context": "crude traded at 82 usd/bbl"}]}'
    )
    incomplete = INCOMPLETE[0]
    assert all(incomplete not in m["content"] for m in body["messages"])
    [row] = project.store.query("SELECT cache_key, prompt_version FROM llm_calls")
    assert row["prompt_version"] == "ner-batch/v2"
    shots = p.examples_for.shots(query, LABELS, batch=True)
    labels = [project.taxonomy.get(n) for n in LABELS]
    prompt = batch_prompt(query.text, labels, shots)
    assert [m["content"] for m in prompt.messages] == [m["content"] for m in body["messages"]]
    assert row["cache_key"] == cache_key("fake-model", prompt, query.input_hash)
    assert row["cache_key"] != cache_key(
        "fake-model", batch_prompt(query.text, labels), query.input_hash
    )
    # Same examples: served from the cache.
    _run_batch(p, [query])
    assert fake.requests == 1
    # Another complete text, nearer than the others: other examples, so asked again.
    review(project, "brent crude traded at 84 usd/bbl", {"PRICE": ["84 usd/bbl"]})
    _run_batch(p, [query])
    assert fake.requests == 2
    assert "brent crude traded at 84 usd/bbl" in fake.stats.bodies[-1]["messages"][1]["content"]


def test_a_batch_job_reads_the_complete_texts_once_and_off_its_event_loop(
    project: Project, pool: dict[str, int], fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Reading them takes about a second at 10,000 answered texts (bench/retrieval.py): on the
    # loop it would stop every request in flight.
    threads: list[int] = []
    real = retrieval.complete_texts

    def spy(*args: object) -> dict:
        threads.append(threading.get_ident())
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(retrieval, "complete_texts", spy)
    wire(project, fake.url, fewshot_k=2, fewshot_min_similarity=0.1, llm_concurrency=4)
    p = proposer(project)
    assert isinstance(p.examples_for, FewShotProvider)
    p.examples_for.retriever.complete_refresh_s = 3600
    queries = [_query(project, f"heard wheat bid {300 + i} usd/t fob rouen") for i in range(6)]
    assert _run_batch(p, queries)["errors"] == 0
    assert len(threads) == 1 and threads[0] != threading.get_ident()
    assert all(len(b["messages"]) == 6 for b in fake.stats.bodies) and fake.requests == 6


def test_a_batch_request_without_complete_neighbours_has_no_examples(
    project: Project, fake: FakeLLM
) -> None:
    wire(project, fake.url, fewshot_k=3)
    review(project, *INCOMPLETE, labels=["PRICE"])
    _run_batch(proposer(project), [_query(project)])
    [body] = fake.stats.bodies
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_texts_asked_with_batch_v1_are_not_asked_again(project: Project, fake: FakeLLM) -> None:
    wire(project, fake.url)
    old, new = _query(project, "wheat 250 usd/t fob rouen"), _query(project, "corn 180 usd/t")
    labels = [project.taxonomy.get(n) for n in LABELS]
    v1 = batch_prompt(old.text, labels, version=BATCH_V1)
    project.store.record_llm_call(
        LLMCall(
            cache_key=cache_key("fake-model", v1, old.input_hash),
            model="fake-model",
            prompt_version=BATCH_V1,
            text_hash=old.input_hash,
            label=v1.target,
            response='{"spans": []}',
        )
    )
    jobs = proposer(project).pending([old, new], LABELS, batch=True, limit=0)
    assert [t.id for t, _ in jobs] == [new.id]


def test_vectors_of_complete_texts_are_embedded_on_the_spot(
    project: Project, pool: dict[str, int]
) -> None:
    s = project.store
    e = local_embedder()
    assert s.count_embeddings(e.name) == 0
    Retriever(s, e, k=1, min_similarity=0.1).complete_examples_for(
        _query(project), project.taxonomy
    )
    vm = s.vector_matrix(e.name)
    assert vm is not None
    assert {pool[t] for t, _ in COMPLETE_TEXTS} <= set(vm.row_of)
    assert np.allclose(np.linalg.norm(vm.view()[1], axis=1), 1.0, atol=1e-5)
