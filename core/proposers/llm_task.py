"""The LLM's NER task: the prompt for a text, and the proposals placed from the answer.

Pure: no store, no HTTP, no event loop. `LLMProposer` (core/proposers/llm.py) sends what this
builds and hands the answer back here; `core/proposers/llm_writer.py` commits the outcome. The
types they share (Outcome, ProposeSummary) live here so that neither imports the other.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from nerloop.core.align import Aligner, answers_from_json
from nerloop.core.prompts import FewShot, Prompt, batch_prompt, per_label_prompt
from nerloop.core.records import LLMCall, NewProposal, StoredText
from nerloop.core.taxonomy import Label
from nerloop.core.tokens import AlignMode

if TYPE_CHECKING:
    from spacy.tokens import Doc

Job = tuple[StoredText, Sequence[str]]
"""A text and the labels to ask for in it."""


class FewShotSource(Protocol):
    """Where a prompt's worked examples come from (retrieval: core/retrieval's provider)."""

    async def fewshot(
        self, text: StoredText, labels: Sequence[str], *, batch: bool
    ) -> Sequence[FewShot]:
        """The examples for a per-label prompt (one label) or a batch prompt of `labels`."""
        ...


class ShotsFrom:
    """A FewShotSource from a plain function of (text, label names): fixed or scripted
    examples (tests, benchmarks)."""

    def __init__(self, fn: Callable[[StoredText, Sequence[str]], Sequence[FewShot]]) -> None:
        self.fn = fn

    async def fewshot(
        self, text: StoredText, labels: Sequence[str], *, batch: bool
    ) -> Sequence[FewShot]:
        return self.fn(text, labels)


@dataclass(slots=True)
class Outcome:
    """What one request (one text, one label or one batch) gave."""

    text: StoredText
    target: str
    proposals: list[NewProposal]
    dropped: Counter[str]
    cached: bool
    error: str | None = None
    call: LLMCall | None = None
    """The ledger row, committed together with the proposals (llm_writer)."""


@dataclass(slots=True)
class ProposeSummary:
    requests: int = 0
    calls: int = 0
    """Requests that went to the LLM (not served from the cache)."""
    cache_hits: int = 0
    placed: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    error_messages: Counter[str] = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.requests += 1
        self.cache_hits += outcome.cached
        self.calls += not outcome.cached
        self.placed += len(outcome.proposals)
        self.dropped.update(outcome.dropped)
        if outcome.error is not None:
            self.errors += 1
            self.error_messages[outcome.error] += 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "calls": self.calls,
            "cache_hits": self.cache_hits,
            "placed": self.placed,
            "dropped": dict(self.dropped),
            "errors": self.errors,
        }


def build_prompt(
    text: StoredText, labels: Sequence[Label], examples: Sequence[FewShot], *, batch: bool
) -> Prompt:
    """The prompt for one text: all `labels` at once (batch) or the one label in `labels`."""
    if batch:
        return batch_prompt(text.text, labels, tuple(examples))
    return per_label_prompt(text.text, labels[0], tuple(examples))


def request_record(model: str, prompt: Prompt) -> str:
    """The request as the ledger keeps it. The system prompt is fixed by the prompt version:
    repeating its ~1 kB in every ledger row would double the size of the table for nothing."""
    return json.dumps(
        {
            "model": model,
            "prompt_version": prompt.version,
            "messages": [m for m in prompt.messages if m["role"] != "system"],
        },
        ensure_ascii=False,
    )


def place_answer(
    value: Any,
    prompt: Prompt,
    text: StoredText,
    doc: Doc,
    *,
    model: str,
    threshold: float,
    mode: AlignMode,
) -> tuple[list[NewProposal], Counter[str]]:
    """The proposals placed in `doc` (the tokenized `text`) from the answer's JSON `value`,
    and why the other answers were dropped."""
    batch = prompt.mode == "batch"
    answers, dropped = answers_from_json(
        value, prompt.labels, label=None if batch else prompt.labels[0]
    )
    alignment = Aligner(doc, threshold=threshold, mode=mode).align(answers)
    dropped.update(alignment.dropped)
    detail = f"{model}|{prompt.version}"
    proposals = [
        NewProposal(
            text_id=text.id,
            label=p.label,
            start=p.start,
            end=p.end,
            token_start=p.token_start,
            token_end=p.token_end,
            source="llm",
            source_detail=detail,
            score=round(p.score / 100, 3),
            context=p.context,
        )
        for p in alignment.placed
    ]
    return proposals, dropped
