"""The export job: Prodigy JSONL, spaCy DocBin (train/dev/test) and CoNLL/BIO.

`answered_texts` folds the answers log into one decision per text: which spans were accepted
and which rejected, by the rules of core.answer_spans, which training reads the answers by too,
so that an export holds what nerloop's own training learns from.

Only texts in the pool split are exported from answers; gold texts are exported from their gold
annotations (marked so that an import of the export puts them back into gold). Settings and the
API key live outside the store and never reach an export.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, get_args

from nerloop.core.answer_spans import answer_spans, non_overlapping, span_judgements
from nerloop.core.formats import conll
from nerloop.core.formats.prodigy import dumps, prodigy_record
from nerloop.core.ingest import job_tokenizer
from nerloop.core.outfile import output_file, refuse_project_files
from nerloop.core.records import Span, Split, task_hash
from nerloop.core.tokens import token_span

# The span group key and the dev buckets are training's, so an export trains the same way.
from nerloop.core.training.data import DEV_PERCENT, INCORRECT_SPANS_KEY, dev_bucket

if TYPE_CHECKING:
    from spacy.tokens import Doc

    from nerloop.core.project import Project
    from nerloop.core.store import Store

ExportFormat = Literal["prodigy", "spacy", "conll"]
# What NER training reads from a doc (the words, their whitespace and the entities); DocBin's
# default adds tags, lemmas, heads and more, all empty here, at four times the memory.
DOCBIN_ATTRS = ["ORTH", "ENT_IOB", "ENT_TYPE"]
EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


def is_dev(input_hash: int) -> bool:
    """Whether a text belongs to the dev split: about 20% of texts, by hash, the same buckets
    as nerloop's own training uses (core.training.data.dev_bucket)."""
    return dev_bucket(input_hash) < DEV_PERCENT


@dataclass(slots=True)
class AnsweredText:
    """One text's decisions (see core.answer_spans). Spans carry token indices (inclusive
    end)."""

    text_id: int
    text: str
    input_hash: int
    meta: dict[str, Any]
    split: Split
    accepted: list[Span] = field(default_factory=list)
    rejected: list[Span] = field(default_factory=list)
    answers: int = 0


def group_answers(rows: Iterable[dict[str, Any]]) -> Iterator[AnsweredText]:
    """Fold answer rows ordered by text into one `AnsweredText` per text."""
    for _, group in groupby(rows, key=lambda row: row["text_id"]):
        text_rows = list(group)
        first = text_rows[0]
        meta = first["meta"]
        decided = answer_spans(text_rows)
        yield AnsweredText(
            text_id=first["text_id"],
            text=first["text"],
            input_hash=first["input_hash"],
            meta=json.loads(meta) if isinstance(meta, str) else dict(meta),
            split=first["split"],
            accepted=decided.accepted,
            rejected=decided.rejected,
            answers=len(text_rows),
        )


def answered_texts(store: Store, split: Split | None = "pool") -> Iterator[AnsweredText]:
    """Every answered text of `split` with its accepted and rejected spans, one at a time."""
    return group_answers(store.iter_answers_by_text(split))


@dataclass(slots=True)
class ExportSummary:
    format: str
    out: str
    records: int = 0
    texts: int = 0
    files: dict[str, int] = field(default_factory=dict)
    dropped_overlaps: int = 0
    misaligned: int = 0

    def line(self) -> str:
        parts = [f"{self.records} records from {self.texts} texts"]
        if self.files:
            parts = [", ".join(f"{name}: {n} docs" for name, n in self.files.items())]
        if self.dropped_overlaps:
            parts.append(f"{self.dropped_overlaps} overlapping accepted spans left out")
        if self.misaligned:
            parts.append(f"{self.misaligned} spans off token boundaries left out")
        return f"{self.out} ({self.format}): " + "; ".join(parts)


def _tokens(doc: Doc) -> list[dict[str, Any]]:
    return [
        {
            "text": t.text,
            "start": t.idx,
            "end": t.idx + len(t.text),
            "id": t.i,
            "ws": bool(t.whitespace_),
        }
        for t in doc
    ]


def _with_tokens(doc: Doc, spans: Iterable[Span]) -> list[Span]:
    out = []
    for s in spans:
        fit = token_span(doc, s.start, s.end, "expand")
        ts, te = (fit[2], fit[3]) if fit else (s.token_start, s.token_end)
        out.append(Span(s.start, s.end, s.label, ts, te))
    return out


