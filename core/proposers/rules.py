"""Proposals from the taxonomy's rule labels (terms and token patterns), source `rule`."""

from __future__ import annotations

from collections.abc import Sequence

from nerloop.core.records import NewProposal, Source, StoredText
from nerloop.core.rules import RULES_SPANS_KEY, rules_pipeline
from nerloop.core.taxonomy import Taxonomy

RULE_SCORE = 1.0
"""Rules are not probabilistic: a match is certain as far as the rule goes. The score is 1.0 so
the queue can put rule proposals (cheap to confirm) in a predictable place."""


class RuleProposer:
    """Proposes the spans a rule label's terms or patterns match, the longest where matches
    overlap (the ruler's spans filter, core/rules.py)."""

    source: Source = "rule"
    commits = False

    def __init__(self, taxonomy: Taxonomy) -> None:
        self._labels = [label.name for label in taxonomy.rule_labels]
        self._nlp = rules_pipeline(taxonomy)
        self._detail = f"rules:{taxonomy.content_hash()}"

    def labels(self) -> Sequence[str]:
        return list(self._labels)

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        """Proposals for `label` in each of `texts`, in text order then position."""
        return [p for p in self.propose_all(texts) if p.label == label]

    def propose_all(self, texts: Sequence[StoredText]) -> list[NewProposal]:
        """Proposals for every rule label in each of `texts` (one pass over the texts)."""
        if self._nlp is None or not texts:
            return []
        out: list[NewProposal] = []
        for stored, doc in zip(texts, self._nlp.pipe(t.text for t in texts), strict=True):
            spans = sorted(doc.spans.get(RULES_SPANS_KEY, []), key=lambda s: (s.start, s.end))
            seen: set[tuple[int, int, str]] = set()
            for span in spans:
                key = (span.start_char, span.end_char, span.label_)
                if key in seen:  # the same span from a term and a pattern is one question
                    continue
                seen.add(key)
                out.append(
                    NewProposal(
                        text_id=stored.id,
                        label=span.label_,
                        start=span.start_char,
                        end=span.end_char,
                        token_start=span.start,
                        token_end=span.end - 1,
                        source=self.source,
                        source_detail=self._detail,
                        score=RULE_SCORE,
                    )
                )
        return out
