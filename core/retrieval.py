"""Few-shot retrieval: the accepted examples of a label that are most similar to a text.

The prompt for (text, label) gets up to `k` pool texts whose answers for `label` were accepted,
the most similar first, each with its accepted spans, as long as they are at least
`min_similarity` alike (cosine) and fit in `max_tokens` when rendered.

A batch prompt (all labels of a text in one call) gets, by the same search, margin and budget,
complete texts: pool texts reviewed for every ner label (core/training/data.py decides, as it
does for the `complete` training policy), with their accepted spans of every label and nothing
for a label they have none of. Accepted answers alone would not do there: they cover only the
labels a text was asked about, so an example would show the LLM to leave the others out.

Search is brute force: every vector is a unit-length float32 row, so similarities are one
matrix-vector product and the top k an `argpartition`; exact, with nothing to build, persist or
keep in step with the store. Its cost is reading the matrix, so it is bound by memory bandwidth:
on this project's 2-core VM (bench/retrieval.py, "Retrieval" in bench/RESULTS.md) 100,000
vectors took 8-15 ms of CPU at 128 dimensions (the local embedder's default) and 14-25 at 256
over two runs; wall-clock time grows with what else the machine runs, since other jobs share
the bandwidth.
Only the accepted examples of the label are searched, and when they are a minority of the texts
their rows are kept as a matrix of their own: 100,000 texts of which 20,000 have accepted
answers of the label measured 2-7 ms a search. An index (sqlite-vec, HNSW) would pay in the
millions.

The similarity margin (`fewshot_min_similarity`, 0.35) is set for the local embedder: on MIT
Movie, 99% of random pairs of texts are below about 0.38 (128 dimensions), the median nearest
neighbour is at 0.62. Other embedders have other scales: set the margin with them.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nerloop.core.config import Settings
from nerloop.core.embed import Embedder, HashingEmbedder, HttpEmbedder
from nerloop.core.prompts import FewShot, batch_prompt, per_label_prompt
from nerloop.core.records import Span, StoredText
from nerloop.core.store import Store
from nerloop.core.taxonomy import Label, Taxonomy
from nerloop.core.training.data import collect_annotations

# Rough tokens of a string for a BPE tokenizer on English: about 4 characters a token (OpenAI's
# rule of thumb; MIT Movie's texts measure 4.3 with cl100k-like tokenizers). The budget is a cap
# on cost, so an estimate that errs by 20% is good enough and needs no tokenizer download.
CHARS_PER_TOKEN = 4
# Tokens of the framing around one example when rendered ("Text: ...", "Answer: ...", quotes,
# new lines): measured on render_example's output, rounded up.
EXAMPLE_OVERHEAD_TOKENS = 8
COMPLETE = ""
"""The label of a complete text's example (its spans are of every ner label), and the key of
the complete texts among the retriever's candidates."""
COMPLETE_REFRESH_S = 5.0
"""How stale the complete texts may get. Which texts are complete is read from every answered
text's proposals and answers (collect_annotations), and during a batch job the job's own commits
add proposals several times a second: reading again at each change would cost more than the
calls. Examples a few seconds behind the answers are harmless; a new taxonomy is seen at once."""


