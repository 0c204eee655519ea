"""Import and export formats: one module a format, each reading records line by line.

    jsonl     {"text", "meta", "spans": [{start, end, label}]} per line     formats.jsonl
    prodigy   prodigy db-out records (answer, spans with token indices)      formats.prodigy
    csv       a header row and a text column; other columns become meta      formats.csv
    text      one text per line                                              formats.text
    conll     token<TAB>tag lines (BIO), a blank line between texts          formats.conll

Readers take `Lines` (decoded, numbered lines of a binary stream) and yield `ImportedRecord`s or
`LineError`s; they never hold more than one record.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Literal, get_args

from nerloop.core.formats import conll, csv, jsonl, prodigy, text
from nerloop.core.formats.base import (
    FormatError,
    ImportedRecord,
    LineError,
    Lines,
    Parsed,
)

ImportFormat = Literal["jsonl", "prodigy", "csv", "text", "conll"]
IMPORT_FORMATS: tuple[str, ...] = get_args(ImportFormat)

EXTENSIONS: dict[str, ImportFormat] = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "text",
    ".text": "text",
    ".conll": "conll",
    ".bio": "conll",
    ".iob": "conll",
}

# How far to look for the first record when telling Prodigy JSONL from plain JSONL.
PEEK_LINES = 1000


class FormatGuessError(FormatError):
    """The file's format cannot be told from its name: the user has to give --format."""


STDIN = Path("-")
"""The FILE that means standard input."""


def guess_format(path: Path, lines: Lines | None = None) -> ImportFormat:
    """The format a file's extension stands for; JSONL whose first record has `_input_hash` or
    `answer` is Prodigy's. With `lines` (the stream being imported) the first record is read
    from them, so a pipe or FIFO is read only once; standard input, which has no extension,
    is JSONL when its first line is a JSON object."""
    fmt = EXTENSIONS.get(path.suffix.lower())
    if fmt is None and path == STDIN and lines is not None:
        first = next((raw for _, raw in lines.peek(PEEK_LINES) if _filled(raw)), "")
        fmt = "jsonl" if isinstance(first, str) and first.lstrip().startswith("{") else None
    if fmt is None and path == STDIN:
        # Only JSON lines tell their format; a CSV row, a CoNLL line and a plain text are
        # too alike to guess from without an extension.
        raise FormatGuessError(
            f"{path}: standard input does not start with a JSON object, so its format cannot "
            f"be told; give --format ({', '.join(get_args(ImportFormat))})"
        )
    if fmt is None:
        known = ", ".join(sorted(EXTENSIONS))
        what = f"the extension {path.suffix or '(none)'!r}"
        raise FormatGuessError(
            f"{path}: cannot tell the format from {what} (known: {known}); give --format"
        )
    if fmt == "jsonl":
        if lines is not None:
            return "prodigy" if _first_object_is_prodigy(lines.peek(PEEK_LINES)) else "jsonl"
        with path.open("rb") as fh:
            if _first_object_is_prodigy(Lines(fh).peek(PEEK_LINES)):
                return "prodigy"
    return fmt


def _filled(raw: str | LineError) -> bool:
    return isinstance(raw, LineError) or bool(raw.strip())


def _first_object_is_prodigy(head: list[tuple[int, str | LineError]]) -> bool:
    for _, raw in head:
        if isinstance(raw, LineError) or not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except (ValueError, RecursionError):
            return False
        return isinstance(obj, dict) and jsonl.looks_like_prodigy(obj)
    return False


def read_records(
    lines: Lines,
    fmt: ImportFormat,
    *,
    path: Path,
    text_column: str = "text",
    labels: Collection[str] | None = None,
) -> Iterator[Parsed]:
    """The records of a file in format `fmt`, one at a time."""
    if fmt == "jsonl":
        return jsonl.read(lines)
    if fmt == "prodigy":
        return prodigy.read(lines)
    if fmt == "csv":
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        return csv.read(lines, text_column=text_column, delimiter=delimiter)
    if fmt == "text":
        return text.read(lines)
    if fmt == "conll":
        return conll.read(lines, labels=labels)
    raise FormatError(f"unknown format {fmt!r} (known: {', '.join(IMPORT_FORMATS)})")


__all__ = [
    "EXTENSIONS",
    "IMPORT_FORMATS",
    "STDIN",
    "FormatError",
    "FormatGuessError",
    "ImportFormat",
    "ImportedRecord",
    "LineError",
    "Lines",
    "Parsed",
    "guess_format",
    "read_records",
]
