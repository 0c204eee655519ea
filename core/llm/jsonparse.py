"""Reading JSON out of an LLM's answer, tolerantly.

Servers that honour `response_format` return clean JSON; the rest wrap it in code fences, put
prose around it, leave trailing commas, or stop mid-answer at the token limit. This module gets
what it can out of all of those, and says when it had to repair the text.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections import deque
from dataclasses import dataclass
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_OPENING = re.compile(r"[{\[]")


class JSONAnswerError(ValueError):
    """The answer holds no JSON object or array that can be read."""


@dataclass(frozen=True, slots=True)
class ParsedJSON:
    value: Any
    repaired: bool
    """True when the text was not plain JSON (fences, prose, trailing commas, truncation)."""


MAX_ANSWER_CHARS = 256 * 1024
"""Longest answer read: a span list for one text is a few hundred characters; anything near
this is a runaway generation, and reading it must not cost the event loop seconds."""
MAX_DEPTH = 32
"""Deepest nesting a repair follows: nerloop's answers nest three levels."""
MAX_STARTS = 8
"""Places (an opening bracket after prose) where a value is looked for, at most."""
MAX_CUTS = 4
"""Cut points of a truncated answer tried, from the longest: each try reads the text once."""
OFF_LOOP_CHARS = 8 * 1024
"""Answers longer than this are read in a worker thread: their repair may take a few passes in
Python over the text, and the event loop must keep serving the other requests in flight."""


async def read_json_answer(content: str) -> ParsedJSON:
    """`parse_json_answer` for a coroutine: a long answer is read off the event loop."""
    if len(content) > OFF_LOOP_CHARS:
        return await asyncio.to_thread(parse_json_answer, content)
    return parse_json_answer(content)


def parse_json_answer(content: str) -> ParsedJSON:
    """The JSON value in `content`: plain JSON, fenced, surrounded by prose, with trailing
    commas, or truncated (the complete items before the cut are kept).

    The work is bounded by a constant number of linear passes over at most MAX_ANSWER_CHARS
    characters, whatever the answer holds (deep nesting, thousands of brackets in prose), so a
    hostile or runaway answer cannot stall the requests in flight beside it.
    """
    if len(content) > MAX_ANSWER_CHARS:
        raise JSONAnswerError(
            f"the answer is {len(content):,} characters long, over the {MAX_ANSWER_CHARS:,} read"
        )
    text = content.strip()
    try:
        return ParsedJSON(json.loads(text), False)
    except (json.JSONDecodeError, RecursionError):
        pass
    candidates: list[str] = [m.group(1).strip() for m in _FENCE.finditer(text)][:MAX_STARTS]
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
    starts = (m.start() for m in _OPENING.finditer(text))
    for start in itertools.islice(starts, MAX_STARTS):
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

    Walks the text once tracking strings and brackets; at every point where an item of an array
    has just closed, remembers the stack of open brackets, then closes them. The longest of
    the last few such prefixes that parses wins. Nesting deeper than MAX_DEPTH is given up on.
    """
    stack: list[str] = []
    in_string = False
    escaped = False
    cut_points: deque[tuple[int, str]] = deque(maxlen=MAX_CUTS)
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
            if len(stack) > MAX_DEPTH:
                return None
        elif ch in "}]":
            if not stack:
                break
            stack.pop()
            if stack and stack[-1] == "]":
                cut_points.append((i + 1, "".join(reversed(stack))))
    for end, closing in reversed(cut_points):
        try:
            return json.loads(_TRAILING_COMMA.sub(r"\1", text[:end] + closing))
        except (json.JSONDecodeError, RecursionError):
            continue
    return None
