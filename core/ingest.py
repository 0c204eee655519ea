"""The import job: read a file in any format, check every record, store it in one transaction.

Records stream through in chunks (never the whole file in memory). Every record is checked
against the project (spans inside the text, on the tokenizer's token boundaries, labels from the
taxonomy) before anything is stored. Without `skip_invalid` a single bad record fails the import
and the transaction is rolled back, so nothing of the file is stored; with it, bad records are
skipped and listed. Texts are deduplicated by input hash (within the file and against the store).

What is stored for a record:
- pool (default): the text; each span becomes a proposal with source 'import', answered with the
  record's Prodigy `answer` by its annotator, or (plain records) accepted by annotator 'import',
  so imported annotations train the model like any accepted answer.
- gold (`gold=True`, or records the file marks as gold): the text in the gold split and its spans
  as a finished gold annotation by the record's annotator (default 'import'). Prodigy records
  answered reject or ignore are skipped: they are not annotations.
"""

from __future__ import annotations

import collections
import functools
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from nerloop.core.formats import (
    STDIN,
    FormatError,
    FormatGuessError,
    ImportedRecord,
    ImportFormat,
    LineError,
    Lines,
    guess_format,
    read_records,
)
from nerloop.core.records import Span, Split, input_hash
from nerloop.core.store.ingest import ImportState, IngestCounts, IngestItem
from nerloop.core.tokens import token_span

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

    from nerloop.core.project import Project
    from nerloop.core.store import Store

# Who imported annotations are by when the file does not say.
IMPORT_ANNOTATOR = "import"
# Records per executemany chunk: large enough to make statements rare, small enough that the
# chunk in flight stays around a megabyte.
BATCH = 1000
# Docs tokenized per spaCy memory zone, and docs a pipeline keeps for good first (ZonedTokenizer).
ZONE_DOCS = 1000
WARM_DOCS = 2000
# Bad records quoted in full; the rest are counted.
MAX_LISTED = 20
PROGRESS_EVERY = 2000
# Import and export jobs of one process take turns on `job_pipeline`.
JOB_LOCK = threading.RLock()


class ImportFailed(Exception):
    """An import that stored nothing; the message lists the bad records."""

    def __init__(self, message: str, summary: ImportSummary | None = None) -> None:
        super().__init__(message)
        self.summary = summary


@dataclass(slots=True, kw_only=True)
class ImportSummary(IngestCounts):
    """What an import did: the store's counts of its batches (`add`ed up), and what the job
    itself counted while reading the file."""

    path: str
    format: str
    split: Split
    records: int = 0
    rejected: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        """The one-line summary printed at the end of an import."""
        parts = [
            f"{self.added} added",
            f"{self.duplicates} duplicates",
            f"{self.rejected} rejected",
        ]
        if self.answers or self.format == "prodigy":
            parts.append(f"{self.answers} answers")
        if self.gold:
            parts.append(f"{self.gold} gold annotations")
        if self.moved_to_gold:
            parts.append(f"{self.moved_to_gold} moved from pool to gold")
        if self.skipped:
            parts.append(f"{self.skipped} skipped (gold records answered reject/ignore)")
        return f"{self.path} ({self.format}): " + ", ".join(parts)


_warmed: collections.Counter[str] = collections.Counter()


@functools.lru_cache(maxsize=4)
def job_pipeline(lang: str) -> Language:
    """The tokenizer of import and export jobs: a blank pipeline of the project's language, the
    same as `Project.nlp`, but the jobs' own, because they open memory zones on it, which would
    invalidate docs that other threads make with a shared pipeline at the same time. Use it
    through `ZonedTokenizer` while holding JOB_LOCK."""
    import spacy

    return spacy.blank(lang)


class ZonedTokenizer:
    """`make_doc` on `job_pipeline(lang)` inside spaCy memory zones.

    Every new token string becomes a lexeme in the vocab for good: a million texts would grow it
    by hundreds of MB. A memory zone frees them; one zone per ZONE_DOCS docs keeps the cost of
    entering zones negligible. Only the first WARM_DOCS docs a pipeline ever sees are kept.
    A doc must not be used after the next call or `close()`.
    """

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._nlp: Language | None = None
        self._zone: ExitStack | None = None
        self._docs = 0

    def __call__(self, text: str) -> Doc:
        if self._nlp is None:
            self._nlp = job_pipeline(self.lang)
        if _warmed[self.lang] < WARM_DOCS:
            # The first docs a pipeline sees stay in its vocab and tokenizer cache, so the
            # common words of the data are cached for good: tokenizing inside a zone with a
            # warm cache is about twice as fast as with a cold one.
            _warmed[self.lang] += 1
            return self._nlp.make_doc(text)
        if self._zone is None or self._docs >= ZONE_DOCS:
            self.close()
            self._zone = ExitStack()
            self._zone.enter_context(self._nlp.memory_zone())
        self._docs += 1
        return self._nlp.make_doc(text)

    def close(self) -> None:
        """Leave the current memory zone (the vocab forgets the strings seen in it)."""
        if self._zone is not None:
            self._zone.close()
        self._zone = None
        self._docs = 0


