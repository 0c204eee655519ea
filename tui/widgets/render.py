"""Turning data into `rich.text.Text`: never markup strings, always sanitised text.

Everything shown from a text, a label description or a file path goes through here (or through
`Text(safe_text(...))`), so "[bold]" shows as typed and escape sequences never reach the
terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from nerloop.core.display import one_line, safe_text
from nerloop.core.records import Span

# Styles that stay visible without colour (NO_COLOR, 16-colour terminals): attributes first.
SPAN_STYLE = "reverse bold"
CURSOR_STYLE = "underline bold"
SELECTION_STYLE = "reverse"
# Around a span, at most this many characters of a long text are shown.
WINDOW = 300


def plain(value: object) -> Text:
    """Any value from the data as one safe line of plain text."""
    return Text(one_line(str(value)))


def windowed(text: str, start: int, end: int, width: int = WINDOW) -> tuple[str, int, int]:
    """Cut a long text down to `width` characters around [start, end); returns the shown
    text and the span's offsets in it (an ellipsis marks each cut)."""
    if len(text) <= 2 * width + (end - start):
        return text, start, end
    lo = max(0, start - width)
    hi = min(len(text), end + width)
    head = "…" if lo > 0 else ""
    tail = "…" if hi < len(text) else ""
    shown = head + text[lo:hi] + tail
    return shown, start - lo + len(head), end - lo + len(head)


def highlighted(text: str, start: int, end: int) -> Text:
    """The text with [start, end) highlighted, sanitised, a long text cut around the span."""
    shown, s, e = windowed(safe_text(text), start, end)
    out = Text(shown)
    out.stylize(SPAN_STYLE, s, e)
    return out


def gold_text(
    text: str,
    spans: Sequence[Span],
    labels: Sequence[str],
    cursor: tuple[int, int] | None,
    selection: tuple[int, int] | None,
) -> Text:
    """A gold text with its spans (each followed by its label number), the selection and the
    cursor (char ranges)."""
    out = Text()
    safe = safe_text(text)
    pos = 0
    number = {name: i + 1 for i, name in enumerate(labels)}
    marks: list[tuple[int, int, str]] = []  # (offset in out, length, style)
    for span in sorted(spans, key=lambda s: s.start):
        out.append(safe[pos : span.start])
        begin = len(out)
        out.append(safe[span.start : span.end])
        marks.append((begin, span.end - span.start, SPAN_STYLE))
        out.append(f"⟨{number.get(span.label, '?')}⟩", style="bold")
        pos = span.end
    out.append(safe[pos:])

    def shift(offset: int) -> int:
        # Offsets in `out` move right by the label tags inserted before them.
        extra = 0
        for span in spans:
            if span.end <= offset:
                extra += len(f"⟨{number.get(span.label, '?')}⟩")
        return offset + extra

    for begin, length, style in marks:
        out.stylize(style, begin, begin + length)
    if selection is not None and selection != cursor:
        out.stylize(SELECTION_STYLE, shift(selection[0]), shift(selection[1]))
    if cursor is not None:
        out.stylize(CURSOR_STYLE, shift(cursor[0]), shift(cursor[1]))
    return out
