"""BIO / CoNLL: one token per line with its tag, a blank line between texts.

Reading: `token<TAB>tag` or `token tag` (with more columns, as in CoNLL-2003, the first is the
token and the last the tag). Tags are O, B-LABEL and I-LABEL; BILUO/BIOES prefixes (L-, E-, U-,
S-) and an I- that starts an entity (IOB1) are accepted too. `-DOCSTART-` lines are ignored.
Comment lines start with `#`; three are understood:

    # text = <the exact text>    the tokens are found in it in order (only whitespace between);
                                 without it the text is the tokens joined by single spaces
    # text_json = "<text>"       the same for a text with line breaks, as a JSON string
    # meta = {...}               the text's meta, a JSON object
    # split = gold               the text belongs to the gold split

Writing produces exactly that, so nerloop's exports come back identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from nerloop.core.formats.base import ImportedRecord, LineError, Lines, Parsed, check_text
from nerloop.core.records import Span

TAG = re.compile(r"^([BIELSU])-(.+)$")
DIRECTIVE = re.compile(r"^#\s*(text|text_json|meta|split)\s*=\s?(.*)$")
COLUMNS = re.compile(r"[ \t]+")


@dataclass
class _Sentence:
    start: int = 0
    tokens: list[tuple[str, str, int]] = field(default_factory=list)
    text: str | None = None
    text_line: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    gold: bool = False
    error: LineError | None = None

    @property
    def empty(self) -> bool:
        return not self.tokens and self.error is None and self.text is None


def _columns(raw: str) -> list[str]:
    stripped = raw.strip()
    return stripped.split("\t") if "\t" in stripped else COLUMNS.split(stripped)


def _tag_error(tag: str, line: int, labels: Collection[str] | None) -> LineError | None:
    if tag == "O":
        return None
    m = TAG.match(tag)
    if m is None:
        return LineError(line, "tag", f"{tag!r} is not a BIO tag (O, B-LABEL or I-LABEL)")
    if labels is not None and m.group(2) not in labels:
        return LineError(
            line,
            "tag",
            f"unknown label {m.group(2)!r} in {tag!r} (taxonomy: {', '.join(sorted(labels))})",
        )
    return None


def _directive(sent: _Sentence, key: str, value: str, line: int) -> None:
    if key == "text":
        sent.text, sent.text_line = value, line
    elif key == "text_json":
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError as exc:
            sent.error = sent.error or LineError(line, "text_json", f"invalid JSON: {exc.msg}")
            return
        if not isinstance(decoded, str):
            sent.error = sent.error or LineError(line, "text_json", "must be a JSON string")
            return
        sent.text, sent.text_line = decoded, line
    elif key == "meta":
        try:
            meta = json.loads(value)
        except json.JSONDecodeError as exc:
            sent.error = sent.error or LineError(line, "meta", f"invalid JSON: {exc.msg}")
            return
        if not isinstance(meta, dict):
            sent.error = sent.error or LineError(line, "meta", "must be a JSON object")
            return
        sent.meta = meta
    elif key == "split":
        if value.strip() not in ("gold", "pool"):
            sent.error = sent.error or LineError(line, "split", "must be gold or pool")
            return
        sent.gold = value.strip() == "gold"


def _build(sent: _Sentence) -> Parsed:
    if sent.error is not None:
        return sent.error
    if not sent.tokens:
        return LineError(sent.start, "text", "a `# text` line with no tokens after it")
    # Character offsets of every token, in the given text or in the tokens joined by spaces.
    offsets: list[tuple[int, int]] = []
    if sent.text is None:
        text = " ".join(tok for tok, _, _ in sent.tokens)
        pos = 0
        for tok, _, _ in sent.tokens:
            offsets.append((pos, pos + len(tok)))
            pos += len(tok) + 1
    else:
        text = sent.text
        pos = 0
        for tok, _, line in sent.tokens:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if not text.startswith(tok, pos):
                found = text[pos : pos + len(tok) + 10]
                return LineError(
                    line,
                    "token",
                    f"{tok!r} is not the next token of the `# text` line (line "
                    f"{sent.text_line}), which has {found!r} at character {pos}",
                )
            offsets.append((pos, pos + len(tok)))
            pos += len(tok)
        if text[pos:].strip():
            return LineError(
                sent.text_line,
                "text",
                f"the text goes on after the last token: {text[pos : pos + 20]!r}",
            )
    where = sent.text_line or sent.tokens[0][2]
    bad = check_text(text, where)
    if bad:
        return bad
    spans: list[Span] = []
    span_where: list[tuple[int, str]] = []
    current: tuple[int, int, str, int] | None = None  # start, end, label, line

    def close() -> None:
        nonlocal current
        if current is not None:
            spans.append(Span(current[0], current[1], current[2]))
            span_where.append((current[3], "tag"))
            current = None

    for (_, tag, line), (start, end) in zip(sent.tokens, offsets, strict=True):
        if tag == "O":
            close()
            continue
        prefix, label = tag[0], tag[2:]
        if prefix in "IEL" and current is not None and current[2] == label:
            current = (current[0], end, label, current[3])
        else:
            close()
            current = (start, end, label, line)
        if prefix in "ELSU":
            close()
    close()
    return ImportedRecord(
        text=text,
        meta=sent.meta,
        spans=spans,
        line=sent.start,
        gold=sent.gold,
        span_where=span_where,
    )


def read(lines: Lines, *, labels: Collection[str] | None = None) -> Iterator[Parsed]:
    """One record per sentence (block of token lines); tags naming a label not in `labels`
    are errors on their own line."""
    sent = _Sentence()
    for line, raw in lines:
        if isinstance(raw, LineError):
            sent.start = sent.start or line
            sent.error = sent.error or raw
            continue
        stripped = raw.strip()
        if not stripped:
            if not sent.empty:
                yield _build(sent)
            sent = _Sentence()
            continue
        if stripped.startswith("-DOCSTART-"):
            continue
        cols = _columns(raw)
        if stripped.startswith("#"):
            m = DIRECTIVE.match(raw.lstrip())
            if m:
                if sent.tokens:
                    sent.error = sent.error or LineError(
                        line, m.group(1), "a `#` line must come before the tokens of its text"
                    )
                sent.start = sent.start or line
                _directive(sent, m.group(1), m.group(2), line)
                continue
            if not (len(cols) == 2 and (cols[1] == "O" or TAG.match(cols[1]))):
                continue  # a comment; `#<TAB>O` is the token "#"
        sent.start = sent.start or line
        if len(cols) < 2:
            sent.error = sent.error or LineError(
                line, None, "expected a token and a tag separated by a tab or a space"
            )
            continue
        tag = cols[-1].strip()
        error = _tag_error(tag, line, labels)
        if error:
            sent.error = sent.error or error
            continue
        sent.tokens.append((cols[0].strip(), tag, line))
    if not sent.empty:
        yield _build(sent)


def write_text(
    out: IO[str],
    *,
    text: str,
    tokens: list[tuple[str, int, int]],
    spans: list[Span],
    meta: dict[str, Any],
    gold: bool,
) -> None:
    """One text as a block: directives, one `token<TAB>tag` line per token, a blank line.

    `tokens` are (text, char_start, char_end); whitespace tokens are left out (they cannot be
    written as a line), which the reader undoes through the `# text` line. Spans must fall on
    token boundaries and not overlap.
    """
    if "\n" in text or "\r" in text:
        out.write(f"# text_json = {json.dumps(text, ensure_ascii=False)}\n")
    else:
        out.write(f"# text = {text}\n")
    if meta:
        out.write(f"# meta = {json.dumps(meta, ensure_ascii=False, separators=(',', ':'))}\n")
    if gold:
        out.write("# split = gold\n")
    ordered = sorted(spans, key=lambda s: s.start)
    i = 0
    for tok, start, end in tokens:
        while i < len(ordered) and ordered[i].end <= start:
            i += 1
        tag = "O"
        if i < len(ordered) and ordered[i].start <= start and end <= ordered[i].end:
            tag = ("B-" if ordered[i].start == start else "I-") + ordered[i].label
        if not tok.strip():
            continue
        out.write(f"{tok}\t{tag}\n")
    out.write("\n")