@contextmanager
def job_tokenizer(lang: str) -> Iterator[ZonedTokenizer]:
    """A ZonedTokenizer for one job, with JOB_LOCK held and its last zone closed at the end."""
    with JOB_LOCK:
        tokenizer = ZonedTokenizer(lang)
        try:
            yield tokenizer
        finally:
            tokenizer.close()


class RecordChecker:
    """Checks a record's spans against the project: labels, range, token boundaries, overlap."""

    def __init__(self, labels: Iterable[str], make_doc: Callable[[str], Doc]) -> None:
        self.labels = set(labels)
        self._make_doc = make_doc

    def check(self, rec: ImportedRecord) -> list[Span] | LineError:
        """The record's spans with token indices, sorted; or the first thing wrong."""
        if not rec.spans:
            return []

        def where(i: int) -> tuple[int, str]:
            if i < len(rec.span_where):
                return rec.span_where[i]
            return rec.line, f"spans[{i}]"

        n = len(rec.text)
        for i, s in enumerate(rec.spans):
            if s.label not in self.labels:
                line, fld = where(i)
                return LineError(
                    line,
                    fld if rec.span_where else f"{fld}.label",
                    f"unknown label {s.label!r} (taxonomy: {', '.join(sorted(self.labels))})",
                )
            if s.start < 0 or s.end > n:
                return LineError(
                    *where(i),
                    f"span {s.start}-{s.end} is out of range: the text has {n} characters",
                )
        doc = self._make_doc(rec.text)
        out: list[tuple[Span, int]] = []
        for i, s in enumerate(rec.spans):
            fit = token_span(doc, s.start, s.end, "strict")
            if fit is None:
                wide = doc.char_span(s.start, s.end, alignment_mode="expand")
                hint = (
                    f"; the nearest token span is {wide.start_char}-{wide.end_char}" if wide else ""
                )
                return LineError(
                    *where(i),
                    f"span {s.start}-{s.end} ({rec.text[s.start : s.end]!r}) is not on token "
                    f"boundaries{hint}",
                )
            out.append((Span(s.start, s.end, s.label, fit[2], fit[3]), i))
        out.sort(key=lambda pair: (pair[0].start, pair[0].end, pair[0].label))
        spans: list[Span] = []
        prev_i = -1
        for s, i in out:
            if spans and s == spans[-1]:
                continue  # the same span twice: once is enough
            if spans and s.start < spans[-1].end:
                return LineError(
                    *where(i),
                    f"span {s.start}-{s.end} {s.label} overlaps span {spans[-1].start}-"
                    f"{spans[-1].end} {spans[-1].label} (spans[{prev_i}])",
                )
            spans.append(s)
            prev_i = i
        return spans


