"""The LLM proposer's few-shot examples: retrieval as its `examples_for`, with the slow parts
(reading the complete texts, embedding through an endpoint) done off its event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from nerloop.core.config import Settings
from nerloop.core.embed import Embedder, HttpEmbedder
from nerloop.core.prompts import FewShot
from nerloop.core.records import Span, StoredText
from nerloop.core.retrieval.budget import batch_example_tokens, per_label_example_tokens
from nerloop.core.retrieval.embedders import embedder_from_settings
from nerloop.core.retrieval.examples import COMPLETE, FewShotExample, to_fewshot
from nerloop.core.retrieval.fetcher import VectorFetcher
from nerloop.core.retrieval.retriever import CompleteState, Retriever, complete_texts_elsewhere
from nerloop.core.store import Store
from nerloop.core.taxonomy import Taxonomy


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
        self._fetcher: VectorFetcher | None = None
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

    async def fewshot(
        self, text: StoredText, labels: Sequence[str], *, batch: bool
    ) -> list[FewShot]:
        """The LLM proposer's one way in (its FewShotSource): `prepare`, then `shots`."""
        await self.prepare(text, labels, batch=batch)
        return self.shots(text, labels, batch=batch)

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
            self._fetcher = VectorFetcher(embedder, self.store_of)
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
            read = asyncio.to_thread(complete_texts_elsewhere, store, self.taxonomy)
            self._complete_read = (loop.create_task(read), state)
        task, state = self._complete_read
        try:
            spans = await task
        finally:
            if self._complete_read is not None and self._complete_read[0] is task:
                self._complete_read = None
        retriever.set_complete(state, spans)
