"""The response cache key: what makes two LLM requests the same question."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from nerloop.core.prompts import Prompt


def cache_key(model: str, prompt: Prompt, text_hash: int) -> str:
    """Hash of the model, prompt version, text, label (or batch labels), the label definitions
    shown to the model, and the few-shot examples.

    The label definitions are in the key because editing a label's description changes the
    question; sampling settings are not, since the cache is meant for temperature 0.
    """
    parts: list[Any] = [
        model,
        prompt.version,
        str(text_hash),
        prompt.target,
        prompt.label_spec,
        [ex.key() for ex in prompt.examples],
    ]
    blob = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
