"""JSONL: one JSON object a line, `{"text": ..., "meta": {...}, "spans": [{start, end, label}]}`.

Other top-level keys are kept in `meta` (as CSV keeps its other columns), except `tokens` and keys
that start with `_`. Blank lines are skipped. Span offsets are characters of `text`; token indices
given in a span are checked for type only, since nerloop recomputes them with the project's
tokenizer. Prodigy records (with `answer`) are read by formats.prodigy, which shares this parser.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

from nerloop.core.formats.base import (
    FormatError,
    ImportedRecord,
    LineError,
    Lines,
    Parsed,
    check_storable,
    check_text,
    type_name,
)
from nerloop.core.records import ANSWER_KINDS, Span

PLAIN_KEYS = {"text", "meta", "spans", "tokens"}


def parse_json_line(raw: str, line: int) -> dict[str, Any] | LineError | None:
    """The object on one line; None for a blank line."""
    if not raw.strip():
        return None
    try:
        obj = json.loads(
            raw, parse_constant=_no_constant, parse_float=_finite, object_pairs_hook=_unique_keys
        )
    except RecursionError:
        return LineError(line, None, "invalid JSON: nested too deeply to read")
    except _DuplicateKey as exc:
        return LineError(
            line, exc.key, "given twice in one object; which one is meant is not clear, keep one"
        )
    except _NotJSON as exc:
        return LineError(line, None, f"invalid JSON: {exc} is not a JSON value (use null)")
    except json.JSONDecodeError as exc:
        if line == 1 and raw.strip() in ("[", "{"):
            raise FormatError(
                f"{raw.strip()!r} alone on the first line: this looks like one JSON document "
                "spread over many lines; nerloop reads JSONL (one object per line). Convert it "
                "with `jq -c '.[]' FILE > FILE.jsonl`.",
                line,
            ) from None
        return LineError(line, None, f"invalid JSON: {exc.msg} (column {exc.colno})")
    except ValueError:
        # Python refuses to read integers of more than 4,300 digits (int_max_str_digits).
        return LineError(line, None, "invalid JSON: a number too long to read (over 4,300 digits)")
    if not isinstance(obj, dict):
        hint = " (JSONL needs one object per line)" if isinstance(obj, list) else ""
        return LineError(line, None, f"must be a JSON object, not {type_name(obj)}{hint}")
    return obj


class _NotJSON(ValueError):
    """NaN, Infinity and -Infinity: Python's json reads them, JSON has no such values."""


class _DuplicateKey(ValueError):
    """A key twice in one object: Python's json keeps the last silently, which would drop
    data the file holds (a second "text", a second "spans") without a word."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _no_constant(name: str) -> None:
    raise _NotJSON(name)


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJSON(f"{text[:20]} (too large for a number)")
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_spans(raw: object, line: int, default_label: str | None = None) -> list[Span] | LineError:
    """Spans as JSON: a list of objects with int `start` < `end` and a string `label`."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        return LineError(line, "spans", f"must be an array, not {type_name(raw)}")
    spans: list[Span] = []
    for i, item in enumerate(raw):
        where = f"spans[{i}]"
        if not isinstance(item, dict):
            return LineError(line, where, f"must be an object, not {type_name(item)}")
        for key in ("start", "end"):
            if key not in item:
                return LineError(line, f"{where}.{key}", "is missing")
            if not _is_int(item[key]):
                return LineError(
                    line, f"{where}.{key}", f"must be an integer, not {json.dumps(item[key])}"
                )
        for key in ("token_start", "token_end"):
            if key in item and not _is_int(item[key]):
                return LineError(
                    line, f"{where}.{key}", f"must be an integer, not {json.dumps(item[key])}"
                )
        label = item.get("label", default_label)
        if label is None:
            return LineError(line, f"{where}.label", "is missing")
        if not isinstance(label, str) or not label:
            return LineError(
                line, f"{where}.label", f"must be a label name, not {json.dumps(label)}"
            )
        if item["start"] >= item["end"]:
            return LineError(
                line, where, f"start {item['start']} must be less than end {item['end']}"
            )
        spans.append(Span(item["start"], item["end"], label))
    return spans


def record_from_object(obj: dict[str, Any], line: int, *, prodigy: bool) -> Parsed:
    """A record from one JSON object, or the first thing wrong with it."""
    if "text" not in obj:
        return LineError(line, "text", "is missing")
    text = obj["text"]
    bad = check_text(text, line)
    if bad:
        return bad
    meta = obj.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return LineError(line, "meta", f"must be an object, not {type_name(meta)}")
    answer = None
    annotator = None
    gold = False
    default_label = None
    if prodigy:
        answer = obj.get("answer")
        if answer is not None and answer not in ANSWER_KINDS:
            return LineError(
                line, "answer", f"must be accept, reject or ignore, not {json.dumps(answer)}"
            )
        for key in ("_annotator_id", "_session_id"):
            value = obj.get(key)
            if value is not None and not isinstance(value, str):
                return LineError(line, key, f"must be a string, not {type_name(value)}")
            if value and annotator is None:
                annotator = value
        gold = obj.get("_split") == "gold"
        if isinstance(obj.get("label"), str):
            default_label = obj["label"]
    else:
        extra = {k: v for k, v in obj.items() if k not in PLAIN_KEYS and not k.startswith("_")}
        if extra:
            meta = {**extra, **meta}
    bad_meta = check_storable(json.dumps(meta, ensure_ascii=False), line, "meta")
    if bad_meta:
        return bad_meta
    spans = parse_spans(obj.get("spans"), line, default_label)
    if isinstance(spans, LineError):
        return spans
    return ImportedRecord(
        text=text,
        meta=meta,
        spans=spans,
        answer=answer,
        annotator=annotator,
        line=line,
        gold=gold,
    )


def read_objects(lines: Lines, *, prodigy: bool) -> Iterator[Parsed]:
    for line, raw in lines:
        if isinstance(raw, LineError):
            yield raw
            continue
        obj = parse_json_line(raw, line)
        if obj is None:
            continue
        yield obj if isinstance(obj, LineError) else record_from_object(obj, line, prodigy=prodigy)


def read(lines: Lines) -> Iterator[Parsed]:
    """Records of a plain JSONL file."""
    return read_objects(lines, prodigy=False)


def looks_like_prodigy(obj: dict[str, Any]) -> bool:
    """Prodigy's db-out records carry an `_input_hash` or an `answer`."""
    return "_input_hash" in obj or "answer" in obj
