"""Reading JSON out of an LLM's answer, tolerantly.

Servers that honour `response_format` return clean JSON; the rest wrap it in code fences, put
prose around it, leave trailing commas, or stop mid-answer at the token limit. This module gets
what it can out of all of those, and says when it had to repair the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


class JSONAnswerError(ValueError):
    """The answer holds no JSON object or array that can be read."""


@dataclass(frozen=True, slots=True)
class ParsedJSON:
    value: Any
    repaired: bool
    """True when the text was not plain JSON (fences, prose, trailing commas, truncation)."""


def parse_json_answer(content: str) -> ParsedJSON:
    """The JSON value in `content`: plain JSON, fenced, surrounded by prose, with trailing
    commas, or truncated (the complete items before the cut are kept)."""
    text = content.strip()
    try:
        return ParsedJSON(json.loads(text), False)
    except (json.JSONDecodeError, RecursionError):
        pass
    candidates: list[str] = [m.group(1).strip() for m in _FENCE.finditer(text)]
    candidates.append(text)
    for cand in candidates:
        value = _first_json_value(cand)
        if value is not None:
            return ParsedJSON(value, True)
    snippet = text[:80].replace("\n", " ")
    raise JSONAnswerError(f"no JSON in the answer: {snippet!r}")


def _first_json_value(text: str) -> Any | None:
    """The first JSON object/array in `text`, prose around it ignored; a truncated one is
    repaired before a later, inner value is considered (that would lose the outer shape)."""
    decoder = json.JSONDecoder()
    for start, ch in enumerate(text):
        if ch not in "{[":
            continue
        for attempt in (text[start:], _TRAILING_COMMA.sub(r"\1", text[start:])):
            try:
                value, _ = decoder.raw_decode(attempt)
            except (json.JSONDecodeError, RecursionError):
                continue
            if isinstance(value, dict | list):
                return value
        repaired = _repair_truncated(text[start:])
        if repaired is not None:
            return repaired
    return None


def _repair_truncated(text: str) -> Any | None:
    """Close a JSON text that was cut off: keep everything up to the last complete array item.

    Walks the text tracking strings and brackets; at every point where an item of an array has
    just closed, remembers the stack of open brackets, then closes them. The longest such
    prefix that parses wins.
    """
    stack: list[str] = []
    in_string = False
    escaped = False
    cut_points: list[tuple[int, str]] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
            if stack and stack[-1] == "]":
                cut_points.append((i + 1, "".join(reversed(stack))))
    for end, closing in reversed(cut_points):
        try:
            return json.loads(_TRAILING_COMMA.sub(r"\1", text[:end] + closing))
        except json.JSONDecodeError:
            continue
    return None
