"""What every import format shares: numbered lines read from bytes, records and line errors.

Readers never load a whole file: they pull decoded lines one at a time from `Lines`, which counts
line numbers and bytes read (for the progress bar), strips a UTF-8 BOM and CRLF endings, and turns
bytes that are not UTF-8 into a `LineError` for that line instead of aborting the file.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from nerloop.core.records import TextRecord


@dataclass(slots=True)
class ImportedRecord(TextRecord):
    """A record as read from a file, before validation against the project.

    `gold` is set when the file itself marks the record as gold (a `_split` of "gold" in
    Prodigy JSONL, a `# split = gold` comment in CoNLL), which is how nerloop's own exports keep
    the gold split through a round trip.
    """

    gold: bool = False
    # Where each span came from, as (line, field) for error messages, when the format knows it
    # better than "the record's line" (CoNLL: the line of the span's first token).
    span_where: list[tuple[int, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LineError:
    """One bad record: the line it starts on (or the exact bad line), the field, what is wrong."""

    line: int
    field: str | None
    message: str

    def format(self, path: str) -> str:
        """`FILE:LINE: field X: what is wrong`, the form every import error takes."""
        where = f"{path}:{self.line}: "
        if self.field:
            where += f"field {short(self.field)}: "
        return where + short(self.message)


MAX_MESSAGE_CHARS = 300
"""A message quotes the file (a label, a key, a token): a 100,000-character label must not make
a 100,000-character line on the terminal. Longer messages keep their head and tail."""


def short(text: str) -> str:
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    half = MAX_MESSAGE_CHARS // 2
    return f"{text[:half]} … ({len(text) - 2 * half:,} characters) … {text[-half:]}"


class FormatError(ValueError):
    """A problem with the whole file (not one record), e.g. a CSV without the text column."""

    def __init__(self, message: str, line: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.error = LineError(line or 0, field, message)

    def format(self, path: str) -> str:
        """`FILE:LINE: field X: what is wrong`, or `FILE: what is wrong` without a line."""
        if self.error.line:
            return self.error.format(path)
        return f"{path}: {short(self.error.message)}"


Parsed = ImportedRecord | LineError


MAX_LINE_BYTES = 10 * 1024 * 1024
"""Longest line read (10 MiB): longer is a clear error, not a MemoryError (`/dev/zero`)."""


class Lines:
    """Decoded lines of a binary stream, numbered from 1, without their line endings.

    The stream is read once, front to back, so a pipe, a FIFO or standard input works as well
    as a file; `peek` keeps the first lines for a format sniffer and yields them again.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.bytes_read = 0
        self.line = 0
        self._head: list[tuple[int, str | LineError]] = []
        self._source = self._read()

    def peek(self, n: int) -> list[tuple[int, str | LineError]]:
        """The first `n` lines (fewer at the end of the stream), read once and kept."""
        while len(self._head) < n:
            got = next(self._source, None)
            if got is None:
                break
            self._head.append(got)
        return self._head[:n]

    def __iter__(self) -> Iterator[tuple[int, str | LineError]]:
        while self._head:
            yield self._head.pop(0)
        yield from self._source

    def _read(self) -> Iterator[tuple[int, str | LineError]]:
        while True:
            raw = self.stream.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            self.line += 1
            self.bytes_read += len(raw)
            if len(raw) > MAX_LINE_BYTES:
                raise FormatError(
                    f"line longer than {MAX_LINE_BYTES // (1024 * 1024)} MB (nerloop reads at "
                    "most that much a line); is this a text file?",
                    self.line,
                )
            if self.line == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            elif self.line == 1 and raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise FormatError("the file is UTF-16 encoded; save it as UTF-8", 1)
            if raw.endswith(b"\n"):
                raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
            try:
                yield self.line, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield (
                    self.line,
                    LineError(
                        self.line,
                        None,
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start} of "
                        "the line); save the file as UTF-8",
                    ),
                )


def check_text(text: object, line: int, field: str = "text") -> LineError | None:
    """The rules every imported text obeys, whatever the format."""
    if not isinstance(text, str):
        return LineError(line, field, f"must be a string, not {type_name(text)}")
    if not text.strip():
        return LineError(line, field, "is empty (or only whitespace)")
    nul = text.find("\x00")
    if nul >= 0:
        return LineError(line, field, f"contains a NUL character at character {nul}")
    return check_storable(text, line, field)


def check_storable(text: str, line: int, field: str) -> LineError | None:
    """A lone surrogate (JSON's "\\ud800" escape without its pair) is no character: UTF-8, and
    so the database, cannot hold it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return LineError(
            line,
            field,
            f"holds a lone surrogate (\\u{ord(text[exc.start]):04x}) at character {exc.start}, "
            "which is not a character; fix the escape in the file",
        )
    return None


def type_name(value: object) -> str:
    """The JSON name of a value's type, for messages about JSON input."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