def approx_tokens(text: str) -> int:
    """Tokens of `text` by the 4-characters-a-token rule (at least 1 for a non-empty string)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class FewShotExample:
    """One retrieved example: a pool text and its accepted spans of one label, or (label
    COMPLETE) a complete text and its accepted spans of every ner label."""

    text_id: int
    text: str
    label: str
    spans: tuple[Span, ...]
    similarity: float

    @property
    def answers(self) -> list[str]:
        """The accepted substrings, in text order: what the LLM should have answered."""
        return [self.text[s.start : s.end] for s in self.spans]

    @property
    def labelled_answers(self) -> list[tuple[str, str]]:
        """(label, accepted substring) pairs, in text order."""
        return [(s.label, self.text[s.start : s.end]) for s in self.spans]

    def cache_key(self) -> str:
        """What identifies this example in an LLM cache key: the text and its answers."""
        return json.dumps([self.text, self.labelled_answers], ensure_ascii=False)


def render_example(example: FewShotExample) -> str:
    """A plain rendering of an example, used to estimate its tokens when the prompt builder
    renders it differently."""
    return f"Text: {example.text}\nAnswer: {json.dumps(example.answers, ensure_ascii=False)}"


def example_tokens(example: FewShotExample) -> int:
    """Estimated prompt tokens of one example (text, answers and framing)."""
    answers = json.dumps(example.answers, ensure_ascii=False)
    return approx_tokens(example.text) + approx_tokens(answers) + EXAMPLE_OVERHEAD_TOKENS


# -- embedders -----------------------------------------------------------------------------------


def local_embedder(dim: int = 128) -> HashingEmbedder:
    """The embedder used when no endpoint is configured: hashed n-grams (core/embed.py)."""
    return HashingEmbedder(dim)


def embedder_from_settings(settings: Settings) -> Embedder:
    """The configured `/v1/embeddings` endpoint, or the local fallback when none is set."""
    if settings.embed_base_url and settings.embed_model:
        key = settings.embed_api_key or settings.llm_api_key
        return HttpEmbedder(
            settings.embed_base_url,
            settings.embed_model,
            api_key=key.get_secret_value() if key else None,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
    return local_embedder(settings.embed_dim)


def embed_missing(
    store: Store,
    embedder: Embedder,
    *,
    batch: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed every text that has no vector of `embedder` yet; returns how many were embedded.

    `progress(done, total)` is called after each batch. Each batch is committed on its own, so
    an interrupted run keeps what it did and the next run carries on.
    """
    total = store.count_texts_without_embedding(embedder.name)
    done = 0
    if progress:
        progress(0, total)
    pending: list[StoredText] = []

    def flush() -> None:
        nonlocal done
        vectors = embedder.embed([t.text for t in pending])
        store.save_embeddings(embedder.name, [t.id for t in pending], vectors)
        done += len(pending)
        pending.clear()
        if progress:
            progress(done, total)

    # Pages are read whole and by id (core/store/embeddings.py), so writing vectors between
    # pages neither disturbs the paging nor holds a read open across a write.
    for text in store.iter_texts_without_embedding(embedder.name, batch=batch):
        pending.append(text)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return done


# -- search --------------------------------------------------------------------------------------


