"""Reading JSON out of LLM answers: plain, fenced, with prose, trailing commas, truncated."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nerloop.core.llm import JSONAnswerError, parse_json_answer

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
