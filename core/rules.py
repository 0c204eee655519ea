"""Rule labels as a spaCy SpanRuler: terms become phrase patterns, token patterns stay as they are.

One ruler serves two jobs:
- proposing (core/proposers/rules.py): the matches are kept in `doc.spans[RULES_SPANS_KEY]`,
  overlaps resolved by spaCy's own filter (the longest match wins, then the first: "milling
  wheat" is asked, not also "wheat" inside it), and each becomes a proposal with source `rule`;
- the packaged pipeline (core/package.py): the ruler runs after the ner and also writes
  `doc.ents`; on overlap the rules win (`spacy.prioritize_new_ents_filter.v1`) unless the project
  says the model should (`Settings.rules_win = false`: `spacy.prioritize_existing_ents_filter.v1`).

Terms match case-insensitively on token boundaries: the PhraseMatcher compares the LOWER
attribute, and the phrase is tokenized by the same blank pipeline as the texts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nerloop.core.taxonomy import Taxonomy

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.pipeline import SpanRuler

RULES_SPANS_KEY = "rules"
"""The `doc.spans` key under which the ruler keeps all its matches (overlaps included)."""
RULER_NAME = "rules"
"""The name of the ruler component in nerloop pipelines."""


def rule_patterns(taxonomy: Taxonomy) -> list[dict[str, Any]]:
    """SpanRuler patterns for every rule label: one phrase pattern per term, then the token
    patterns. Each pattern's `id` names the label and where it came from (for debugging)."""
    patterns: list[dict[str, Any]] = []
    for label in taxonomy.rule_labels:
        for i, term in enumerate(label.terms):
            patterns.append({"label": label.name, "pattern": term, "id": f"{label.name}:term{i}"})
        for i, token_pattern in enumerate(label.patterns):
            patterns.append(
                {
                    "label": label.name,
                    "pattern": [dict(tok) for tok in token_pattern],
                    "id": f"{label.name}:pattern{i}",
                }
            )
    return patterns


def add_rules(
    nlp: Language,
    taxonomy: Taxonomy,
    *,
    annotate_ents: bool = False,
    rules_win: bool = True,
    name: str = RULER_NAME,
) -> SpanRuler | None:
    """Add a SpanRuler for the taxonomy's rule labels to `nlp` (last in the pipeline).

    With `annotate_ents` the matches also go into `doc.ents`, merged with what earlier components
    (the ner) found: the rules win on overlap when `rules_win`, the existing entities otherwise.
    Returns None (and adds nothing) when the taxonomy has no rule labels.
    """
    patterns = rule_patterns(taxonomy)
    if not patterns:
        return None
    ents_filter = (
        "spacy.prioritize_new_ents_filter.v1"
        if rules_win
        else "spacy.prioritize_existing_ents_filter.v1"
    )
    ruler = nlp.add_pipe(
        "span_ruler",
        name=name,
        config={
            "spans_key": RULES_SPANS_KEY,
            # Nested matches ('wheat' inside 'milling wheat') would be two questions whose
            # answers cannot both be entities: keep the longest (spacy.util.filter_spans).
            "spans_filter": {"@misc": "spacy.first_longest_spans_filter.v1"},
            "annotate_ents": annotate_ents,
            "ents_filter": {"@misc": ents_filter},
            "phrase_matcher_attr": "LOWER",
            "validate": True,
            # overwrite=False: keep the ner's entities that no rule overlaps.
            "overwrite": False,
        },
    )
    from spacy.pipeline import SpanRuler

    assert isinstance(ruler, SpanRuler)
    ruler.add_patterns(patterns)
    return ruler


def rules_pipeline(taxonomy: Taxonomy) -> Language | None:
    """A blank pipeline of the taxonomy's language holding only the ruler (for proposing and for
    scoring the rules on gold); None when there are no rule labels."""
    import spacy

    nlp = spacy.blank(taxonomy.lang)
    if add_rules(nlp, taxonomy) is None:
        return None
    return nlp
