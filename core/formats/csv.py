"""CSV (and TSV): a header row, then one text per row.

The text comes from one column (`text` unless told otherwise); every other column goes into the
text's `meta` as a string. Quoted fields may span lines; a record's line number is the line it
starts on. Blank lines are skipped. CSV carries no spans.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from nerloop.core.formats.base import (
    FormatError,
    ImportedRecord,
    LineError,
    Lines,
    Parsed,
    check_text,
)

# Long texts are normal (whole reports); the csv module's default cap is 128 KiB a field.
FIELD_LIMIT = 64 * 1024 * 1024


def read(lines: Lines, *, text_column: str = "text", delimiter: str = ",") -> Iterator[Parsed]:
    """Records of a CSV file whose header names `text_column`."""
    if csv.field_size_limit() < FIELD_LIMIT:
        csv.field_size_limit(FIELD_LIMIT)
    bad: dict[int, LineError] = {}

    def feed() -> Iterator[str]:
        for n, raw in lines:
            if isinstance(raw, LineError):
                bad[n] = raw
                yield "\n"
            else:
                yield raw + "\n"

    # strict: a quote that is never closed is an error at the end of the file, instead of the
    # rest of the file silently merging into one field.
    reader = csv.reader(feed(), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    text_index = 0
    last = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start, last = last + 1, reader.line_num
            if "unexpected end of data" in str(exc):
                yield LineError(
                    start,
                    None,
                    "not valid CSV: a quoted field that starts here is never closed (every line "
                    f"after it, to line {last}, would merge into it)",
                )
                return
            yield LineError(start, None, f"not valid CSV: {exc}")
            continue
        start, last = last + 1, reader.line_num
        broken = [bad.pop(n) for n in range(start, last + 1) if n in bad]
        if broken:
            yield broken[0]
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if header is None:
            header = [cell.strip() for cell in row]
            if text_column not in header:
                raise FormatError(
                    f"the header has no column {text_column!r} (columns: {', '.join(header)}); "
                    "name the text column with --text-column",
                    start,
                    text_column,
                )
            text_index = header.index(text_column)
            continue
        if len(row) != len(header):
            yield LineError(start, None, f"row has {len(row)} fields, the header has {len(header)}")
            continue
        text = row[text_index]
        error = check_text(text, start, text_column)
        if error:
            yield error
            continue
        meta = {
            name: value
            for i, (name, value) in enumerate(zip(header, row, strict=True))
            if i != text_index
        }
        yield ImportedRecord(text=text, meta=meta, line=start)