def import_file(
    project: Project,
    path: Path,
    *,
    fmt: ImportFormat | None = None,
    gold: bool = False,
    skip_invalid: bool = False,
    replace_gold: bool = False,
    text_column: str = "text",
    progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> ImportSummary:
    """Import one file into the project; returns the summary, or raises ImportFailed (nothing
    stored) when a record is bad and `skip_invalid` is off.

    `progress` is called now and then with the number of bytes read so far.
    """
    store = project.store
    summary = ImportSummary(path=str(path), format=fmt or "", split="gold" if gold else "pool")
    tokenizer = ZonedTokenizer(project.taxonomy.lang)
    checker = RecordChecker(project.taxonomy.names, tokenizer)
    state = ImportState()
    pending: list[IngestItem] = []
    guard = GoldGuard()
    failed = False

    def flush() -> None:
        if pending and not failed:
            summary.add(store.ingest_batch(pending, source=path.name, state=state))
            conflicts = store.label_conflicts(pending, state)
            if conflicts:
                # Stored already, in the import's one transaction: raising rolls it all back.
                for c in conflicts:
                    reject(LineError(c.line, "spans", c.message()))
                raise ImportFailed(_failure_message(summary, skippable=False), summary)
        pending.clear()

    def reject(error: LineError) -> None:
        nonlocal failed
        summary.rejected += 1
        if len(summary.errors) < MAX_LISTED:
            summary.errors.append(error.format(str(path)))
        if not skip_invalid:
            failed = True

    # One job at a time per process: the job pipeline is shared, and a second import would only
    # wait on the database's write lock anyway.
    with JOB_LOCK, open_input(path) as fh, store.write():
        lines = Lines(fh)
        try:
            # Sniffed from the stream being read (inside this handler, so a UTF-16 file or an
            # overlong first line is the usual one-line error), never by opening it again.
            fmt = fmt or guess_format(path, lines)
            summary.format = fmt
            records = read_records(
                lines, fmt, path=path, text_column=text_column, labels=set(project.taxonomy.names)
            )
            for n, rec in enumerate(records, 1):
                if progress is not None and n % PROGRESS_EVERY == 0:
                    progress(lines.bytes_read)
                if isinstance(rec, LineError):
                    reject(rec)
                    continue
                summary.records += 1
                spans = checker.check(rec)
                if isinstance(spans, LineError):
                    reject(spans)
                    continue
                item = _item(rec, spans, gold)
                if item is None:
                    summary.skipped += 1
                    continue
                if item.split == "gold" and not replace_gold:
                    guard.note(store, item)
                if failed:
                    continue  # keep reading to list every bad record, but store nothing
                pending.append(item)
                if len(pending) >= batch:
                    flush()
        except FormatGuessError:
            raise  # the user's to fix on the command line (--format), not the file's
        except FormatError as exc:
            raise ImportFailed(
                f"{exc.format(str(path))}\n{path}: nothing imported.", summary
            ) from None
        finally:
            tokenizer.close()
        if progress is not None:
            progress(lines.bytes_read)
        if failed:
            raise ImportFailed(_failure_message(summary), summary)
        flush()
        clashes = guard.clashes(store)
        if clashes:
            for clash in clashes:
                reject(clash)
            # Everything is written inside this one transaction: raising rolls it back.
            raise ImportFailed(_failure_message(summary, skippable=False), summary)
        store.log_import(
            path=str(path),
            format=fmt,
            split=summary.split,
            added=summary.added,
            duplicates=summary.duplicates,
            rejected=summary.rejected,
            answers=summary.answers,
        )
    return summary


@dataclass(slots=True)
class GoldGuard:
    """Keeps an import from replacing a finished gold annotation without --replace-gold.

    A file may spread one text's gold over several records (they add up), so the check is on
    the text's annotation once the whole file is in: if it differs from the one that counted
    before the import, the import fails, naming the text's first line. (The same annotation
    again is fine: re-importing a file changes nothing.)
    """

    before: dict[int, tuple[int, str, list[Span]]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)

    def note(self, store: Store, item: IngestItem) -> None:
        h = input_hash(item.text)
        if h in self.seen:
            return
        self.seen.add(h)
        have = store.finished_gold_by_hash(h)
        if have is not None:
            self.before[h] = (item.line, *have)

    def clashes(self, store: Store) -> list[LineError]:
        out = []
        for h, (line, annotator, spans) in self.before.items():
            now = store.finished_gold_by_hash(h)
            if now is not None and _span_set(now[1]) != _span_set(spans):
                out.append(
                    LineError(
                        line,
                        "spans",
                        f"the text is already gold, annotated by {annotator} with other "
                        "spans; pass --replace-gold to replace that annotation with this one",
                    )
                )
        return out


def _span_set(spans: Iterable[Span]) -> set[tuple[int, int, str]]:
    return {(s.start, s.end, s.label) for s in spans}


@contextmanager
def open_input(path: Path) -> Iterator[BinaryIO]:
    """The bytes to import: a file, a FIFO or a pipe (read once, front to back), or standard
    input for "-"."""
    if path == STDIN:
        yield sys.stdin.buffer
        return
    with path.open("rb") as fh:
        yield fh


def _item(rec: ImportedRecord, spans: list[Span], gold: bool) -> IngestItem | None:
    annotator = rec.annotator or IMPORT_ANNOTATOR
    if gold or rec.gold:
        if rec.answer in ("reject", "ignore"):
            return None
        return IngestItem(rec.text, rec.meta, "gold", spans, None, annotator, rec.line)
    return IngestItem(
        rec.text, rec.meta, "pool", spans, rec.answer or "accept", annotator, rec.line
    )


def _failure_message(summary: ImportSummary, *, skippable: bool = True) -> str:
    lines = list(summary.errors)
    more = summary.rejected - len(summary.errors)
    if more > 0:
        lines.append(f"... and {more} more")
    fix = (
        "Fix them, or pass --skip-invalid to import the valid records and skip these."
        if skippable
        else "Fix them (--skip-invalid cannot skip a conflict with what is stored)."
    )
    lines.append(
        f"{summary.path}: nothing imported: {summary.rejected} invalid record"
        f"{'s' if summary.rejected != 1 else ''}. {fix}"
    )
    return "\n".join(lines)


def listed_errors(summary: ImportSummary) -> list[str]:
    """The bad records to show after an import with skip_invalid: the first ones and a count."""
    out = list(summary.errors)
    more = summary.rejected - len(summary.errors)
    if more > 0:
        out.append(f"... and {more} more")
    return out
