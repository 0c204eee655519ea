"""Token boundaries: the project's spaCy tokenizer decides where a span may start and end."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from spacy.tokens import Doc

AlignMode = Literal["strict", "contract", "expand"]


def token_span(
    doc: Doc, start: int, end: int, mode: AlignMode = "strict"
) -> tuple[int, int, int, int] | None:
    """Snap a char span to tokens with `Doc.char_span`.

    Returns (char_start, char_end, token_start, token_end_inclusive), or None when the span does
    not fit `mode` (strict: it does not fall on token boundaries) or is empty.
    """
    # The text's length without `doc.text`, which rebuilds the string from every token.
    length = doc[-1].idx + len(doc[-1].text_with_ws) if len(doc) else 0
    if not 0 <= start < end <= length:
        return None
    span = doc.char_span(start, end, alignment_mode=mode)
    if span is None or len(span) == 0:
        return None
    return span.start_char, span.end_char, span.start, span.end - 1
