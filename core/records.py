"""Plain records passed between core modules and the UI: texts, spans, proposals, answers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Split = Literal["pool", "gold"]
Source = Literal["llm", "rule", "model", "import", "human"]
"""Who proposed a span; "human": an annotator marked it by hand (the LLM missed it)."""
AnswerKind = Literal["accept", "reject", "ignore"]
ANSWER_KINDS: tuple[AnswerKind, ...] = ("accept", "reject", "ignore")


BATCH_PREFIX = "batch:"


def batch_target(labels: Sequence[str]) -> str:
    """The LLM ledger's label for one request about several labels: `batch:` and the labels,
    comma-joined as every ledger so far has them, or as a JSON list when a label holds a comma
    (label names may), so that `batch_labels` reads them back exactly."""
    if any("," in label for label in labels):
        return BATCH_PREFIX + json.dumps(list(labels), ensure_ascii=False)
    return BATCH_PREFIX + ",".join(labels)


def batch_labels(target: str) -> list[str]:
    """The labels a ledger target names: those of a batch target, else the label itself."""
    if not target.startswith(BATCH_PREFIX):
        return [target]
    rest = target[len(BATCH_PREFIX) :]
    if rest.startswith("["):
        return [str(label) for label in json.loads(rest)]
    return rest.split(",")


def _hash63(*parts: str) -> int:
    # 63 bits: fits SQLite's signed INTEGER and makes collisions negligible at millions of texts
    # (a 32-bit hash, as Prodigy uses, collides about a hundred times in a million texts).
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def input_hash(text: str) -> int:
    """Stable hash of a text: the dedupe key of the texts table and Prodigy's `_input_hash`."""
    return _hash63("text", text)


def task_hash(text_hash: int, label: str, start: int, end: int) -> int:
    """Stable hash of one question (text, label, span): Prodigy's `_task_hash`."""
    return _hash63("task", str(text_hash), label, str(start), str(end))


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled character span; token_end is inclusive, as in Prodigy."""

    start: int
    end: int
    label: str
    token_start: int | None = None
    token_end: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.token_start is not None:
            out["token_start"] = self.token_start
            out["token_end"] = self.token_end
        return out


@dataclass(slots=True)
class TextRecord:
    text: str
    meta: dict[str, Any] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    # For Prodigy records: the answer the record carries (accept/reject/ignore), if any.
    answer: AnswerKind | None = None
    annotator: str | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class StoredText:
    id: int
    input_hash: int
    text: str
    meta: dict[str, Any]
    split: Split
    source: str | None = None


@dataclass(frozen=True, slots=True)
class NewProposal:
    """A question for the annotator, before it is stored: is text[start:end] a `label`?"""

    text_id: int
    label: str
    start: int
    end: int
    token_start: int
    token_end: int
    source: Source
    source_detail: str = ""
    score: float | None = None
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Proposal(NewProposal):
    """A stored proposal: the question with the id and task hash the store gave it. Keyword
    only, so that they can follow the fields with defaults."""

    id: int = field(kw_only=True)
    task_hash: int = field(default=0, kw_only=True)


@dataclass(frozen=True, slots=True)
class Answer:
    id: int
    proposal_id: int
    annotator: str
    answer: AnswerKind
    span: Span | None
    created: str


@dataclass(frozen=True, slots=True)
class LLMCall:
    """A row of the LLM ledger (llm_calls) before it is stored: made by the LLM task, stored by
    its committer."""

    cache_key: str
    model: str
    prompt_version: str
    text_hash: int
    label: str
    """The label asked for, or `batch:` and the labels of a batch call."""
    request: str = ""
    response: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    latency_ms: float = 0.0
    attempts: int = 1
    """0 for a cache hit."""
    error: str | None = None
