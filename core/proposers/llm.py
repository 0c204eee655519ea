"""LLM proposals: ask the LLM for a label's spans in each text, place them, store them.

`LLMProposer` implements the `Proposer` protocol with a synchronous `propose(texts, label)` (the
TUI calls it from a worker thread) and offers `run(jobs)`, an async API that asks many texts
concurrently for `nerloop propose`. The prompt and the placing of an answer are the task
(llm_task.py, no I/O); this module sends it or serves it from the cache, and `run` hands each
outcome (ledger row and proposals) to the one committer (llm_writer.py).

Each answer goes through the response cache (llm_calls) first, so asking again costs nothing;
the ledger row and the proposals placed from its answer are committed together, one text at a
time, so an interrupted job loses nothing and a rerun continues where it stopped. Labels whose
LLM switch is off (label_settings.llm_off) and rule labels are never asked.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from nerloop.core.config import Settings
from nerloop.core.llm import (
    LLMClient,
    LLMError,
    LLMUnreachableError,
    cache_key,
)
from nerloop.core.llm.jsonparse import JSONAnswerError, read_json_answer
from nerloop.core.prompts import (
    BATCH_VERSION,
    BATCH_VERSIONS,
    PER_LABEL_VERSION,
    FewShot,
)
from nerloop.core.proposers import TextsFailed
from nerloop.core.proposers.llm_task import (
    FewShotSource,
    Job,
    Outcome,
    ProposeSummary,
    build_prompt,
    place_answer,
    request_record,
)
from nerloop.core.proposers.llm_writer import OutcomeWriter
from nerloop.core.records import LLMCall, NewProposal, Source, StoredText, batch_target
from nerloop.core.retrieval import FewShotProvider
from nerloop.core.store import Store
from nerloop.core.taxonomy import Taxonomy

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

    from nerloop.core.project import Project

DOC_CACHE = 256
"""Tokenized texts kept for the next labels' answers."""