def _epoch(created: str) -> int | None:
    try:
        return int(datetime.fromisoformat(created).timestamp())
    except (TypeError, ValueError):
        return None


def _gold_task_hash(input_hash: int, spans: list[Span]) -> int:
    key = "|".join(f"{s.label}:{s.start}:{s.end}" for s in spans)
    return task_hash(input_hash, "gold:" + key, 0, 0)


def write_prodigy(project: Project, out: IO[str], *, gold_only: bool = False) -> ExportSummary:
    """One record per live answer on a pool text (two for an edited accept), then one per
    finished gold annotation."""
    with job_tokenizer(project.taxonomy.lang) as make_doc:
        return _write_prodigy(project, out, make_doc, gold_only)


def _write_prodigy(
    project: Project, out: IO[str], make_doc: Callable[[str], Doc], gold_only: bool
) -> ExportSummary:
    summary = ExportSummary("prodigy", getattr(out, "name", "-"))
    if not gold_only:
        last_text = -1
        doc: Doc | None = None
        tokens: list[dict[str, Any]] = []
        for row in project.store.iter_answers_by_text("pool"):
            if row["text_id"] != last_text:
                last_text = row["text_id"]
                doc = make_doc(row["text"])
                tokens = _tokens(doc)
                summary.texts += 1
            assert doc is not None
            # An edited accept is two records, the edited span accepted and the proposal's
            # rejected: what training reads it as, and what an import of this file stores.
            for answer, judged in span_judgements(row):
                span = _with_tokens(doc, [judged])[0]
                record = prodigy_record(
                    text=row["text"],
                    meta=json.loads(row["meta"]),
                    input_hash=row["input_hash"],
                    task_hash=task_hash(row["input_hash"], span.label, span.start, span.end),
                    spans=[span],
                    answer=answer,
                    annotator=row["annotator"],
                    tokens=tokens,
                    gold=False,
                    timestamp=_epoch(row["created"]),
                )
                out.write(dumps(record) + "\n")
                summary.records += 1
    last_text = -1
    for g in project.store.iter_gold_annotations():
        doc = make_doc(g["text"])
        spans = _with_tokens(doc, g["spans"])
        if g["text_id"] != last_text:
            last_text = g["text_id"]
            summary.texts += 1
        record = prodigy_record(
            text=g["text"],
            meta=g["meta"],
            input_hash=g["input_hash"],
            task_hash=_gold_task_hash(g["input_hash"], spans),
            spans=spans,
            answer="accept",
            annotator=g["annotator"],
            tokens=_tokens(doc),
            gold=True,
            timestamp=_epoch(g["updated"]),
        )
        out.write(dumps(record) + "\n")
        summary.records += 1
    return summary


def _doc_tokens(doc: Doc) -> list[tuple[str, int, int]]:
    return [(t.text, t.idx, t.idx + len(t.text)) for t in doc]


def write_conll(project: Project, out: IO[str], *, gold_only: bool = False) -> ExportSummary:
    """BIO blocks: pool texts with at least one accepted span (tokens no accepted span covers
    are O), then finished gold texts (latest annotation), marked `# split = gold`."""
    with job_tokenizer(project.taxonomy.lang) as make_doc:
        return _write_conll(project, out, make_doc, gold_only)


def _write_conll(
    project: Project, out: IO[str], make_doc: Callable[[str], Doc], gold_only: bool
) -> ExportSummary:
    summary = ExportSummary("conll", getattr(out, "name", "-"))
    if not gold_only:
        for t in answered_texts(project.store):
            if not t.accepted:
                continue
            kept, dropped = non_overlapping(t.accepted)
            summary.dropped_overlaps += len(dropped)
            doc = make_doc(t.text)
            conll.write_text(
                out, text=t.text, tokens=_doc_tokens(doc), spans=kept, meta=t.meta, gold=False
            )
            summary.texts += 1
            summary.records += 1
    for text_id, text, spans in project.store.gold_examples():
        kept, dropped = non_overlapping(spans)
        summary.dropped_overlaps += len(dropped)
        doc = make_doc(text)
        meta = project.store.get_text(text_id).meta
        conll.write_text(out, text=text, tokens=_doc_tokens(doc), spans=kept, meta=meta, gold=True)
        summary.texts += 1
        summary.records += 1
    return summary


