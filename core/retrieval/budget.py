"""Prompt tokens, estimated: what decides how many retrieved examples fit in
`fewshot_max_tokens`.

The budget is a cap on cost, so an estimate that errs by 20% is good enough and needs no
tokenizer download. Examples can be costed plainly (`example_tokens`) or as the prompt builder
renders them in a per-label or a batch prompt, which is what the LLM proposer budgets with.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence

from nerloop.core.prompts import batch_prompt, per_label_prompt
from nerloop.core.retrieval.examples import FewShotExample, to_fewshot
from nerloop.core.taxonomy import Label

# Rough tokens of a string for a BPE tokenizer on English: about 4 characters a token (OpenAI's
# rule of thumb; English texts measure a little over 4 with cl100k-like tokenizers).
CHARS_PER_TOKEN = 4
# Tokens of the framing around one example when rendered ("Text: ...", "Answer: ...", quotes,
# new lines): measured on render_example's output, rounded up.
EXAMPLE_OVERHEAD_TOKENS = 8
# Chat APIs add a few tokens per message for the role and separators (OpenAI documents 3-4).
MESSAGE_OVERHEAD_TOKENS = 4


def approx_tokens(text: str) -> int:
    """Tokens of `text` by the 4-characters-a-token rule (at least 1 for a non-empty string)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def render_example(example: FewShotExample) -> str:
    """A plain rendering of an example, used to estimate its tokens when the prompt builder
    renders it differently."""
    return f"Text: {example.text}\nAnswer: {json.dumps(example.answers, ensure_ascii=False)}"


def example_tokens(example: FewShotExample) -> int:
    """Estimated prompt tokens of one example (text, answers and framing)."""
    answers = json.dumps(example.answers, ensure_ascii=False)
    return approx_tokens(example.text) + approx_tokens(answers) + EXAMPLE_OVERHEAD_TOKENS


def prompt_tokens(messages: Sequence[dict[str, str]]) -> int:
    """Estimated prompt tokens of chat messages (4 characters a token, plus framing)."""
    return sum(approx_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def per_label_example_tokens(label: Label) -> Callable[[FewShotExample], int]:
    """The prompt tokens one example adds to a per-label prompt, as the prompt builder renders
    it (its user turn and its assistant answer)."""

    def cost(example: FewShotExample) -> int:
        with_one = per_label_prompt("", label, [to_fewshot(example)])
        # messages: system, the example's user and assistant turns, the question.
        return prompt_tokens(with_one.messages[1:3])

    return cost


def batch_example_tokens(labels: Sequence[Label]) -> Callable[[FewShotExample], int]:
    """The prompt tokens one example adds to a batch prompt of `labels`, as rendered (its user
    turn lists every label with its description, so it costs more than a per-label one)."""

    def cost(example: FewShotExample) -> int:
        return prompt_tokens(batch_prompt("", labels, [to_fewshot(example)]).messages[1:3])

    return cost