def similarities(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """`matrix @ query` on one thread.

    einsum, not BLAS: OpenBLAS splits a matrix-vector product over its threads, and on a busy
    machine (2 cores shared with training and the UI) waking the second thread cost 20-30 ms
    for a product that takes 0.3 ms on one (bench/retrieval.py measured both). The product is
    bound by memory bandwidth anyway, which a second thread does not add.
    """
    return np.einsum("ij,j->i", matrix, query)


def best_of(
    sims: np.ndarray, k: int, min_similarity: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the `k` largest of `sims` that are >= `min_similarity`, best first, and their
    values. `argpartition` finds them in O(n); only those k are sorted."""
    n = sims.shape[0]
    if n == 0 or k <= 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=sims.dtype)
    idx = np.argpartition(-sims, k - 1)[:k] if k < n else np.arange(n)
    idx = idx[np.argsort(-sims[idx], kind="stable")]
    top = sims[idx]
    keep = top >= min_similarity
    return idx[keep], top[keep]


def top_k(
    matrix: np.ndarray, query: np.ndarray, k: int, min_similarity: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of `matrix` most similar to `query` (both unit length): (row indices, similarities),
    best first, at most `k`, only those with similarity >= `min_similarity`."""
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float32)
    return best_of(similarities(matrix, query), k, min_similarity)


@dataclass(slots=True)
class _Candidates:
    """The examples one search looks among (a label's accepted texts, or the complete texts),
    and where their vectors are."""

    mark: int
    """The answers watermark they were read at."""
    spans: dict[int, list[Span]]
    """text id -> the spans its example shows."""
    read_at: float = 0.0
    """time.monotonic() when they were read."""
    proposals_mark: int = 0
    """For the complete texts: the proposals watermark they were read at."""
    labels: tuple[str, ...] = ()
    """For the complete texts: the ner labels they are complete for."""
    indexed: bool = False
    """Whether the fields below are set: every candidate has a vector, and its row is known."""
    text_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Text id of each candidate, in the order of `rows`."""
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.intp))
    """Their rows in the embedder's shared matrix."""
    matrix: np.ndarray | None = None
    """A copy of those rows when they are a minority of the matrix; None: search in place."""


CompleteState = tuple[tuple[str, ...], int, int]
"""(ner labels, answers watermark, proposals watermark): see Retriever.complete_state."""


def complete_texts(store: Store, taxonomy: Taxonomy) -> dict[int, list[Span]]:
    """Pool texts reviewed for every ner label (the `complete` of core/training/data.py), each
    with its accepted spans of all ner labels (none for a label it has no entity of).

    It reads every answered text's proposals and answers: about 0.8-1.4 s for 10,000 answered
    texts on this project's 2-core VM (bench/retrieval.py), which is why the LLM proposer has
    it read in a thread (FewShotProvider.prepare) and the retriever reads it again at most
    every COMPLETE_REFRESH_S."""
    return {a.text_id: a.entities for a in collect_annotations(store, taxonomy) if a.complete}


def _complete_texts_of_file(path: Path, taxonomy: Taxonomy) -> dict[int, list[Span]]:
    """complete_texts on a connection of its own (for a worker thread: SQLite connections stay
    in the thread that opened them)."""
    store = Store(path)
    try:
        return complete_texts(store, taxonomy)
    finally:
        store.close()


class Retriever:
    """Finds few-shot examples for (text, label) among the accepted answers of the store, and
    for a batch prompt among the complete texts.

    Vectors of candidate texts that are missing are embedded on the spot (and stored), so search
    works without running `nerloop embed` first; that command only does the work up front.
    """

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        k: int = 3,
        min_similarity: float = 0.35,
        max_tokens: int = 400,
        complete_refresh_s: float = COMPLETE_REFRESH_S,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.k = k
        self.min_similarity = min_similarity
        self.max_tokens = max_tokens
        self.complete_refresh_s = complete_refresh_s
        # label (or COMPLETE) -> its candidates, valid while their mark says so
        self._candidates: dict[str, _Candidates] = {}

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> Retriever:
        return cls(
            store,
            embedder_from_settings(settings),
            k=settings.fewshot_k,
            min_similarity=settings.fewshot_min_similarity,
            max_tokens=settings.fewshot_max_tokens,
        )

    def _read(self, key: str, taxonomy: Taxonomy | None) -> _Candidates:
        """The candidates of `key` (a label, or COMPLETE with the taxonomy), read again only
        when the store changed in a way that can change them."""
        cached = self._candidates.get(key)
        if key == COMPLETE:
            if taxonomy is None:
                raise ValueError("complete texts need the taxonomy")
            state = self.complete_state(taxonomy)
            if cached is not None and self.complete_fresh(state):
                return cached
            return self.set_complete(state, complete_texts(self.store, taxonomy))
        else:
            # Answers are append-only (an undo is a new row), so the largest answer id says
            # whether anything changed; answers to other labels' proposals change nothing here.
            mark = self.store.last_answer_id()
            if (
                cached is not None
                and cached.mark != mark
                and self.store.answers_since(key, cached.mark) == 0
            ):
                cached.mark = mark
            if cached is not None and cached.mark == mark:
                return cached
            found = _Candidates(mark, self.store.accepted_examples(key), time.monotonic())
        self._candidates[key] = found
        return found

    def complete_state(self, taxonomy: Taxonomy) -> CompleteState:
        """What the complete texts depend on, now: the ner labels (they decide what complete
        means), and the answers and proposals watermarks (a text gains or loses completeness
        by an answer or a proposal on it)."""
        names = tuple(label.name for label in taxonomy.ner_labels)
        return names, self.store.last_answer_id(), self.store.last_proposal_id()

    def complete_fresh(self, state: CompleteState) -> bool:
        """Whether the complete texts read before may serve in `state`: nothing changed, or
        they were read less than `complete_refresh_s` ago for the same labels."""
        cached = self._candidates.get(COMPLETE)
        if cached is None or cached.labels != state[0]:
            return False
        return (cached.mark, cached.proposals_mark) == state[1:] or (
            time.monotonic() - cached.read_at < self.complete_refresh_s
        )

    def set_complete(self, state: CompleteState, spans: dict[int, list[Span]]) -> _Candidates:
        """Take `spans` (complete_texts, read in `state` or later) as the complete texts."""
        names, answers, proposals = state
        found = _Candidates(answers, spans, time.monotonic(), proposals, names)
        self._candidates[COMPLETE] = found
        return found

    def _missing(self, cand: _Candidates) -> list[int]:
        """Candidates with no vector of the embedder yet."""
        vm = self.store.vector_matrix(self.embedder.name)
        return [t for t in cand.spans if vm is None or t not in vm.row_of]

    def vectors_needed(
        self, text: StoredText, key: str, taxonomy: Taxonomy | None = None
    ) -> dict[int, str]:
        """Texts (id -> text) whose vectors a search for `text` among the candidates of `key`
        (a label, or COMPLETE) would embed first: candidates without one, and `text` itself;
        nothing when there are no candidates, since such a search embeds nothing."""
        cand = self._read(key, taxonomy)
        if not cand.spans:
            return {}
        ids = [] if cand.indexed else self._missing(cand)
        need = {t: self.store.get_text(t).text for t in ids}
        if self.store.embedding_of(text.id, self.embedder.name) is None:
            need[text.id] = text.text
        return need

    def _candidates_of(self, key: str, taxonomy: Taxonomy | None = None) -> _Candidates:
        """The candidates of `key`, every one with a vector (embedded now when missing) and
        its row in the embedder's matrix."""
        cand = self._read(key, taxonomy)
        if cand.indexed:
            return cand
        missing = self._missing(cand)
        if missing:
            texts = [self.store.get_text(t).text for t in missing]
            self.store.save_embeddings(self.embedder.name, missing, self.embedder.embed(texts))
        vm = self.store.vector_matrix(self.embedder.name)
        rows = np.asarray(
            sorted(vm.row_of[t] for t in cand.spans) if vm is not None else [], dtype=np.intp
        )
        ids, matrix = vm.view() if vm is not None else (np.zeros(0, np.int64), None)
        cand.rows = rows
        cand.text_ids = ids[rows] if len(rows) else ids[:0]
        if matrix is not None and len(rows) and len(rows) * 2 <= len(ids):
            # A minority of the texts: keep their rows as a matrix of their own, so each search
            # reads only them (memory bandwidth is what a search costs).
            cand.matrix = matrix[rows]
        cand.indexed = True
        return cand

    def query_vector(self, text: str | StoredText) -> np.ndarray:
        """The vector of a stored text (read, or embedded and stored) or of a plain string."""
        if isinstance(text, StoredText):
            vec = self.store.embedding_of(text.id, self.embedder.name)
            if vec is None:
                vec = self.embedder.embed([text.text])[0]
                self.store.save_embeddings(self.embedder.name, [text.id], vec[None, :])
            return vec
        return self.embedder.embed([text])[0]

    def examples_for(
        self,
        text: str | StoredText,
        label: str,
        *,
        k: int | None = None,
        max_tokens: int | None = None,
        tokens: Callable[[FewShotExample], int] = example_tokens,
    ) -> list[FewShotExample]:
        """Up to k accepted examples of `label` most similar to `text`, best first.

        The text itself is never its own example. Examples are taken in order of similarity and
        one that does not fit in what is left of `max_tokens` is skipped (a shorter, less similar
        one may still fit). `tokens` estimates an example's prompt tokens; pass the prompt
        builder's own count to budget exactly.
        """
        return self._search(text, label, None, k, max_tokens, tokens)

    def complete_examples_for(
        self,
        text: str | StoredText,
        taxonomy: Taxonomy,
        *,
        k: int | None = None,
        max_tokens: int | None = None,
        tokens: Callable[[FewShotExample], int] = example_tokens,
    ) -> list[FewShotExample]:
        """Up to k complete texts most similar to `text`, best first, each with its accepted
        spans of every ner label of `taxonomy` (label COMPLETE); as `examples_for` otherwise."""
        return self._search(text, COMPLETE, taxonomy, k, max_tokens, tokens)

    def _search(
        self,
        text: str | StoredText,
        key: str,
        taxonomy: Taxonomy | None,
        k: int | None,
        max_tokens: int | None,
        tokens: Callable[[FewShotExample], int],
    ) -> list[FewShotExample]:
        k = self.k if k is None else k
        budget = self.max_tokens if max_tokens is None else max_tokens
        if k <= 0 or budget <= 0:
            return []
        cand = self._candidates_of(key, taxonomy)
        if len(cand.rows) == 0:
            return []
        query = self.query_vector(text)
        self_id = text.id if isinstance(text, StoredText) else None
        # Ask for a few more than k: the text itself and examples over budget are dropped.
        want = k + 1 + 4
        if cand.matrix is not None:
            if query.shape[0] != cand.matrix.shape[1]:
                raise ValueError(
                    f"query has {query.shape[0]} dimensions, vectors {cand.matrix.shape[1]}"
                )
            sub_idx, sims = top_k(cand.matrix, query, want, self.min_similarity)
        else:
            # Most texts are candidates: one pass over the whole matrix, no copy of it.
            vm = self.store.vector_matrix(self.embedder.name)
            assert vm is not None
            _ids, matrix = vm.view()
            if query.shape[0] != matrix.shape[1]:
                raise ValueError(f"query has {query.shape[0]} dimensions, vectors {vm.dim}")
            sims_all = similarities(matrix, query)[cand.rows]
            sub_idx, sims = best_of(sims_all, want, self.min_similarity)
        out: list[FewShotExample] = []
        used = 0
        for i, sim in zip(sub_idx.tolist(), sims.tolist(), strict=True):
            text_id = int(cand.text_ids[i])
            if text_id == self_id:
                continue
            example = FewShotExample(
                text_id=text_id,
                text=self.store.get_text(text_id).text,
                label=key,
                spans=tuple(cand.spans[text_id]),
                similarity=float(sim),
            )
            cost = tokens(example)
            if used + cost > budget:
                continue
            out.append(example)
            used += cost
            if len(out) == k:
                break
        return out


def examples_cache_key(examples: Sequence[FewShotExample]) -> str:
    """A string that changes whenever the chosen examples (or their answers) change: part of
    the LLM cache key, so a prompt with other examples is asked again, not served stale."""
    return "\x1e".join(ex.cache_key() for ex in examples)


# -- the LLM prompts -----------------------------------------------------------------------------

# Chat APIs add a few tokens per message for the role and separators (OpenAI documents 3-4).
MESSAGE_OVERHEAD_TOKENS = 4


def to_fewshot(example: FewShotExample) -> FewShot:
    """A retrieved example in the prompt builder's form: (label, exact substring) pairs."""
    return FewShot(example.text, tuple(example.labelled_answers))


def prompt_tokens(messages: Sequence[dict[str, str]]) -> int:
    """Estimated prompt tokens of chat messages (4 characters a token, plus framing)."""
    return sum(approx_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def per_label_example_tokens(label: Label) -> Callable[[FewShotExample], int]:
    """The prompt tokens one example adds to a per-label prompt, as the prompt builder renders
    it (its user turn and its assistant answer)."""

    def cost(example: FewShotExample) -> int:
        with_one = per_label_prompt("", label, [to_fewshot(example)])
        # messages: system, the example's user and assistant turns, the question.
        return prompt_tokens(with_one.messages[1:3])

    return cost


def batch_example_tokens(labels: Sequence[Label]) -> Callable[[FewShotExample], int]:
    """The prompt tokens one example adds to a batch prompt of `labels`, as rendered (its user
    turn lists every label with its description, so it costs more than a per-label one)."""

    def cost(example: FewShotExample) -> int:
        return prompt_tokens(batch_prompt("", labels, [to_fewshot(example)]).messages[1:3])

    return cost


class _VectorFetcher:
    """Vectors that the prompts on one event loop wait for, fetched in batched requests: the
    texts asked for in one turn of the loop, or while a request is out, go in the next one."""

    def __init__(self, embedder: HttpEmbedder, store_of: Callable[[], Store]) -> None:
        self.embedder = embedder
        self.store_of = store_of
        self.loop = asyncio.get_running_loop()
        self._queued: dict[int, str] = {}
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def fetch(self, texts: dict[int, str]) -> None:
        """Return once every text of `texts` (id -> text) has its vector stored; raises what
        the embedder raised (EmbedError) for the request that carried one of them."""
        futures = []
        for text_id, text in texts.items():
            future = self._waiting.get(text_id)
            if future is None:
                future = self._waiting[text_id] = self.loop.create_future()
                self._queued[text_id] = text
            futures.append(future)
        if self._sender is None:
            self._sender = self.loop.create_task(self._send())
        await asyncio.gather(*futures)

    async def _send(self) -> None:
        try:
            # One turn of the loop first, so the other prompts started in this turn queue
            # their texts too and share the request.
            await asyncio.sleep(0)
            while self._queued:
                ids = list(itertools.islice(self._queued, self.embedder.batch_size))
                texts = [self._queued.pop(t) for t in ids]
                error: Exception | None = None
                try:
                    vectors = await self.embedder.aembed(texts)
                    self.store_of().save_embeddings(self.embedder.name, ids, vectors)
                except Exception as exc:  # raised in each prompt that waits for these
                    error = exc
                for text_id in ids:
                    future = self._waiting.pop(text_id)
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
        finally:
            self._sender = None
            # Cancelled (the job stops): nobody may wait for a request that is never sent.
            for future in self._waiting.values():
                future.cancel()
            self._waiting.clear()
            self._queued.clear()


class FewShotProvider:
    """Retrieved examples for the LLM proposer's prompts (its `examples_for`).

    Per-label prompts get up to `fewshot_k` accepted examples of the label, the most similar
    first, within `fewshot_max_tokens` as the prompt builder renders them. Batch prompts (all
    labels of a text in one call) get complete texts by the same rules: a text reviewed for
    every ner label shows every label's spans, and none where a label has none, which an
    accepted answer of one label cannot (it would teach the LLM to miss the other labels).

    `store_of` returns the store to read at call time: the proposer swaps in a Store of its own
    when it runs in a worker thread, and an SQLite connection must stay in its thread.
    """

    def __init__(
        self,
        store_of: Callable[[], Store],
        taxonomy: Taxonomy,
        settings: Settings,
        embedder: Embedder | None = None,
    ) -> None:
        self.store_of = store_of
        self.taxonomy = taxonomy
        self.settings = settings
        self.embedder = embedder
        self._retriever: Retriever | None = None
        self._fetcher: _VectorFetcher | None = None
        # The read of the complete texts under way in a thread (prompts that arrive meanwhile
        # wait for it rather than start another), with the state it was started in.
        self._complete_read: tuple[asyncio.Task[dict[int, list[Span]]], CompleteState] | None
        self._complete_read = None

    @property
    def retriever(self) -> Retriever:
        """The retriever, made on first use (the store may not exist when this is built), on
        the store of the moment."""
        if self._retriever is None:
            s = self.settings
            self._retriever = Retriever(
                self.store_of(),
                self.embedder or embedder_from_settings(s),
                k=s.fewshot_k,
                min_similarity=s.fewshot_min_similarity,
                max_tokens=s.fewshot_max_tokens,
            )
        self._retriever.store = self.store_of()
        return self._retriever

    def examples(self, text: StoredText, label_name: str) -> list[FewShotExample]:
        """The retrieved examples for one text and label (with their similarities)."""
        label = self.taxonomy.get(label_name)
        return self.retriever.examples_for(text, label.name, tokens=per_label_example_tokens(label))

    def complete_examples(self, text: StoredText, labels: Sequence[str]) -> list[FewShotExample]:
        """The complete texts for a batch prompt of `labels` (with their similarities)."""
        cost = batch_example_tokens([self.taxonomy.get(name) for name in labels])
        return self.retriever.complete_examples_for(text, self.taxonomy, tokens=cost)

    def shots(self, text: StoredText, labels: Sequence[str], *, batch: bool) -> list[FewShot]:
        """The examples of a per-label prompt (one label) or a batch prompt of `labels`."""
        if self.settings.fewshot_k == 0:
            return []
        if batch:
            return [to_fewshot(ex) for ex in self.complete_examples(text, labels)]
        [label] = labels
        return [to_fewshot(ex) for ex in self.examples(text, label)]

    def __call__(self, text: StoredText, labels: Sequence[str]) -> list[FewShot]:
        # As an `examples_for` that is told only the labels: several labels is a batch prompt.
        return self.shots(text, labels, batch=len(labels) > 1)

    async def prepare(self, text: StoredText, labels: Sequence[str], *, batch: bool) -> None:
        """Do, without blocking the event loop, the slow part of what `shots` with the same
        arguments would do: read which texts are complete (batch mode, in a thread), and embed
        through an embeddings endpoint the text's vector and those of candidates without one.

        The LLM proposer awaits this before it builds a prompt: it runs its many chat requests
        on one event loop, which a blocking call would stop, and the texts of the prompts that
        need vectors at the same time go in one request. The local embedder (CPU, microseconds
        a text) is left to `shots`, which calls it directly."""
        s = self.settings
        if s.fewshot_k <= 0 or s.fewshot_max_tokens <= 0:
            return
        retriever = self.retriever
        if batch:
            await self._read_complete(retriever)
        embedder = retriever.embedder
        if not isinstance(embedder, HttpEmbedder):
            return
        need = retriever.vectors_needed(text, COMPLETE if batch else labels[0], self.taxonomy)
        if not need:
            return
        loop = asyncio.get_running_loop()
        if self._fetcher is None or self._fetcher.loop is not loop:
            # A fetcher's futures and task belong to its loop; `propose` runs a loop a call.
            self._fetcher = _VectorFetcher(embedder, self.store_of)
        await self._fetcher.fetch(need)

    async def _read_complete(self, retriever: Retriever) -> None:
        store = self.store_of()
        if store.path is None:
            return  # an in-memory store cannot be shared with a thread: `shots` reads it
        # Taken before the read, so what is committed during it counts as a change, read at
        # the next refresh.
        state = retriever.complete_state(self.taxonomy)
        if retriever.complete_fresh(state):
            return
        loop = asyncio.get_running_loop()
        if self._complete_read is None or self._complete_read[0].get_loop() is not loop:
            read = asyncio.to_thread(_complete_texts_of_file, store.path, self.taxonomy)
            self._complete_read = (loop.create_task(read), state)
        task, state = self._complete_read
        try:
            spans = await task
        finally:
            if self._complete_read is not None and self._complete_read[0] is task:
                self._complete_read = None
        retriever.set_complete(state, spans)
