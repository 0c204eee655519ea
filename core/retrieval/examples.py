"""What retrieval returns: a few-shot example (a pool text with its accepted spans), and the
forms it takes in a prompt and in an LLM cache key."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from nerloop.core.prompts import FewShot
from nerloop.core.records import Span

COMPLETE = ""
"""The label of a complete text's example (its spans are of every ner label), and the key of
the complete texts among the retriever's candidates."""


@dataclass(frozen=True, slots=True)
class FewShotExample:
    """One retrieved example: a pool text and its accepted spans of one label, or (label
    COMPLETE) a complete text and its accepted spans of every ner label."""

    text_id: int
    text: str
    label: str
    spans: tuple[Span, ...]
    similarity: float

    @property
    def answers(self) -> list[str]:
        """The accepted substrings, in text order: what the LLM should have answered."""
        return [self.text[s.start : s.end] for s in self.spans]

    @property
    def labelled_answers(self) -> list[tuple[str, str]]:
        """(label, accepted substring) pairs, in text order."""
        return [(s.label, self.text[s.start : s.end]) for s in self.spans]

    def cache_key(self) -> str:
        """What identifies this example in an LLM cache key: the text and its answers."""
        return json.dumps([self.text, self.labelled_answers], ensure_ascii=False)


def examples_cache_key(examples: Sequence[FewShotExample]) -> str:
    """A string that changes whenever the chosen examples (or their answers) change: part of
    the LLM cache key, so a prompt with other examples is asked again, not served stale."""
    return "\x1e".join(ex.cache_key() for ex in examples)


def to_fewshot(example: FewShotExample) -> FewShot:
    """A retrieved example in the prompt builder's form: (label, exact substring) pairs."""
    return FewShot(example.text, tuple(example.labelled_answers))