class LLMProposer:
    """Proposals from an OpenAI-compatible LLM (source `llm`)."""

    source: Source = "llm"
    commits = True
    """`propose` commits each ledger row with its proposals (llm_writer): the queue must not
    store them again."""

    def __init__(
        self,
        store: Store,
        taxonomy: Taxonomy,
        settings: Settings,
        nlp: Language,
        *,
        examples_for: FewShotSource | None = None,
        client_factory: Callable[[], LLMClient] | None = None,
    ) -> None:
        self.store = store
        self.taxonomy = taxonomy
        self.settings = settings
        self.nlp = nlp
        self.examples_for = examples_for
        self.client_factory = client_factory or (lambda: LLMClient(settings))
        self._store_thread = threading.get_ident()
        # Per-label mode asks about one text once per label, one after the other: keep its
        # tokens rather than tokenizing it again for every label.
        self._docs: OrderedDict[int, Doc] = OrderedDict()

    def _doc(self, text: StoredText) -> Doc:
        doc = self._docs.get(text.id)
        if doc is None or doc.text != text.text:
            doc = self._docs[text.id] = self.nlp(text.text)
            if len(self._docs) > DOC_CACHE:
                self._docs.popitem(last=False)
        else:
            self._docs.move_to_end(text.id)
        return doc

    @classmethod
    def from_project(cls, project: Project, **kw: Any) -> LLMProposer:
        """A proposer for `project`; unless `examples_for` is given, prompts get few-shot
        examples retrieved from the answers (core/retrieval/: accepted examples of the label
        per label, complete texts in batch mode; settings fewshot_k = 0 turns them off)."""
        proposer = cls(project.store, project.taxonomy, project.settings, project.nlp, **kw)
        if "examples_for" not in kw and project.settings.fewshot_k > 0:
            # The proposer's store at call time: it swaps in its own in a worker thread.
            proposer.examples_for = FewShotProvider(
                lambda: proposer.store, project.taxonomy, project.settings
            )
        return proposer

    @property
    def model(self) -> str:
        return self.settings.llm_model

    def labels(self) -> list[str]:
        """The ner labels whose LLM switch is on."""
        return [lab.name for lab in self.taxonomy.ner_labels if not self.store.llm_off(lab.name)]

    def prompt_version(self, batch: bool) -> str:
        return BATCH_VERSION if batch else PER_LABEL_VERSION

    def target(self, labels: Sequence[str], batch: bool) -> str:
        """The ledger's label for a request: the label, or the batch target."""
        return batch_target(labels) if batch else labels[0]

    def done_hashes(self, labels: Sequence[str], batch: bool) -> set[int]:
        """Texts already answered for this target by this model, in this mode. Any batch
        version counts: ner-batch/v2 differs from v1 by its few-shot examples (and a sentence
        about them), and other examples never make a per-label rerun ask a text again either."""
        versions = BATCH_VERSIONS if batch else (PER_LABEL_VERSION,)
        return self.store.llm_done_hashes(self.target(labels, batch), self.model, versions)

    def pending(
        self, texts: Iterable[StoredText], labels: Sequence[str], *, batch: bool, limit: int
    ) -> list[Job]:
        """Jobs for the texts (an iterable) not yet answered for `labels`: a rerun's to-do."""
        if batch:
            done_batch = self.done_hashes(labels, True)
        else:
            done = {label: self.done_hashes([label], False) for label in labels}
        jobs: list[Job] = []
        for text in texts:
            if limit and len(jobs) >= limit:
                break
            if batch:
                if text.input_hash not in done_batch:
                    jobs.append((text, list(labels)))
                continue
            todo = [label for label in labels if text.input_hash not in done[label]]
            if todo:
                jobs.append((text, todo))
        return jobs

    # -- one request ---------------------------------------------------------------------------

    async def ask(
        self, client: LLMClient, text: StoredText, labels: Sequence[str], *, batch: bool
    ) -> Outcome:
        """Ask about one text (one label, or all `labels` in batch mode) and place the answer.
        Nothing is stored: the caller commits `outcome.call` with `outcome.proposals`
        (llm_writer.commit_outcomes). LLMUnreachableError propagates."""
        label_objs = [self.taxonomy.get(name) for name in labels]
        examples: Sequence[FewShot] = ()
        if self.examples_for is not None:
            # Awaited: vectors from an embeddings endpoint are fetched without blocking every
            # request in flight.
            examples = await self.examples_for.fewshot(text, labels, batch=batch)
        prompt = build_prompt(text, label_objs, examples, batch=batch)
        key = cache_key(self.model, prompt, text.input_hash)
        base = LLMCall(
            cache_key=key,
            model=self.model,
            prompt_version=prompt.version,
            text_hash=text.input_hash,
            label=prompt.target,
        )
        content = self.store.cached_response(key)
        cached = content is not None
        if content is not None:
            call = replace(base, attempts=0)
        else:
            request = request_record(self.model, prompt)
            try:
                result = await client.chat(prompt.messages, prompt.schema)
            except LLMUnreachableError:
                raise
            except LLMError as exc:
                call = replace(
                    base,
                    request=request,
                    attempts=exc.attempts,
                    latency_ms=exc.latency_ms,
                    error=str(exc),
                )
                return Outcome(text, prompt.target, [], Counter(), False, str(exc), call)
            content = result.content
            call = replace(
                base,
                request=request,
                response=content,
                tokens_in=result.tokens_in,
                tokens_out=result.tokens_out,
                latency_ms=result.latency_ms,
                attempts=result.attempts,
            )
        try:
            value = (await read_json_answer(content)).value
        except JSONAnswerError as exc:
            # Recorded as an error so that the cache never serves it and a rerun asks again.
            error = f"unreadable answer: {exc}"
            call = replace(call, error=error)
            return Outcome(text, prompt.target, [], Counter(), cached, error, call)
        proposals, dropped = place_answer(
            value,
            prompt,
            text,
            self._doc(text),
            model=self.model,
            threshold=self.settings.align_threshold,
            mode=self.settings.align_mode,
        )
        return Outcome(text, prompt.target, proposals, dropped, cached, None, call)

    # -- many requests -------------------------------------------------------------------------

    async def run(
        self,
        jobs: Sequence[Job],
        *,
        batch: bool = False,
        on_outcome: Callable[[Outcome], None] | None = None,
        check: bool = False,
    ) -> ProposeSummary:
        """Ask every job's text for its labels, `settings.llm_concurrency` requests at a time;
        every outcome is committed as it arrives. `check` first makes sure the endpoint answers
        (LLMUnreachableError otherwise)."""
        summary = ProposeSummary()
        requests: list[tuple[StoredText, list[str]]] = []
        for text, labels in jobs:
            if batch:
                requests.append((text, list(labels)))
            else:
                requests.extend((text, [label]) for label in labels)
        todo: asyncio.Queue[tuple[StoredText, list[str]]] = asyncio.Queue()
        for req in requests:
            todo.put_nowait(req)
        writer = OutcomeWriter(self.store, summary, on_outcome)
        client = self.client_factory()
        async with client:
            if check:
                await client.check()

            async def worker() -> None:
                while True:
                    try:
                        text, labels = todo.get_nowait()
                    except asyncio.QueueEmpty:
                        return
                    writer.put(await self.ask(client, text, labels, batch=batch))

            n = min(len(requests), self.settings.llm_concurrency)
            writer.start()
            workers = [asyncio.create_task(worker()) for _ in range(n)]
            try:
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                # Whatever arrived is stored, also when the job stops early (Ctrl-C, an error).
                writer.finish()
        return summary

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        """Proposals for `label` in `texts` (the Proposer protocol), in text order, then
        position, whatever order the concurrent answers came back in. They are already committed
        with their ledger rows when this returns (`commits`). Runs its own event loop, so call
        it from a worker thread, not from inside a running loop's thread.

        TextsFailed when the LLM failed on some texts (after the client's retries) or its
        answer could not be read: those errors are in the ledger, which never serves them from
        the cache, so asking again (a later fetch, `nerloop propose`) sends the request again.
        LLMUnreachableError when nothing answers at all."""
        found: list[NewProposal] = []
        failed: dict[int, str] = {}

        def collect(outcome: Outcome) -> None:
            found.extend(outcome.proposals)
            if outcome.error is not None:
                failed[outcome.text.id] = outcome.error

        def work() -> None:
            if label in self.labels():
                asyncio.run(self.run([(t, [label]) for t in texts], on_outcome=collect))

        self._run_sync(work)
        order = {t.id: i for i, t in enumerate(texts)}
        found.sort(key=lambda p: (order.get(p.text_id, -1), p.start, p.end))
        if failed:
            raise TextsFailed(found, failed)
        return found

    def _run_sync(self, work: Callable[[], None]) -> None:
        """Run `work` (which runs its own event loop) from synchronous code: in this thread,
        or in a helper thread when this one already runs a loop. SQLite connections belong to
        the thread that opened them, so any other thread gets a connection of its own."""

        def in_this_thread() -> None:
            if threading.get_ident() == self._store_thread or self.store.path is None:
                work()
                return
            own = self.store.reopen()
            shared, self.store = self.store, own
            try:
                work()
            finally:
                self.store = shared
                own.close()

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_this_thread()
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(in_this_thread).result()
