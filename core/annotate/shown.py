"""What one annotator's session hands around: the question on screen, one key press's
answers (for undo), and the project's tokenizer as a function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nerloop.core.annotate.tasks import Question, Task
from nerloop.core.records import AnswerKind

Tokenize = Callable[[str], Sequence[tuple[int, int]]]
"""Char (start, end) of each token of a text: the project's tokenizer."""

OnLost = Callable[[Task, str], None]
"""Told of a held task that another annotator has now (the task, who has it)."""


def spacy_tokenizer(nlp: object) -> Tokenize:
    """A `Tokenize` from a spaCy pipeline's tokenizer."""

    def tokenize(text: str) -> list[tuple[int, int]]:
        doc = nlp.tokenizer(text)  # type: ignore[attr-defined]
        return [(t.idx, t.idx + len(t)) for t in doc]

    return tokenize


@dataclass(frozen=True, slots=True)
class Shown:
    """What the Annotate tab shows for the current question."""

    task: Task
    question: Question
    index: int
    start: int
    end: int
    token_start: int
    token_end: int
    edited: bool


@dataclass(frozen=True, slots=True)
class Given:
    """One key press's answers, as undo takes them back: from question `index` of `task` on
    (one question for y/n/space; `accept_text` adds the text's other tasks, `later`)."""

    task: Task
    index: int
    answer: AnswerKind
    answer_ids: tuple[int, ...]
    later: tuple[Task, ...] = ()
    questions: int = 1
    mark: int | None = None  # the text_marks row of a mark_missing / flag_missing
