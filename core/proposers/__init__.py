"""Sources of proposals. Each proposer turns (text, label) into spans worth asking about.

Every source (LLM, rules, model) plugs into the queue the same way: it is called with stored
texts and a label and returns `NewProposal`s, which the queue stores and asks in its own order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from nerloop.core.records import NewProposal, Source, StoredText


class Proposer(Protocol):
    source: Source
    """Which source the proposals carry (llm, rule, model)."""

    def labels(self) -> Sequence[str]:
        """The labels this proposer can propose for."""
        ...

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        """Proposals for `label` in each of `texts` (an empty list when there are none)."""
        ...
