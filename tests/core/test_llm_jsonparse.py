"""Reading JSON out of LLM answers: plain, fenced, with prose, trailing commas, truncated."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
from collections.abc import Iterator
from json import JSONDecodeError
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerloop.core.llm import JSONAnswerError, jsonparse, parse_json_answer
from nerloop.core.llm.jsonparse import read_json_answer

SPANS = {"spans": [{"text": "250 usd/t", "context": "bid 250 usd/t fob"}]}
DOC = json.dumps(SPANS)


def test_plain_json_is_not_repaired() -> None:
    parsed = parse_json_answer(DOC)
    assert parsed.value == SPANS and parsed.repaired is False


@pytest.mark.parametrize(
    "content",
    [
        f"```json\n{DOC}\n```",
        f"```\n{DOC}\n```",
        f"Sure! Here are the spans:\n```json\n{DOC}\n```\nLet me know if you need more.",
        f"The answer is {DOC} as requested.",
        DOC[:-2] + ",]}",
        DOC.replace('"}]', '",}]'),
    ],
)
def test_wrapped_answers(content: str) -> None:
    parsed = parse_json_answer(content)
    assert parsed.value == SPANS and parsed.repaired is True


def test_truncated_answer_keeps_complete_items() -> None:
    two = json.dumps({"spans": [{"text": "a", "context": "x a"}, {"text": "b", "context": "y b"}]})
    cut = two[: two.index('"b"') + 2]
    parsed = parse_json_answer(cut)
    assert parsed.value == {"spans": [{"text": "a", "context": "x a"}]} and parsed.repaired


def test_bare_list() -> None:
    assert parse_json_answer('[{"text": "a"}]').value == [{"text": "a"}]


@pytest.mark.parametrize(
    "content", ["", "no json here", "PRICE: 250 usd/t", '{"spans": [{"tex', "```json\n```"]
)
def test_unreadable_answers_raise(content: str) -> None:
    with pytest.raises(JSONAnswerError, match="no JSON in the answer"):
        parse_json_answer(content)


@given(st.text(max_size=200))
def test_never_crashes_on_arbitrary_text(content: str) -> None:
    with contextlib.suppress(JSONAnswerError):
        parse_json_answer(content)


class WorkCounter:
    """Counts the characters handed to each linear pass of the reader (the JSON decoder, the
    trailing-comma rewrite, the fence search, the truncation repair): a measure of its work
    that, unlike a clock, does not depend on the machine or its load."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.chars = 0
        counter = self

        class Decoder(json.JSONDecoder):
            def raw_decode(self, s: str, idx: int = 0) -> tuple[Any, int]:
                counter.chars += len(s)
                return super().raw_decode(s, idx)

        def loads(s: str) -> Any:
            counter.chars += len(s)
            return json.loads(s)

        class Pattern:
            def __init__(self, pattern: re.Pattern[str]) -> None:
                self.pattern = pattern

            def sub(self, repl: str, s: str) -> str:
                counter.chars += len(s)
                return self.pattern.sub(repl, s)

            def finditer(self, s: str) -> Iterator[re.Match[str]]:
                counter.chars += len(s)
                return self.pattern.finditer(s)

        repair = jsonparse._repair_truncated

        def counted_repair(text: str) -> Any:
            counter.chars += len(text)
            return repair(text)

        shim = SimpleNamespace(loads=loads, JSONDecoder=Decoder, JSONDecodeError=JSONDecodeError)
        monkeypatch.setattr(jsonparse, "json", shim)
        for name in ("_FENCE", "_TRAILING_COMMA"):
            monkeypatch.setattr(jsonparse, name, Pattern(getattr(jsonparse, name)))
        monkeypatch.setattr(jsonparse, "_repair_truncated", counted_repair)

    def read(self, content: str) -> int:
        self.chars = 0
        with contextlib.suppress(JSONAnswerError):
            parse_json_answer(content)
        return self.chars


HOSTILE_SHAPES = {
    "prose-brackets": "x [",
    "open-arrays": "[",
    "open-objects": '{"a": ',
    "mixed": "{[",
    "fences": "```json\n[",
    "items-cut": '[{"text": "a", "context": "b"},',
    "long-items": '{"spans": [' + "1, " * 40,
}


@pytest.mark.timeout(120)  # a hang guard only: the assertions count work, they time nothing
@pytest.mark.parametrize("unit", HOSTILE_SHAPES.values(), ids=HOSTILE_SHAPES.keys())
def test_reading_an_answer_is_linear_in_its_length(
    monkeypatch: pytest.MonkeyPatch, unit: str
) -> None:
    work = WorkCounter(monkeypatch)
    small = (unit * (2048 // len(unit) + 1))[:2048]
    large = (unit * (8 * 2048 // len(unit) + 1))[: 8 * 2048]
    small_work, large_work = work.read(small), work.read(large)
    # A constant number of passes over the text: 8 times the text, at most ~8 times the work
    # (the quadratic reader did 60x and more), and a small multiple of the length at any size.
    assert large_work <= 8 * small_work * 1.25 + 4096, (small_work, large_work)
    assert large_work <= 256 * len(large), large_work


def test_an_answer_over_the_cap_is_refused_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    work = WorkCounter(monkeypatch)
    garbage = "[{" * (1 << 19)  # 1 MiB
    with pytest.raises(JSONAnswerError, match="over the"):
        parse_json_answer(garbage)
    assert work.read(garbage) == 0


def test_a_long_answer_is_read_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    parse = jsonparse.parse_json_answer

    def recorded(content: str) -> jsonparse.ParsedJSON:
        threads.append(threading.current_thread().name)
        return parse(content)

    monkeypatch.setattr(jsonparse, "parse_json_answer", recorded)
    long = json.dumps({"spans": [{"text": "a", "context": "b"}] * 2000})
    assert len(long) > jsonparse.OFF_LOOP_CHARS

    async def read_both() -> tuple[str, list[Any]]:
        loop_thread = threading.current_thread().name
        short_value = (await read_json_answer(DOC)).value
        long_value = (await read_json_answer(long)).value
        return loop_thread, [short_value, long_value]

    loop_thread, values = asyncio.run(read_both())
    assert values == [SPANS, json.loads(long)]
    # The short one on the loop (no thread hop for the usual answer), the long one beside it.
    assert threads[0] == loop_thread and threads[1] != loop_thread
