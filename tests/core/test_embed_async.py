"""Vectors from an embeddings endpoint, fetched without stopping the LLM proposer's event loop.

The proposer runs its chat requests concurrently on one asyncio loop; a text without a vector
is embedded (for its few-shot search) by awaited, batched requests, so the other requests keep
going meanwhile. Real HTTP throughout: the fake server (tests/helpers/fake_llm.py) answers both chat
completions and /v1/embeddings, and counts the chat requests that arrive during an embedding.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from nerloop.core.embed import EmbedError, HttpEmbedder
from nerloop.core.project import Project
from nerloop.core.proposers.llm import LLMProposer
from nerloop.core.records import NewProposal, StoredText
from nerloop.core.retrieval import FewShotProvider, embed_missing, embedder_from_settings
from tests.core.test_fewshot_batch import COMPLETE_TEXTS, LABELS, review
from tests.helpers.embed_server import EmbedServer
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.propose_helpers import clean_env, proposer, wire

EMBED_MODEL = "fake-embed"
EMBEDDER = f"http:{EMBED_MODEL}"
ACCEPTED = [
    ("heard wheat bid 250 usd/t fob rouen march", "250 usd/t"),
    ("corn bid 180 usd/t cif rotterdam", "180 usd/t"),
    ("brent crude traded at 82 usd/bbl", "82 usd/bbl"),
]


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    clean_env(monkeypatch)
    with FakeLLM({}) as server:
        yield server


def _wire(project: Project, fake: FakeLLM, **extra: object) -> None:
    wire(
        project,
        fake.url,
        embed_base_url=fake.url,
        embed_model=EMBED_MODEL,
        fewshot_k=1,
        fewshot_min_similarity=0.0,
        **extra,
    )


def _accept_pool(project: Project) -> None:
    s = project.store
    for text, sub in ACCEPTED:
        tid, _ = s.add_text(text)
        start = text.index(sub)
        span = project.nlp(text).char_span(start, start + len(sub))
        assert span is not None
        [pid] = s.add_proposals(
            [NewProposal(tid, "PRICE", start, start + len(sub), span.start, span.end - 1, "llm")]
        )
        s.add_answer(pid, "accept", "ann")


def _texts(project: Project, texts: list[str]) -> list[StoredText]:
    return [project.store.get_text(project.store.add_text(t)[0]) for t in texts]


def test_chat_requests_keep_flowing_while_an_embedding_is_slow(
    project: Project, fake: FakeLLM
) -> None:
    _wire(project, fake, llm_concurrency=6)
    fake.latency = 0.05
    _accept_pool(project)
    old = _texts(project, [f"lot {i} wheat {200 + i} usd/t fob rouen" for i in range(30)])
    # Everything so far has its vector: only the texts below need an embeddings call.
    embed_missing(project.store, embedder_from_settings(project.settings))
    new = _texts(project, [f"new cargo {i} of corn at {300 + i} usd/t" for i in range(3)])
    fake.embed_latency = 1.0
    before = len(fake.stats.embedding_inputs)
    p = proposer(project)
    # The new texts first: three workers wait for their vectors, the other three go on.
    summary = asyncio.run(p.run([(t, ["PRICE"]) for t in [*new, *old]])).as_dict()
    assert summary["requests"] == 33 and summary["errors"] == 0 and fake.requests == 33
    # One request carried the three texts that needed a vector at the same time ...
    assert fake.stats.embedding_inputs[before:] == [[t.text for t in new]]
    # ... and during its second, the other workers' chat requests kept going, several at once.
    # (A blocking call stops the loop: no chat request could start while it is out.)
    assert fake.stats.chats_during_embeddings >= 6
    assert fake.stats.max_in_flight_during_embeddings > 1
    assert all(project.store.embedding_of(t.id, EMBEDDER) is not None for t in new)
    # The texts that waited still got their examples.
    asked = [b for b in fake.stats.bodies if new[0].text in b["messages"][-1]["content"]]
    assert [m["role"] for m in asked[0]["messages"]] == ["system", "user", "assistant", "user"]


def test_candidates_and_queries_without_vectors_share_requests(
    project: Project, fake: FakeLLM
) -> None:
    _wire(project, fake, llm_concurrency=4)
    _accept_pool(project)
    queries = _texts(project, [f"heard wheat bid {260 + i} usd/t fob rouen" for i in range(4)])
    asyncio.run(proposer(project).run([(t, ["PRICE"]) for t in queries]))
    # The accepted examples and the four texts asked about at once: one request.
    [inputs] = fake.stats.embedding_inputs
    assert sorted(inputs) == sorted([t for t, _ in ACCEPTED] + [q.text for q in queries])
    assert project.store.count_embeddings(EMBEDDER) == len(ACCEPTED) + len(queries)
    # A second job on another event loop (each propose() runs one) embeds only what is new.
    [later] = _texts(project, ["heard wheat bid 299 usd/t fob rouen"])
    proposer(project).propose([later], "PRICE")
    assert fake.stats.embedding_inputs[1:] == [[later.text]]
    assert fake.requests == 5


def test_batch_prompts_embed_complete_texts_through_the_endpoint(
    project: Project, fake: FakeLLM
) -> None:
    _wire(project, fake)
    for text, spans in COMPLETE_TEXTS:
        review(project, text, spans)
    [query] = _texts(project, ["heard wheat bid 251 usd/t fob rouen march"])
    p = proposer(project)
    asyncio.run(p.run([(query, LABELS)], batch=True))
    [inputs] = fake.stats.embedding_inputs
    assert sorted(inputs) == sorted([t for t, _ in COMPLETE_TEXTS] + [query.text])
    [body] = fake.stats.bodies
    assert len(body["messages"]) == 4
    assert isinstance(p.examples_for, FewShotProvider)
    [shot] = p.examples_for.shots(query, LABELS, batch=True)
    assert shot.text in body["messages"][1]["content"]


def test_the_local_embedder_needs_no_request(project: Project, fake: FakeLLM) -> None:
    wire(project, fake.url, fewshot_k=1, fewshot_min_similarity=0.0)
    _accept_pool(project)
    proposer(project).propose(_texts(project, ["heard wheat bid 255 usd/t fob rouen"]), "PRICE")
    assert fake.stats.embedding_inputs == [] and fake.requests == 1


def test_an_embedding_error_stops_the_job(project: Project, fake: FakeLLM) -> None:
    _wire(project, fake, llm_max_retries=0)
    _accept_pool(project)
    project.settings = project.settings.model_copy(
        update={"embed_base_url": "http://127.0.0.1:9/v1"}
    )
    p: LLMProposer = proposer(project)
    texts = _texts(project, ["heard wheat bid 255 usd/t fob rouen"])
    with pytest.raises(EmbedError, match=r"127\.0\.0\.1:9"):
        asyncio.run(p.run([(t, ["PRICE"]) for t in texts]))
    assert fake.requests == 0


# -- HttpEmbedder.aembed against the plain embeddings server ---------------------------------


@pytest.fixture
def server() -> Iterator[EmbedServer]:
    with EmbedServer(dim=32) as s:
        yield s


def test_aembed_gives_what_embed_gives_in_batches(server: EmbedServer) -> None:
    e = HttpEmbedder(server.base_url, "m", api_key="sk-test", batch_size=2)
    texts = ["wheat bid", "corn offered", "brent", "rouen", "wheat bid"]
    got = asyncio.run(e.aembed(texts))
    assert len(server.requests) == 3 and server.requests[0]["auth"] == "Bearer sk-test"
    assert np.array_equal(got, e.embed(texts))
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)


def test_aembed_retries_and_reports_like_embed(server: EmbedServer) -> None:
    server.fail_next = [503, 429]
    e = HttpEmbedder(server.base_url, "m", backoff=0.01)
    assert asyncio.run(e.aembed(["wheat"])).shape == (1, 32)
    assert len(server.requests) == 3
    server.fail_next = [400]
    with pytest.raises(EmbedError, match="HTTP 400"):
        asyncio.run(e.aembed(["wheat"]))
    server.fail_next = [503, 503]
    with pytest.raises(EmbedError, match="HTTP 503 after retries"):
        asyncio.run(HttpEmbedder(server.base_url, "m", max_retries=1, backoff=0.01).aembed(["x"]))
