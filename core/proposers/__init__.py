"""Sources of proposals. Each proposer turns (text, label) into spans worth asking about.

Every source (LLM, rules, model) plugs into the queue the same way: it is called with stored
texts and a label and returns `NewProposal`s, which the queue asks in its own order (storing
them first unless the proposer `commits` them itself).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from nerloop.core.records import NewProposal, Source, StoredText


class TextsFailed(Exception):
    """A proposer could not propose for some of the texts it was given (an LLM error after its
    retries, an answer it could not read). `proposals` are the ones for the other texts;
    `failed` maps each failed text's id to its error.

    Raised, not returned with the proposals, so that no caller can take a failure for "no
    spans here": the queue would record the text as covered for the label and never ask again,
    and training reads a covered text without proposals as "the LLM found none"
    (core/training/data.py).
    """

    def __init__(self, proposals: Sequence[NewProposal], failed: Mapping[int, str]) -> None:
        first = next(iter(failed.values()), "")
        super().__init__(f"{len(failed)} text(s) failed: {first}")
        self.proposals = list(proposals)
        self.failed = dict(failed)


class Proposer(Protocol):
    source: Source
    """Which source the proposals carry (llm, rule, model)."""

    commits: bool
    """True when `propose` has already stored what it returns (the LLM proposer commits each
    ledger row with its proposals in one transaction); the queue stores the others'."""

    def labels(self) -> Sequence[str]:
        """The labels this proposer can propose for."""
        ...

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        """Proposals for `label` in each of `texts` (an empty list when there are none).
        TextsFailed when some texts could not be looked at; any other exception when none
        could (the source is down)."""
        ...
