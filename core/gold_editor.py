"""Annotating one text completely from the keyboard (the Gold tab), without any UI.

A cursor moves token by token; a selection extends from an anchor; tagging the selection (or
the token under the cursor) with a label replaces any span it overlaps, since NER spans cannot
overlap; removing deletes the spans under the selection.
"""

from __future__ import annotations

from collections.abc import Sequence

from nerloop.core.records import Span


class GoldEditor:
    """Cursor, selection and spans of one text being annotated for the gold set."""

    def __init__(
        self,
        text: str,
        tokens: Sequence[tuple[int, int]],
        labels: Sequence[str],
        spans: Sequence[Span] = (),
    ) -> None:
        self.text = text
        self.tokens = list(tokens)
        self.labels = list(labels)
        self.cursor = 0
        self.anchor: int | None = None
        self.spans: list[Span] = []
        for span in spans:
            self._add(self._snap(span))

    # -- moving --------------------------------------------------------------------------------

    def move(self, delta: int) -> None:
        """Move the cursor by `delta` tokens and drop the selection."""
        self.anchor = None
        self.cursor = self._clamp(self.cursor + delta)

    def extend(self, delta: int) -> None:
        """Grow or shrink the selection by moving its free end by `delta` tokens."""
        if self.anchor is None:
            self.anchor = self.cursor
        self.cursor = self._clamp(self.cursor + delta)

    def home(self) -> None:
        self.move(-len(self.tokens))

    def end(self) -> None:
        self.move(len(self.tokens))

    def _clamp(self, i: int) -> int:
        return max(0, min(i, len(self.tokens) - 1)) if self.tokens else 0

    @property
    def selection(self) -> tuple[int, int] | None:
        """Selected tokens (first, last inclusive); the cursor's token when nothing is selected."""
        if not self.tokens:
            return None
        a = self.cursor if self.anchor is None else self.anchor
        return min(a, self.cursor), max(a, self.cursor)

    # -- editing -------------------------------------------------------------------------------

    def tag(self, number: int) -> Span | None:
        """Tag the selection with label `number` (1-based, as the keys); returns the span."""
        sel = self.selection
        if sel is None or not 1 <= number <= len(self.labels):
            return None
        ts, te = sel
        span = Span(self.tokens[ts][0], self.tokens[te][1], self.labels[number - 1], ts, te)
        self._add(span)
        self.anchor = None
        return span

    def remove(self) -> list[Span]:
        """Remove the spans that overlap the selection; returns them."""
        sel = self.selection
        if sel is None:
            return []
        gone = [s for s in self.spans if _overlaps(s, *sel)]
        self.spans = [s for s in self.spans if s not in gone]
        self.anchor = None
        return gone

    def span_at_cursor(self) -> Span | None:
        return next((s for s in self.spans if _overlaps(s, self.cursor, self.cursor)), None)

    def add_suggested(self, spans: Sequence[Span]) -> int:
        """Add `spans` (rule matches, say) where they overlap no span the text has; returns
        how many were added. What the annotator tagged always stays."""
        added = 0
        for span in spans:
            snapped = self._snap(span)
            if snapped is None:
                continue
            ts, te = snapped.token_start or 0, snapped.token_end or 0
            if any(_overlaps(s, ts, te) for s in self.spans):
                continue
            self._add(snapped)
            added += 1
        return added

    def _add(self, span: Span | None) -> None:
        if span is None:
            return
        ts, te = span.token_start or 0, span.token_end or 0
        self.spans = [s for s in self.spans if not _overlaps(s, ts, te)]
        self.spans.append(span)
        self.spans.sort(key=lambda s: (s.start, s.end))

    def _snap(self, span: Span) -> Span | None:
        """A stored span with token indices from this text's tokens (None if it fits none)."""
        first = next((i for i, (_, e) in enumerate(self.tokens) if e > span.start), None)
        last = max((i for i, (s, _) in enumerate(self.tokens) if s < span.end), default=None)
        if first is None or last is None or last < first:
            return None
        return Span(span.start, span.end, span.label, first, last)


def _overlaps(span: Span, ts: int, te: int) -> bool:
    return (span.token_start or 0) <= te and ts <= (span.token_end or 0)
