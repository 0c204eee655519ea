"""Talking to an LLM: the async chat-completions client, JSON reading, and cache keys."""

from __future__ import annotations

from nerloop.core.llm.cache import cache_key
from nerloop.core.llm.client import ChatResult, LLMClient, LLMError, LLMUnreachableError
from nerloop.core.llm.jsonparse import JSONAnswerError, ParsedJSON, parse_json_answer

__all__ = [
    "ChatResult",
    "JSONAnswerError",
    "LLMClient",
    "LLMError",
    "LLMUnreachableError",
    "ParsedJSON",
    "cache_key",
    "parse_json_answer",
]
