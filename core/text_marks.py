"""Marking what the LLM missed on a text: checking hand-marked spans and storing them.

A marked span is stored as a proposal of source "human" (source detail: the annotator) with an
accepted answer, through the same store methods as any answer, so the exports and training see
it as an accepted span like any other (core.answer_spans). Marking a text records it as
human-complete (mark 'complete'): every entity of every ner label is now accepted, and
training counts its other tokens as no entity. Flagging a text (mark 'flagged') says something
is missing without marking it: its uncovered tokens train as unknown. See
core.training.data for what each mark means to training.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from nerloop.core.answer_spans import answer_spans
from nerloop.core.records import NewProposal, Span, StoredText
from nerloop.core.store import Store

HUMAN = "human"
"""The proposal source of spans an annotator marked by hand."""


@dataclass(frozen=True, slots=True)
class Marked:
    """What one mark stored: its answer rows and its text_marks row (for undo)."""

    answer_ids: tuple[int, ...]
    mark_id: int


def accepted_spans(store: Store, text_id: int) -> list[Span]:
    """The text's accepted spans now, by the rules of core.answer_spans, by position."""
    return answer_spans(store.answer_rows_of_text(text_id)).accepted


def check_spans(
    text: str,
    tokens: Sequence[tuple[int, int]],
    spans: Sequence[Span],
    ner_labels: Collection[str],
    accepted: Sequence[Span],
) -> list[Span]:
    """The spans with their token indices, or ValueError naming the first bad one: outside the
    text, not on token boundaries of the project's tokenizer, a label that is not a ner label,
    or overlapping another marked span or an accepted one."""
    starts = {s: i for i, (s, _) in enumerate(tokens)}
    ends = {e: i for i, (_, e) in enumerate(tokens)}
    out: list[Span] = []
    for n, span in enumerate(spans, 1):
        where = f"marked span {n} ({span.label} {span.start}-{span.end})"
        if not 0 <= span.start < span.end <= len(text):
            raise ValueError(f"{where}: outside the text (0-{len(text)}) or empty")
        if span.label not in ner_labels:
            known = ", ".join(sorted(ner_labels)) or "none"
            raise ValueError(f"{where}: {span.label!r} is not a ner label (ner labels: {known})")
        if span.start not in starts or span.end not in ends:
            raise ValueError(f"{where}: does not start and end on token boundaries")
        for other in (*out, *accepted):
            if span.start < other.end and other.start < span.end:
                what = "accepted" if other in accepted else "marked"
                raise ValueError(
                    f"{where}: overlaps the {what} span {other.label} {other.start}-{other.end}"
                )
        out.append(Span(span.start, span.end, span.label, starts[span.start], ends[span.end]))
    return out


def store_marked(
    store: Store,
    text: StoredText,
    spans: Sequence[Span],
    annotator: str,
    *,
    session: str = "",
) -> Marked:
    """Store checked spans (`check_spans`) as accepted human proposals and mark the text
    complete, in one transaction."""
    ids: list[int] = []
    with store.write():
        proposal_ids = store.add_proposals(
            NewProposal(
                text.id,
                s.label,
                s.start,
                s.end,
                s.token_start if s.token_start is not None else 0,
                s.token_end if s.token_end is not None else 0,
                "human",
                annotator,
            )
            for s in spans
        )
        for proposal_id in proposal_ids:
            ids.append(store.add_answer(proposal_id, "accept", annotator, session=session))
        mark_id = store.add_mark(text.id, "complete", annotator, session=session)
    return Marked(tuple(ids), mark_id)


def undo_marked(store: Store, marked: Marked, annotator: str, *, session: str = "") -> None:
    """Take a mark back with its answers (undo rows: nothing is deleted)."""
    with store.write():
        for answer_id in marked.answer_ids:
            store.undo_answer(answer_id, annotator, session=session)
        store.undo_mark(marked.mark_id, annotator, session=session)


def mark_text(
    store: Store,
    text: StoredText,
    tokens: Sequence[tuple[int, int]],
    spans: Sequence[Span],
    ner_labels: Collection[str],
    annotator: str,
    session: str = "",
) -> Marked:
    """Check the marked spans against the text's tokens and accepted spans (`check_spans`),
    then store them and the mark (`store_marked`); nothing is stored when one is bad."""
    checked = check_spans(text.text, tokens, spans, ner_labels, accepted_spans(store, text.id))
    return store_marked(store, text, checked, annotator, session=session)
