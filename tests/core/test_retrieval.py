"""Few-shot retrieval: embedders, stored vectors, nearest-neighbour search, `nerloop embed`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nerloop.core.config import load_settings
from nerloop.core.embed import EmbedError, HashingEmbedder, HttpEmbedder
from nerloop.core.llm.cache import cache_key
from nerloop.core.project import Project
from nerloop.core.prompts import FewShot, per_label_prompt
from nerloop.core.records import NewProposal, Span
from nerloop.core.retrieval import (
    FewShotExample,
    FewShotProvider,
    Retriever,
    embed_missing,
    embedder_from_settings,
    example_tokens,
    examples_cache_key,
    local_embedder,
    per_label_example_tokens,
    prompt_tokens,
    to_fewshot,
    top_k,
)
from nerloop.core.store import Store
from nerloop.tui.cli import main
from tests.helpers.embed_server import EmbedServer


@pytest.fixture
def server() -> Iterator[EmbedServer]:
    with EmbedServer(dim=32) as s:
        yield s


# -- the local embedder ----------------------------------------------------------------------


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    texts = ["heard wheat bid 250 usd/t fob rouen march", "corn offered cif rotterdam", ""]
    a = HashingEmbedder(256).embed(texts)
    b = HashingEmbedder(256).embed(texts)  # a fresh instance: no state carried over
    assert a.dtype == np.float32 and a.shape == (3, 256)
    assert np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a[:2], axis=1), 1.0, atol=1e-5)
    assert not a[2].any()  # no words, no direction


def test_hashing_embedder_ranks_a_paraphrase_above_an_unrelated_text() -> None:
    e = local_embedder()
    q, near, far = e.embed(
        [
            "heard wheat bid 250 usd/t fob rouen march",
            "heard wheat offered 262 usd/t fob rouen april",
            "what movies did steven spielberg direct in the 1990s",
        ]
    )
    assert float(q @ near) > 0.5
    assert float(q @ far) < 0.2
    # Numbers share a shape feature: 250 is nearer 260 than to a word.
    n1, n2, w = e.embed(["250", "260", "wheat"])
    assert float(n1 @ n2) > float(n1 @ w)


def test_embedder_name_changes_with_its_settings() -> None:
    assert HashingEmbedder(256).name != HashingEmbedder(512).name
    assert HashingEmbedder(256).name != HashingEmbedder(256, char_weight=0.0).name


# -- search ----------------------------------------------------------------------------------


def _planted(n: int = 2000, dim: int = 256, seed: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
    """Random unit rows plus rows at known cosines to the query, at known positions."""
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, dim)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = np.zeros(dim, dtype=np.float32)
    q[0] = 1.0
    # Random rows have |cos| < 0.3 with overwhelming probability at 256 dimensions.
    m[:, 0] = np.clip(m[:, 0], -0.2, 0.2)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    planted = {1234: 0.95, 7: 0.9, 1999: 0.8, 500: 0.6}
    for row, cos in planted.items():
        v = rng.standard_normal(dim).astype(np.float32)
        v[0] = 0
        v /= np.linalg.norm(v)
        m[row] = cos * q + np.sqrt(1 - cos**2) * v
    return m, q, planted


def test_top_k_returns_the_known_nearest_neighbours_best_first() -> None:
    m, q, planted = _planted()
    by_cos = sorted(planted, key=lambda row: -planted[row])
    assert by_cos == [1234, 7, 1999, 500]
    idx, sims = top_k(m, q, 3)
    assert idx.tolist() == by_cos[:3]
    assert np.allclose(sims, [0.95, 0.9, 0.8], atol=1e-5)
    idx, sims = top_k(m, q, 10, min_similarity=0.7)
    assert idx.tolist() == [1234, 7, 1999]
    idx, _ = top_k(m, q, 10, min_similarity=0.5)
    assert idx.tolist() == [1234, 7, 1999, 500]
    assert top_k(m[:0], q, 3)[0].size == 0
    assert top_k(m[:2], q, 5)[0].size == 2


# -- stored vectors --------------------------------------------------------------------------


def test_vectors_round_trip_and_the_matrix_refreshes_incrementally(store: Store) -> None:
    ids = [store.add_text(f"text number {i}")[0] for i in range(5)]
    rng = np.random.default_rng(0)
    v = rng.standard_normal((5, 8)).astype(np.float32)
    store.save_embeddings("m", ids[:3], v[:3])
    vm = store.vector_matrix("m")
    assert vm is not None and len(vm) == 3
    got_ids, got = vm.view()
    assert got_ids.tolist() == ids[:3]
    assert np.array_equal(got, v[:3])
    assert store.vector_matrix("other") is None

    # Two more texts, and a new vector for an old one: the cached matrix catches up in place.
    store.save_embeddings("m", ids[3:], v[3:])
    store.save_embeddings("m", [ids[1]], v[4:5] * 2)
    vm2 = store.vector_matrix("m")
    assert vm2 is vm and len(vm2) == 5
    got_ids, got = vm2.view()
    assert got_ids.tolist() == ids
    assert np.array_equal(got[1], v[4] * 2)
    assert np.array_equal(got[3:], v[3:])
    e = store.embedding_of(ids[1], "m")
    assert e is not None and np.array_equal(e, v[4] * 2)
    # A fresh Store on the same data reads the same matrix.
    assert store.count_embeddings("m") == 5


def test_a_new_vector_for_the_last_text_is_seen(store: Store) -> None:
    # The incremental refresh reads rowids above the last it saw: a replaced row must get a
    # higher one, also when it was the last row.
    a, _ = store.add_text("a")
    b, _ = store.add_text("b")
    store.save_embeddings("m", [a, b], np.eye(2, 4, dtype=np.float32))
    assert store.vector_matrix("m") is not None
    store.save_embeddings("m", [b], np.full((1, 4), 0.5, dtype=np.float32))
    vm = store.vector_matrix("m")
    assert vm is not None
    assert np.array_equal(vm.view()[1][1], np.full(4, 0.5, dtype=np.float32))


def test_stores_on_one_file_share_the_matrix_and_see_each_others_writes(tmp_path: Path) -> None:
    first, second = Store(tmp_path / "db"), Store(tmp_path / "db")
    try:
        t1, _ = first.add_text("one")
        first.save_embeddings("m", [t1], np.ones((1, 4), dtype=np.float32))
        vm = first.vector_matrix("m")
        t2, _ = second.add_text("two")
        second.save_embeddings("m", [t2], np.zeros((1, 4), dtype=np.float32))
        assert second.vector_matrix("m") is vm  # one matrix in the process, caught up
        assert vm is not None and vm.view()[0].tolist() == [t1, t2]
        assert first.vector_matrix("m") is vm and len(vm) == 2
    finally:
        first.close()
        second.close()


def test_matrix_grows_past_its_capacity(store: Store) -> None:
    ids = [store.add_text(f"t{i}")[0] for i in range(3000)]
    v = np.arange(3000 * 4, dtype=np.float32).reshape(3000, 4)
    for start in range(0, 3000, 700):
        store.save_embeddings("m", ids[start : start + 700], v[start : start + 700])
        store.vector_matrix("m")
    vm = store.vector_matrix("m")
    assert vm is not None
    got_ids, got = vm.view()
    assert got_ids.tolist() == ids and np.array_equal(got, v)


def test_save_embeddings_rejects_a_shape_mismatch(store: Store) -> None:
    tid, _ = store.add_text("x")
    with pytest.raises(ValueError, match="one row per text"):
        store.save_embeddings("m", [tid], np.zeros((2, 4)))


def test_embed_missing_embeds_each_text_once_and_reports_progress(store: Store) -> None:
    for i in range(10):
        store.add_text(f"heard wheat bid {200 + i} usd/t")
    e = local_embedder()
    calls: list[tuple[int, int]] = []
    assert embed_missing(store, e, batch=4, progress=lambda d, t: calls.append((d, t))) == 10
    assert calls == [(0, 10), (4, 10), (8, 10), (10, 10)]
    assert store.count_embeddings(e.name) == 10
    assert embed_missing(store, e) == 0
    store.add_text("one more")
    assert embed_missing(store, e) == 1


# -- the retriever on a project ----------------------------------------------------------------

POOL = [
    ("heard wheat bid 250 usd/t fob rouen march", ["250 usd/t"]),
    ("heard wheat offered 262 usd/t fob rouen april", ["262 usd/t"]),
    ("corn bid 180 usd/t cif rotterdam", ["180 usd/t"]),
    ("brent crude traded at 82 usd/bbl", ["82 usd/bbl"]),
    ("soybeans firm at 410 usd/t fob santos", ["410 usd/t"]),
]


def _answer_pool(project: Project, label: str = "PRICE") -> dict[str, int]:
    """Store POOL with an LLM proposal per answer string, accepted; returns text -> id."""
    s = project.store
    ids: dict[str, int] = {}
    for text, answers in POOL:
        tid, _ = s.add_text(text)
        ids[text] = tid
        for sub in answers:
            start = text.index(sub)
            doc = project.nlp(text)
            span = doc.char_span(start, start + len(sub))
            assert span is not None
            [pid] = s.add_proposals(
                [NewProposal(tid, label, start, start + len(sub), span.start, span.end - 1, "llm")]
            )
            s.add_answer(pid, "accept", "ann")
    return ids


def test_retriever_finds_the_most_similar_accepted_examples(project: Project) -> None:
    ids = _answer_pool(project)
    r = Retriever(project.store, local_embedder(), k=2, min_similarity=0.2, max_tokens=1000)
    query = "heard wheat bid 255 usd/t fob rouen may"
    got = r.examples_for(query, "PRICE")
    assert [ex.text for ex in got] == [POOL[0][0], POOL[1][0]]
    assert got[0].similarity >= got[1].similarity >= 0.2
    assert got[0].answers == ["250 usd/t"]
    [p] = project.store.proposals_for(ids[POOL[0][0]], "PRICE")
    assert got[0].spans == (Span(16, 25, "PRICE", p.token_start, p.token_end),)
    assert got[0].text_id == ids[POOL[0][0]]
    # Another label has no accepted examples.
    assert r.examples_for(query, "LOCATION") == []


def test_retriever_never_returns_the_text_itself_and_honours_the_margin(project: Project) -> None:
    ids = _answer_pool(project)
    s = project.store
    own = s.get_text(ids[POOL[0][0]])
    r = Retriever(s, local_embedder(), k=5, min_similarity=0.3, max_tokens=1000)
    got = r.examples_for(own, "PRICE")
    assert own.id not in [ex.text_id for ex in got]
    assert got and got[0].text == POOL[1][0]
    assert all(ex.similarity >= 0.3 for ex in got)
    # Nothing in the pool is like this text: no example rather than a random one.
    assert r.examples_for("what movies did steven spielberg direct", "PRICE") == []


def test_retriever_uses_only_accepted_answers_and_follows_new_ones(project: Project) -> None:
    ids = _answer_pool(project)
    s = project.store
    r = Retriever(s, local_embedder(), k=3, min_similarity=0.1, max_tokens=1000)
    query = "heard wheat bid 255 usd/t fob rouen may"
    assert POOL[0][0] in [ex.text for ex in r.examples_for(query, "PRICE")]
    # Reject the proposal on the best neighbour (a later answer wins): it is no example now.
    [p] = s.proposals_for(ids[POOL[0][0]], "PRICE")
    answer_id = s.add_answer(p.id, "reject", "ann2")
    assert POOL[0][0] not in [ex.text for ex in r.examples_for(query, "PRICE")]
    # Undo the rejection: the accept counts again.
    s.undo_answer(answer_id, "ann2")
    assert r.examples_for(query, "PRICE")[0].text == POOL[0][0]


def test_an_edited_span_is_the_example_answer(project: Project) -> None:
    ids = _answer_pool(project)
    s = project.store
    [p] = s.proposals_for(ids[POOL[3][0]], "PRICE")
    # The annotator widened "82 usd/bbl" to "at 82 usd/bbl" on a second look.
    text = POOL[3][0]
    start = text.index("at 82")
    s.add_answer(p.id, "accept", "ann", span=Span(start, p.end, "PRICE", 3, p.token_end))
    r = Retriever(s, local_embedder(), k=1, min_similarity=0.1, max_tokens=1000)
    [ex] = r.examples_for("brent crude traded at 85 usd/bbl", "PRICE")
    assert ex.answers == ["at 82 usd/bbl"]


def test_the_token_budget_bounds_the_examples(project: Project) -> None:
    _answer_pool(project)
    r = Retriever(project.store, local_embedder(), k=5, min_similarity=0.0, max_tokens=10_000)
    query = "heard wheat bid 255 usd/t fob rouen may"
    every = r.examples_for(query, "PRICE")
    assert len(every) == 5
    costs = [example_tokens(ex) for ex in every]
    budget = costs[0] + costs[1]
    got = r.examples_for(query, "PRICE", max_tokens=budget)
    assert sum(example_tokens(ex) for ex in got) <= budget
    assert [ex.text for ex in got][:2] == [every[0].text, every[1].text]
    assert (
        r.examples_for(query, "PRICE", max_tokens=costs[0] - 1)
        == [ex for ex in every if example_tokens(ex) <= costs[0] - 1][:1]
    )
    assert r.examples_for(query, "PRICE", max_tokens=0) == []


def test_examples_cache_key_changes_with_the_examples() -> None:
    a = FewShotExample(1, "wheat 250 usd/t", "PRICE", (Span(6, 15, "PRICE"),), 0.9)
    b = FewShotExample(1, "wheat 250 usd/t", "PRICE", (Span(6, 9, "PRICE"),), 0.9)
    assert examples_cache_key([a]) != examples_cache_key([b])
    assert examples_cache_key([a]) != examples_cache_key([])
    assert examples_cache_key([a, b]) != examples_cache_key([b, a])


# -- the HTTP embedder ------------------------------------------------------------------------


def test_http_embedder_batches_sorts_and_normalises(server: EmbedServer) -> None:
    e = HttpEmbedder(server.base_url, "test-embed", api_key="sk-test", batch_size=2)
    texts = ["wheat bid", "corn offered", "wheat bid", "brent", "rouen"]
    m = e.embed(texts)
    assert m.shape == (5, 32) and m.dtype == np.float32
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(m[0], m[2])  # same text, same vector: the order was restored
    assert len(server.requests) == 3  # 2 + 2 + 1
    assert server.requests[0]["body"] == {
        "model": "test-embed",
        "input": ["wheat bid", "corn offered"],
    }
    assert server.requests[0]["auth"] == "Bearer sk-test"
    assert e.dim == 32 and e.name == "http:test-embed"


def test_http_embedder_retries_server_errors(server: EmbedServer) -> None:
    server.fail_next = [503, 429]
    e = HttpEmbedder(server.base_url, "m", backoff=0.01)
    assert e.embed(["wheat"]).shape == (1, 32)
    assert len(server.requests) == 3


def test_http_embedder_errors_are_clear(server: EmbedServer) -> None:
    server.fail_next = [400]
    with pytest.raises(EmbedError, match="HTTP 400"):
        HttpEmbedder(server.base_url, "m").embed(["wheat"])
    server.fail_next = [503, 503]
    with pytest.raises(EmbedError, match="HTTP 503 after retries"):
        HttpEmbedder(server.base_url, "m", max_retries=1, backoff=0.01).embed(["wheat"])
    e = HttpEmbedder(server.base_url, "m")
    e.embed(["wheat"])
    server.dim_override = 16
    with pytest.raises(EmbedError, match="unexpected length"):
        e.embed(["corn"])
    with pytest.raises(EmbedError, match="ConnectError"):
        HttpEmbedder("http://127.0.0.1:9/v1", "m", max_retries=0).embed(["wheat"])


def test_settings_choose_the_endpoint_or_the_local_embedder(server: EmbedServer) -> None:
    assert embedder_from_settings(load_settings(None)).name == local_embedder().name
    wide = embedder_from_settings(load_settings(None, embed_dim=256))
    assert wide.dim == 256 and wide.name != local_embedder().name
    configured = load_settings(None, embed_base_url=server.base_url, embed_model="e5")
    e = embedder_from_settings(configured)
    assert isinstance(e, HttpEmbedder) and e.name == "http:e5"


def test_retriever_with_the_http_embedder(project: Project, server: EmbedServer) -> None:
    _answer_pool(project)
    e = HttpEmbedder(server.base_url, "m")
    r = Retriever(project.store, e, k=1, min_similarity=0.1, max_tokens=1000)
    [ex] = r.examples_for("brent crude traded at 85 usd/bbl", "PRICE")
    assert ex.text == POOL[3][0]
    assert project.store.count_embeddings("http:m") == len(POOL)


# -- nerloop embed ---------------------------------------------------------------------------


def test_cli_embed_embeds_missing_texts(project: Project) -> None:
    for text, _ in POOL:
        project.store.add_text(text)
    runner = CliRunner()
    result = runner.invoke(main, ["embed", "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    assert f"Embedded {len(POOL)} texts" in result.output
    assert project.store.count_embeddings(local_embedder().name) == len(POOL)
    again = runner.invoke(main, ["embed", "-p", str(project.path)])
    assert again.exit_code == 0 and "have vectors" in again.output


def test_cli_embed_reports_an_unreachable_endpoint(project: Project) -> None:
    project.store.add_text("wheat")
    env = {
        "NERLOOP_EMBED_BASE_URL": "http://127.0.0.1:9/v1",
        "NERLOOP_EMBED_MODEL": "m",
        "NERLOOP_LLM_MAX_RETRIES": "0",
    }
    result = CliRunner().invoke(main, ["embed", "-p", str(project.path)], env=env)
    assert result.exit_code == 1
    assert "127.0.0.1:9" in result.output and "Traceback" not in result.output


# -- examples in the LLM prompts ---------------------------------------------------------------


def test_provider_puts_the_retrieved_examples_into_the_prompt(project: Project) -> None:
    _answer_pool(project)
    s = project.store
    qid, _ = s.add_text("heard wheat bid 255 usd/t fob rouen may")
    query = s.get_text(qid)
    settings = load_settings(None, fewshot_k=2, fewshot_min_similarity=0.2)
    provider = FewShotProvider(lambda: s, project.taxonomy, settings)
    shots = provider(query, ["PRICE"])
    assert shots == [
        FewShot(POOL[0][0], (("PRICE", "250 usd/t"),)),
        FewShot(POOL[1][0], (("PRICE", "262 usd/t"),)),
    ]
    label = project.taxonomy.get("PRICE")
    prompt = per_label_prompt(query.text, label, shots)
    contents = [m["content"] for m in prompt.messages]
    # system, (example user, example answer) x 2, the question
    assert len(contents) == 6
    assert POOL[0][0] in contents[1] and '"250 usd/t"' in contents[2]
    assert POOL[1][0] in contents[3] and '"262 usd/t"' in contents[4]
    assert query.text in contents[5]
    # The examples are part of the cache key: other examples, another question.
    plain = per_label_prompt(query.text, label)
    assert cache_key("m", prompt, query.input_hash) != cache_key("m", plain, query.input_hash)
    # Batch prompts get complete texts only (an example must show every label's spans), and
    # these were reviewed for PRICE alone (tests/core/test_fewshot_batch.py has complete ones).
    assert provider(query, ["PRICE", "LOCATION"]) == []


def test_provider_budget_counts_the_rendered_example(project: Project) -> None:
    _answer_pool(project)
    s = project.store
    qid, _ = s.add_text("heard wheat bid 255 usd/t fob rouen may")
    query = s.get_text(qid)
    label = project.taxonomy.get("PRICE")
    cost = per_label_example_tokens(label)
    roomy = load_settings(None, fewshot_k=5, fewshot_min_similarity=0.0, fewshot_max_tokens=10_000)
    one = FewShotProvider(lambda: s, project.taxonomy, roomy).examples(query, "PRICE")
    assert len(one) == 5
    # The user turn repeats the label's description and instructions, so a rendered example
    # costs far more than its text: the budget must count what the prompt builder renders.
    assert cost(one[0]) > example_tokens(one[0]) + 20
    budget = cost(one[0]) + cost(one[1])
    settings = load_settings(
        None, fewshot_k=5, fewshot_min_similarity=0.0, fewshot_max_tokens=budget
    )
    got = FewShotProvider(lambda: s, project.taxonomy, settings).examples(query, "PRICE")
    assert [ex.text for ex in got] == [one[0].text, one[1].text]
    with_two = per_label_prompt(query.text, label, [to_fewshot(ex) for ex in got])
    plain = per_label_prompt(query.text, label)
    assert prompt_tokens(with_two.messages) - prompt_tokens(plain.messages) == budget


def test_llm_requests_carry_the_retrieved_examples(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerloop.core.proposers.llm import LLMProposer
    from tests.helpers.fake_llm import FakeLLM
    from tests.helpers.propose_helpers import clean_env, wire

    clean_env(monkeypatch)
    _answer_pool(project)
    s = project.store
    qid, _ = s.add_text("heard wheat bid 255 usd/t fob rouen may")
    text = s.get_text(qid)
    with FakeLLM({}) as fake:
        # The project's proposer retrieves examples by default (settings fewshot_*).
        wire(project, fake.url, fewshot_k=1, fewshot_min_similarity=0.2)
        LLMProposer.from_project(project).propose([text], "PRICE")
        [body] = fake.stats.bodies
        wire(project, fake.url, fewshot_k=0)
        LLMProposer.from_project(project).propose([text], "LOCATION")
        [_, plain] = fake.stats.bodies
    contents = [m["content"] for m in body["messages"]]
    assert len(contents) == 4  # system, example question, example answer, question
    assert POOL[0][0] in contents[1] and "250 usd/t" in contents[2]
    assert len(plain["messages"]) == 2
    [call] = s.query("SELECT cache_key FROM llm_calls WHERE label = 'PRICE'")
    label = project.taxonomy.get("PRICE")
    shots = [FewShot(POOL[0][0], (("PRICE", "250 usd/t"),))]
    expected = cache_key("fake-model", per_label_prompt(text.text, label, shots), text.input_hash)
    assert call["cache_key"] == expected


def test_accepted_examples_rules(project: Project) -> None:
    s = project.store
    text = "heard wheat bid 250 usd/t fob rouen march"
    tid, _ = s.add_text(text)
    gid, _ = s.add_text("corn 180 usd/t fob", split="gold")
    llm, model, other, on_gold = s.add_proposals(
        [
            NewProposal(tid, "PRICE", 16, 25, 3, 5, "llm"),
            NewProposal(tid, "PRICE", 16, 25, 3, 5, "model"),
            NewProposal(tid, "PRICE", 0, 5, 0, 0, "llm"),
            NewProposal(gid, "PRICE", 5, 14, 1, 3, "llm"),
        ]
    )
    s.add_answer(llm, "accept", "a")
    s.add_answer(model, "accept", "b")
    s.add_answer(on_gold, "accept", "a")  # gold texts are never examples
    s.add_answer(other, "accept", "a")
    s.add_answer(other, "ignore", "b")  # an ignore overturns nothing
    assert s.accepted_examples("PRICE") == {
        tid: [Span(0, 5, "PRICE", 0, 0), Span(16, 25, "PRICE", 3, 5)]  # one span, two sources
    }
    s.add_answer(other, "reject", "b")  # a later reject does
    assert s.accepted_examples("PRICE") == {tid: [Span(16, 25, "PRICE", 3, 5)]}
    assert s.accepted_examples("LOCATION") == {}


def test_candidates_are_read_again_only_after_answers_to_the_label(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _answer_pool(project)
    s = project.store
    reads: list[str] = []
    real = s.accepted_examples

    def counting(label: str) -> dict[int, list[Span]]:
        reads.append(label)
        return real(label)

    monkeypatch.setattr(s, "accepted_examples", counting)
    r = Retriever(s, local_embedder(), k=1, min_similarity=0.1, max_tokens=1000)
    query = "heard wheat bid 255 usd/t fob rouen may"
    r.examples_for(query, "PRICE")
    r.examples_for(query, "PRICE")
    assert reads == ["PRICE"]
    # An answer to a LOCATION proposal leaves PRICE's examples as they were.
    tid = ids[POOL[0][0]]
    [loc] = s.add_proposals([NewProposal(tid, "LOCATION", 30, 35, 6, 6, "llm")])
    s.add_answer(loc, "accept", "ann")
    r.examples_for(query, "PRICE")
    assert reads == ["PRICE"]
    # A PRICE answer (here: a reject of the best example) is seen at once.
    [p] = s.proposals_for(tid, "PRICE")
    s.add_answer(p.id, "reject", "ann")
    [ex] = r.examples_for(query, "PRICE")
    assert reads == ["PRICE", "PRICE"] and ex.text != POOL[0][0]
