"""Silver data: the LLM's work on pool texts nobody has reviewed yet, as training examples.

The LLM labels every pool text it is asked about, and only the reviewed ones would train
otherwise. A *silver* text is a pool text the LLM ran over (a proposer_coverage row of source
llm, or one of its proposals) that has no live answer and no live mark; gold texts are never
silver (they are not pool texts). On it:
- the LLM's proposals of ner labels are the entities (overlaps resolved as for answers, by
  core.answer_spans.non_overlapping);
- the other tokens are O when the LLM ran over the text for every ner label, and the policy is
  `complete` (the same rule as a text the annotator reviewed: silver never says more than a
  review would). spaCy's ner takes one missing-or-O value a token, not one a label, so a text
  the LLM ran over for some labels only cannot say "O for PRICE, unknown for LOCATION": its
  other tokens stay missing, and it teaches only its entities.
A text with answers is not silver at all, so reviewed answers always win where both exist.
Silver texts go into the train set only, never dev (dev picks the best model and must be what
people said), and never the test set (gold).

Whether silver helps depends on how good the LLM is; the `silver` setting's `auto` trains with
and without it and keeps the better on gold (core/training/worker.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

from nerloop.core.answer_spans import non_overlapping
from nerloop.core.records import Span
from nerloop.core.taxonomy import Taxonomy
from nerloop.core.training.data import TextAnnotation, TrainingData

if TYPE_CHECKING:
    from nerloop.core.store import Store


def silver_annotations(store: Store, taxonomy: Taxonomy) -> list[TextAnnotation]:
    """One TextAnnotation per silver text that teaches something, in text id order."""
    ner = {label.name for label in taxonomy.ner_labels}
    texts, proposals, covered = store.silver_data()
    spans: dict[int, list[Span]] = defaultdict(list)
    for p in proposals:
        if p["label"] in ner:
            spans[p["text_id"]].append(Span(p["start"], p["end"], p["label"]))
    ran: dict[int, set[str]] = defaultdict(set)
    for text_id, label in covered:
        if label in ner:
            ran[text_id].add(label)
    out: list[TextAnnotation] = []
    for row in texts:
        text_id = row["text_id"]
        ann = TextAnnotation(text_id, row["input_hash"], row["text"], silver=True)
        ann.entities = non_overlapping(spans[text_id])[0]
        ann.reviewed = ran[text_id] | {s.label for s in spans[text_id]}
        ann.complete = bool(ner) and ann.reviewed >= ner
        if ann.informative:
            out.append(ann)
    return out


def with_silver(data: TrainingData, store: Store, taxonomy: Taxonomy) -> TrainingData:
    """`data` with the silver texts added to its train set (after the reviewed texts)."""
    silver = silver_annotations(store, taxonomy)
    return replace(data, train=[*data.train, *silver], silver_texts=len(silver))
