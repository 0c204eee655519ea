"""Helpers shared by the queue, session and TUI tests: texts and proposals in a real project."""

from __future__ import annotations

from collections.abc import Sequence

from nerloop.core.annotate.queue import Queue
from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import spacy_tokenizer
from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Source


class FakeClock:
    """A clock tests move by hand (leases, answers per minute)."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def propose(
    project: Project,
    text_id: int,
    label: str,
    phrase: str,
    source: Source = "llm",
    score: float | None = None,
    context: str | None = None,
    occurrence: int = 0,
) -> int:
    """Store a proposal of `phrase` (its n-th occurrence) in a text; returns its id."""
    text = project.store.get_text(text_id).text
    start = -1
    for _ in range(occurrence + 1):
        start = text.index(phrase, start + 1)
    end = start + len(phrase)
    doc = project.nlp(text)
    span = doc.char_span(start, end, alignment_mode="expand")
    assert span is not None
    (pid,) = project.store.add_proposals(
        [
            NewProposal(
                text_id,
                label,
                start,
                end,
                span.start,
                span.end - 1,
                source,
                score=score,
                context=context,
            )
        ]
    )
    return pid


def add_texts(project: Project, texts: Sequence[str]) -> list[int]:
    return [project.store.add_text(t)[0] for t in texts]


def make_queue(
    project: Project, annotator: str, clock: FakeClock | None = None, **kw: object
) -> Queue:
    return Queue(
        project.store.path,  # type: ignore[arg-type]
        project.taxonomy,
        project.settings,
        annotator,
        clock=clock or FakeClock(),
        **kw,  # type: ignore[arg-type]
    )


def make_session(project: Project, queue: Queue, clock: FakeClock | None = None) -> Session:
    return Session(
        project.store,
        queue,
        spacy_tokenizer(project.nlp),
        clock=clock or FakeClock(),
        session_id="test",
    )
