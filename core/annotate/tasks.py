"""What the queue hands out: questions, tasks, fetch results and why a queue is empty."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from nerloop.core.records import Proposal, StoredText

EmptyReason = Literal["no_texts", "no_labels", "no_source", "source_failed", "leased", "finished"]
TaskKey = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Question:
    """One span to say yes or no to; several sources may have proposed it."""

    proposals: tuple[Proposal, ...]

    @property
    def first(self) -> Proposal:
        return self.proposals[0]

    @property
    def label(self) -> str:
        return self.first.label

    @property
    def start(self) -> int:
        return self.first.start

    @property
    def end(self) -> int:
        return self.first.end

    @property
    def sources(self) -> tuple[str, ...]:
        return tuple(p.source for p in self.proposals)

    @property
    def score(self) -> float | None:
        """The model's score if it proposed the span (the informative one), else any score."""
        scored = [p for p in self.proposals if p.score is not None]
        for p in scored:
            if p.source == "model":
                return p.score
        return scored[0].score if scored else None

    @property
    def context(self) -> str | None:
        """What the LLM said about the span, if it said anything."""
        for p in self.proposals:
            if p.context:
                return p.context
        return None


@dataclass(frozen=True, slots=True)
class Task:
    """All open questions of one text for one label."""

    text: StoredText
    label: str
    questions: tuple[Question, ...]

    @property
    def key(self) -> TaskKey:
        return (self.text.id, self.label)


@dataclass(frozen=True, slots=True)
class EmptyQueue:
    """Why there is nothing to ask, and what the annotator can do about it."""

    reason: EmptyReason
    message: str
    hint: str


@dataclass(frozen=True, slots=True)
class Fetch:
    """One fetch's result. With no tasks and no `empty`, the queue is still working (a proposer
    ran but found nothing yet): call again."""

    tasks: list[Task]
    empty: EmptyQueue | None = None
    progress: tuple[int, int] | None = None
    """(answered, total) proposals of the pass, read when the queue came up empty (otherwise
    None: counting millions of proposals on every fetch would slow the fetch down; the app
    reads progress in its own worker with `pass_progress`)."""


def group_questions(proposals: Sequence[Proposal], order: Sequence[str]) -> tuple[Question, ...]:
    """Merge proposals of the same span into one question; questions in text order, each
    question's proposals in source priority order."""
    rank = {s: i for i, s in enumerate(order)}
    by_span: dict[tuple[int, int], list[Proposal]] = {}
    for p in proposals:
        by_span.setdefault((p.start, p.end), []).append(p)
    return tuple(
        Question(tuple(sorted(ps, key=lambda p: (rank.get(p.source, 99), p.id))))
        for _, ps in sorted(by_span.items())
    )
