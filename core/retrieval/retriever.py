"""Few-shot retrieval: the accepted examples of a label that are most similar to a text.

The prompt for (text, label) gets up to `k` pool texts whose answers for `label` were accepted,
the most similar first, each with its accepted spans, as long as they are at least
`min_similarity` alike (cosine) and fit in `max_tokens` when rendered.

A batch prompt (all labels of a text in one call) gets, by the same search, margin and budget,
complete texts: pool texts reviewed for every ner label (core/training/data.py decides, as it
does for the `complete` training policy), with their accepted spans of every label and nothing
for a label they have none of. Accepted answers alone would not do there: they cover only the
labels a text was asked about, so an example would show the LLM to leave the others out.

Only the candidates of the label (or the complete texts) are searched, brute force
(search.py); when they are a minority of the texts their rows are kept as a matrix of their
own, so a search reads only them.

The similarity margin (`fewshot_min_similarity`) is set for the local embedder, from where
random pairs of texts and nearest neighbours fall on its scale (the neighbour quality table
under "Retrieval" in bench/RESULTS.md). Other embedders have other scales: set the margin
with them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from nerloop.core.config import Settings
from nerloop.core.embed import Embedder
from nerloop.core.records import Span, StoredText
from nerloop.core.retrieval.budget import example_tokens
from nerloop.core.retrieval.embedders import embedder_from_settings
from nerloop.core.retrieval.examples import COMPLETE, FewShotExample
from nerloop.core.retrieval.search import best_of, similarities, top_k
from nerloop.core.store import Store
from nerloop.core.taxonomy import Taxonomy
from nerloop.core.training.data import collect_annotations

COMPLETE_REFRESH_S = 5.0
"""How stale the complete texts may get. Which texts are complete is read from every answered
text's proposals and answers (collect_annotations), and during a batch job the job's own commits
add proposals several times a second: reading again at each change would cost more than the
calls. Examples a few seconds behind the answers are harmless; a new taxonomy is seen at once."""


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

    It reads every answered text's proposals and answers, which takes long enough (the batch
    prompts paragraph under "Retrieval" in bench/RESULTS.md) that the LLM proposer has it read
    in a thread (FewShotProvider.prepare) and the retriever reads it again at most every
    COMPLETE_REFRESH_S."""
    return {a.text_id: a.entities for a in collect_annotations(store, taxonomy) if a.complete}


def complete_texts_elsewhere(store: Store, taxonomy: Taxonomy) -> dict[int, list[Span]]:
    """complete_texts on a connection of its own to `store`'s file (for a worker thread: SQLite
    connections stay in the thread that opened them)."""
    own = store.reopen()
    try:
        return complete_texts(own, taxonomy)
    finally:
        own.close()


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