def _doc(
    make_doc: Callable[[str], Doc],
    text: str,
    ents: list[Span],
    summary: ExportSummary,
    *,
    complete: bool,
) -> Doc:
    doc = make_doc(text)
    kept, dropped = non_overlapping(ents)
    summary.dropped_overlaps += len(dropped)
    spans = []
    for s in kept:
        span = doc.char_span(s.start, s.end, label=s.label)
        if span is None:
            summary.misaligned += 1
            continue
        spans.append(span)
    # Gold is complete (uncovered tokens are O); answers are not (uncovered tokens are missing).
    doc.set_ents(spans, default="outside" if complete else "missing")
    return doc


@contextmanager
def msgpack_registries_cached() -> Iterator[None]:
    """Make DocBin.add fast. Every doc's span groups are serialised by a new srsly Packer, whose
    constructor asks the encoder registry for all its functions; that rescans the installed
    packages' entry points and the whole catalogue registry (most of an export's time, as
    bench/import_export.py shows). Inside this block the two srsly registries answer from a
    copy taken once.
    """
    from srsly import msgpack

    registries = [msgpack.msgpack_encoders, msgpack.msgpack_decoders]
    for registry in registries:
        functions = registry.get_all()
        registry.get_all = lambda functions=functions: dict(functions)
    try:
        yield
    finally:
        for registry in registries:
            vars(registry).pop("get_all", None)


def write_spacy(project: Project, out_dir: Path, *, gold_only: bool = False) -> ExportSummary:
    """train.spacy and dev.spacy from answers (accepted spans as entities, rejected ones in
    doc.spans["incorrect_spans"], other tokens missing; dev is ~20% by text hash), and
    test.spacy from finished gold (complete annotations)."""
    with msgpack_registries_cached(), job_tokenizer(project.taxonomy.lang) as make_doc:
        return _write_spacy(project, out_dir, make_doc, gold_only)


def _write_spacy(
    project: Project, out_dir: Path, make_doc: Callable[[str], Doc], gold_only: bool
) -> ExportSummary:
    from spacy.tokens import DocBin

    summary = ExportSummary("spacy", str(out_dir))
    bins: dict[str, DocBin] = {}
    if not gold_only:
        bins["train.spacy"], bins["dev.spacy"] = (
            DocBin(attrs=DOCBIN_ATTRS),
            DocBin(attrs=DOCBIN_ATTRS),
        )
        for t in answered_texts(project.store):
            if not (t.accepted or t.rejected):
                continue
            doc = _doc(make_doc, t.text, t.accepted, summary, complete=False)
            incorrect = []
            for s in t.rejected:
                span = doc.char_span(s.start, s.end, label=s.label)
                if span is None:
                    summary.misaligned += 1
                    continue
                incorrect.append(span)
            doc.spans[INCORRECT_SPANS_KEY] = incorrect
            bins["dev.spacy" if is_dev(t.input_hash) else "train.spacy"].add(doc)
            summary.texts += 1
    bins["test.spacy"] = DocBin(attrs=DOCBIN_ATTRS)
    for _, text, spans in project.store.gold_examples():
        bins["test.spacy"].add(_doc(make_doc, text, spans, summary, complete=True))
        summary.texts += 1
    for name, docbin in bins.items():
        refuse_project_files(out_dir / name, project.path)
        with output_file(out_dir / name, "wb") as fh:
            fh.write(docbin.to_bytes())
        summary.files[name] = len(docbin)
    summary.records = sum(summary.files.values())
    return summary


def export(
    project: Project,
    out: Path,
    fmt: ExportFormat,
    *,
    gold_only: bool = False,
    stdout: IO[str] | None = None,
) -> ExportSummary:
    """Export the project to `out` (a file; a folder for spacy). With `stdout` given, the
    prodigy and conll formats are written there instead of to `out`. Targets are written as
    core/outfile.py says: never onto the project's own files, links and permissions kept;
    OutputError names `out` when it cannot be written."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(EXPORT_FORMATS)})")
    if fmt == "spacy":
        refuse_project_files(out, project.path)
        return write_spacy(project, out, gold_only=gold_only)
    writer = write_prodigy if fmt == "prodigy" else write_conll
    if stdout is not None:
        summary = writer(project, stdout, gold_only=gold_only)
        summary.out = "-"
        return summary
    refuse_project_files(out, project.path)
    with output_file(out) as fh:
        summary = writer(project, fh, gold_only=gold_only)
    summary.out = str(out)
    return summary
