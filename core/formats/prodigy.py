"""Prodigy JSONL (`prodigy db-out`): annotated records with an `answer`.

Reading: `answer` is accept, reject or ignore; spans have character `start`/`end`, a `label`
(or the record's top-level `label`), and inclusive `token_start`/`token_end`, which nerloop
recomputes with the project's tokenizer. The annotator is `_annotator_id`, else `_session_id`.
A record without `answer` is read like a plain JSONL record. `_split: "gold"` (written by
`nerloop export`) puts the record into the gold split.

Writing: one record per answer (`_view_id` "ner", one span) and one per finished gold annotation
(`_view_id` "ner_manual", every span, answer accept), with `tokens` so Prodigy can render them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from nerloop.core.formats.base import Lines, Parsed
from nerloop.core.formats.jsonl import read_objects
from nerloop.core.records import Span


def read(lines: Lines) -> Iterator[Parsed]:
    """Records of a Prodigy JSONL file."""
    return read_objects(lines, prodigy=True)


def prodigy_record(
    *,
    text: str,
    meta: dict[str, Any],
    input_hash: int,
    task_hash: int,
    spans: list[Span],
    answer: str,
    annotator: str,
    tokens: list[dict[str, Any]],
    gold: bool,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """One Prodigy task as `prodigy db-in` expects it. Spans must carry token indices."""
    record: dict[str, Any] = {
        "text": text,
        "meta": meta,
        "_input_hash": input_hash,
        "_task_hash": task_hash,
        "tokens": tokens,
        "spans": [s.as_dict() for s in spans],
        "answer": answer,
        "_view_id": "ner_manual" if gold else "ner",
        "_session_id": annotator,
        "_annotator_id": annotator,
    }
    if timestamp is not None:
        record["_timestamp"] = timestamp
    if gold:
        record["_split"] = "gold"
    return record


def dumps(record: dict[str, Any]) -> str:
    """One JSONL line (without the newline); non-ASCII stays readable."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))
