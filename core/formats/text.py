"""Plain text: one text per line. Blank (or whitespace-only) lines are skipped, not errors."""

from __future__ import annotations

from collections.abc import Iterator

from nerloop.core.formats.base import ImportedRecord, LineError, Lines, Parsed, check_text


def read(lines: Lines) -> Iterator[Parsed]:
    """One record per non-blank line, the line kept exactly (without its line ending)."""
    for line, raw in lines:
        if isinstance(raw, LineError):
            yield raw
            continue
        if not raw.strip():
            continue
        yield check_text(raw, line) or ImportedRecord(text=raw, line=line)
