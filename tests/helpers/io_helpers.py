"""Helpers for the import/export tests: what a project holds, in a comparable form."""

from __future__ import annotations

import functools
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import spacy
from spacy.language import Language

from nerloop.core.answer_spans import answer_span
from nerloop.core.config import load_settings
from nerloop.core.project import DB_FILE, Project
from nerloop.core.store import Store
from nerloop.core.taxonomy import TAXONOMY_FILE, Taxonomy, parse_taxonomy

DATA = Path(__file__).resolve().parents[1] / "data" / "io"


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


def texts(store: Store) -> dict[str, tuple[str, dict[str, Any]]]:
    """text -> (split, meta) of every stored text."""
    return {t.text: (t.split, t.meta) for t in store.iter_texts()}


def answers(store: Store) -> Counter[tuple[Any, ...]]:
    """Live answers on pool texts as (text, label, start, end, token_start, token_end, answer,
    annotator), a multiset."""
    out: Counter[tuple[Any, ...]] = Counter()
    for row in store.iter_answered("pool"):
        s = answer_span(row)
        out[
            (
                row["text"],
                s.label,
                s.start,
                s.end,
                s.token_start,
                s.token_end,
                row["answer"],
                row["annotator"],
            )
        ] += 1
    return out


def gold(store: Store) -> dict[tuple[str, str], list[tuple[int, int, str]]]:
    """(text, annotator) -> sorted (start, end, label) of every finished gold annotation."""
    out = {}
    for g in store.iter_gold_annotations():
        out[(g["text"], g["annotator"])] = sorted((s.start, s.end, s.label) for s in g["spans"])
    return out


def snapshot(store: Store) -> dict[str, Any]:
    """Everything an import can change, to check that a failed one changed nothing."""
    return {
        "texts": store.query("SELECT * FROM texts ORDER BY id"),
        "proposals": store.query("SELECT * FROM proposals ORDER BY id"),
        "answers": store.query("SELECT * FROM answers ORDER BY id"),
        "gold": store.query("SELECT * FROM gold ORDER BY id"),
        "imports": store.query("SELECT * FROM imports ORDER BY id"),
    }


@functools.cache
def _taxonomy(source: str) -> Taxonomy:
    return parse_taxonomy(tomllib.loads(source))


@functools.cache
def _nlp() -> Language:
    return spacy.blank("en")


def make_project(path: Path, taxonomy_file: Path) -> Project:
    """A project like conftest's (a real SQLite file, the taxonomy of `taxonomy_file`), built
    without re-validating the taxonomy and re-creating the tokenizer each time, which costs
    about a second each."""
    source = taxonomy_file.read_text("utf-8")
    path.mkdir(parents=True)
    (path / TAXONOMY_FILE).write_text(source, "utf-8")
    taxonomy = _taxonomy(source)
    store = Store(path / DB_FILE)
    store.sync_taxonomy(taxonomy, str(path / TAXONOMY_FILE))
    project = Project(path, store, taxonomy, load_settings(path))
    project.__dict__["nlp"] = _nlp()  # the cached_property's slot
    return project
