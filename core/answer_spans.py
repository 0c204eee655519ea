"""What a text's answers say about its spans: which are accepted and which rejected.

Training data and the exports both read the answers log as annotations, and must read it the
same way, so that an export holds what training learns from. The rules:

- an answer is about its proposal's span, except an accept where the annotator moved a
  boundary: it accepts the edited span and rejects the proposal's own span (judged wrong);
- an ignore ("not sure") decides nothing: it neither confirms nor overturns another answer;
- for each (label, span), the latest live accept or reject about it decides, whoever gave it
  and through whichever proposal (several sources can propose the same span).

Rows are the store's answer rows (`iter_answers_by_text`, `training_rows`): answer_id, answer,
label, start, end, token_start, token_end and the edited a_start, a_end, a_token_start,
a_token_end (None when not edited). Undone answers are not live and never reach these rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nerloop.core.records import AnswerKind, Span

AnswerRow = Mapping[str, Any]


def proposal_span(row: AnswerRow) -> Span:
    """The span the proposal asked about, before any edit."""
    return Span(row["start"], row["end"], row["label"], row["token_start"], row["token_end"])


def answer_span(row: AnswerRow) -> Span:
    """The span an answer is about: the edited one when the annotator moved a boundary and
    accepted (only an accept carries an edit: rejecting a moved span says nothing clear)."""
    if row["answer"] == "accept" and row["a_start"] is not None:
        return Span(
            row["a_start"], row["a_end"], row["label"], row["a_token_start"], row["a_token_end"]
        )
    return proposal_span(row)


def span_judgements(row: AnswerRow) -> list[tuple[AnswerKind, Span]]:
    """What one answer says, span by span: the answer about its span, and for an edited accept
    also a reject of the proposal's span. Empty for a row without an answer."""
    answer = row["answer"]
    if answer is None:
        return []
    span = answer_span(row)
    original = proposal_span(row)
    if answer == "accept" and _key(span) != _key(original):
        return [("accept", span), ("reject", original)]
    return [(answer, span)]


@dataclass(slots=True)
class AnswerSpans:
    """One text's decided spans, each sorted by position (token indices as the rows had them)."""

    accepted: list[Span] = field(default_factory=list)
    rejected: list[Span] = field(default_factory=list)


def answer_spans(rows: Iterable[AnswerRow]) -> AnswerSpans:
    """Fold one text's live answer rows (any order) into its accepted and rejected spans, by the
    rules in the module docstring. Rows without an accept or reject decide nothing."""
    decided: dict[tuple[int, int, str], tuple[int, AnswerKind, Span]] = {}
    for row in rows:
        for answer, span in span_judgements(row):
            if answer == "ignore":
                continue
            key = _key(span)
            previous = decided.get(key)
            if previous is None or previous[0] < row["answer_id"]:
                decided[key] = (row["answer_id"], answer, span)
    out = AnswerSpans()
    for _, answer, span in sorted(decided.values(), key=lambda d: _key(d[2])):
        (out.accepted if answer == "accept" else out.rejected).append(span)
    return out


def non_overlapping(spans: Iterable[Span]) -> tuple[list[Span], list[Span]]:
    """(kept, dropped): entities of one text cannot overlap, so the longest span wins, then the
    earliest, then the label name, as spacy.util.filter_spans does. Deterministic, and a longer
    accepted span usually means an annotator extended a boundary on purpose."""
    kept: list[Span] = []
    dropped: list[Span] = []
    taken: set[int] = set()
    for s in sorted(spans, key=lambda s: (-(s.end - s.start), s.start, s.label)):
        chars = set(range(s.start, s.end))
        if chars & taken:
            dropped.append(s)
            continue
        taken |= chars
        kept.append(s)
    kept.sort(key=lambda s: (s.start, s.end))
    return kept, dropped


def _key(span: Span) -> tuple[int, int, str]:
    # Token indices follow from the characters; two answers about the same characters and label
    # are about the same span even if one row lacks them.
    return (span.start, span.end, span.label)
