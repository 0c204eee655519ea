"""Training data from y/n answers: which tokens are entities, which spans are known to be wrong,
and which tokens nobody said anything about.

Per pool text that has answers (which spans are accepted and which rejected is decided by
core.answer_spans, the rules the exports follow too):
- an accepted proposal is an entity (the edited span when the annotator moved a boundary; the
  original span then also goes to the incorrect spans, since it was judged wrong);
- a rejected proposal goes to `doc.spans["incorrect_spans"]`, which the ner component reads
  through its `incorrect_spans_key` (a negative: "this span is not this label");
- an ignore decides nothing, and for each span and label the latest accept or reject counts;
- every other token is *missing* (unknown, no gradient), unless the text is *complete*: then
  it is O.

What complete means. A text is complete when
- an annotator marked it human-complete (the Annotate tab's mark-missing key: every entity the
  LLM missed is marked, as an accepted span of source human): complete for every ner label,
  whatever the LLM reviewed there, and under either policy; or
- the policy is `complete` and the text was reviewed for every ner label (below), so that
  finishing a text's questions without marking anything counts its other tokens as no entity.
A text an annotator flagged ("something is missing here", not marked) is never complete: its
uncovered tokens stay missing whatever the policy and the reviews. Only the latest live mark of
a text counts (a later mark replaces an earlier one; an undone mark counts for nothing).

"Reviewed for a label" (the definition the `complete` policy rests on): a proposer that looks at
the whole text for that label, the LLM or the model, was run over the text for the label
(a `proposer_coverage` row, or at least one of its proposals there), and every proposal it made
there has an answer. That covers "the LLM said there is none" (a coverage row with no
proposals: the annotator had nothing to contradict) and "the annotator judged everything it
proposed". Rule proposals do not count: a term list is not a reading of the text. In a complete
text, the tokens of proposals that are unanswered (from another source) or ignored stay missing:
nobody decided about them.

Overlapping accepted spans (two annotators, or two sources) keep the longest, then the earliest,
then the alphabetically first label (core.answer_spans.non_overlapping).

Only the taxonomy's ner labels train the ner; rule labels belong to the ruler.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from nerloop.core.answer_spans import answer_spans, non_overlapping, proposal_span
from nerloop.core.records import Span
from nerloop.core.taxonomy import Taxonomy

if TYPE_CHECKING:
    from spacy.language import Language
    from spacy.tokens import Doc

    from nerloop.core.store import Store

Policy = Literal["missing", "complete"]
INCORRECT_SPANS_KEY = "incorrect_spans"
"""The `doc.spans` key of rejected spans; the ner's `incorrect_spans_key` in the config."""
REVIEWING_SOURCES = ("llm", "model")
"""Sources that read the whole text for a label, so that answering all they proposed (or being
told there is nothing) counts as reviewing the text for that label."""
DEV_PERCENT = 20
"""Share of answered texts held out as the dev set (by text hash, so it is stable across runs)."""


class TrainingDataError(ValueError):
    """There is not enough (or no usable) data to train on; the message says what is missing."""


@dataclass(slots=True)
class TextAnnotation:
    """What the answers say about one text."""

    text_id: int
    input_hash: int
    text: str
    entities: list[Span] = field(default_factory=list)
    incorrect: list[Span] = field(default_factory=list)
    unknown: list[Span] = field(default_factory=list)
    """Spans of proposals nobody decided on (unanswered or ignored): missing even when complete."""
    reviewed: set[str] = field(default_factory=set)
    """The ner labels the text was reviewed for (see the module docstring)."""
    complete: bool = False
    mark: str | None = None
    """The text's latest live mark: 'complete' (human-complete), 'flagged', or None."""
    silver: bool = False
    """Unreviewed: the LLM's proposals as entities (core/training/silver.py), train set only."""
    first_answer: int = 0
    """Id of the text's first answer: the order in which texts were annotated."""

    @property
    def informative(self) -> bool:
        """Whether the text teaches the ner anything (an entity, a negative, or known Os)."""
        return bool(self.entities or self.incorrect or self.complete)


@dataclass(slots=True)
class TrainingData:
    train: list[TextAnnotation]
    dev: list[TextAnnotation]
    policy: Policy
    labels: list[str]
    accepted_total: int = 0
    silver_texts: int = 0
    """Silver texts added to `train` (core/training/silver.py)."""

    def counts(self) -> dict[str, Any]:
        """Figures stored with the run and shown in the Train tab."""
        entities: Counter[str] = Counter()
        incorrect: Counter[str] = Counter()
        for ann in self.train:
            entities.update(s.label for s in ann.entities)
            incorrect.update(s.label for s in ann.incorrect)
        return {
            "policy": self.policy,
            "labels": list(self.labels),
            "train_texts": len(self.train),
            "dev_texts": len(self.dev),
            "complete_texts": sum(a.complete for a in self.train),
            "human_complete_texts": sum(a.mark == "complete" for a in self.train),
            "flagged_texts": sum(a.mark == "flagged" for a in self.train),
            "silver_texts": self.silver_texts,
            "entities": dict(sorted(entities.items())),
            "incorrect": dict(sorted(incorrect.items())),
            "accepted_total": self.accepted_total,
        }


def collect_annotations(store: Store, taxonomy: Taxonomy) -> list[TextAnnotation]:
    """One TextAnnotation per pool text with answers or a live mark, in text id order (see the
    module docstring)."""
    ner_labels = {label.name for label in taxonomy.ner_labels}
    coverage = store.coverage_of_answered_texts()
    marks = store.pool_marks()
    by_text: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in store.training_rows():
        by_text[row["text_id"]].append(row)
    out: list[TextAnnotation] = []
    for text_id, rows in by_text.items():
        first = rows[0]
        ann = TextAnnotation(text_id, first["input_hash"], first["text"])
        ann.first_answer = min(r["answer_id"] for r in rows if r["answer_id"] is not None)
        ner_rows = [r for r in rows if r["label"] in ner_labels]
        decided = answer_spans(ner_rows)
        # Characters only: the docs are tokenized afresh, by the project's current tokenizer.
        ann.entities = non_overlapping(_chars(decided.accepted))[0]
        ann.incorrect = _chars(decided.rejected)
        # A proposal has a row per live answer (one, without an answer, when it has none).
        judged = {r["proposal_id"] for r in ner_rows if r["answer"] in ("accept", "reject")}
        undecided = {
            r["proposal_id"]: proposal_span(r) for r in ner_rows if r["proposal_id"] not in judged
        }
        ann.unknown = _chars(undecided.values())
        ann.reviewed = _reviewed_labels(text_id, rows, coverage, ner_labels)
        ann.complete = bool(ner_labels) and ann.reviewed == ner_labels
        out.append(_marked(ann, marks.get(text_id)))
    # A text marked complete with nothing to accept (the LLM found nothing, the annotator
    # agreed) has no answers: it trains as all O. A flagged one without answers says nothing.
    for text_id, mark in marks.items():
        if text_id not in by_text and mark == "complete":
            text = store.get_text(text_id)
            out.append(_marked(TextAnnotation(text_id, text.input_hash, text.text), mark))
    return sorted(out, key=lambda a: a.text_id)


def _marked(ann: TextAnnotation, mark: str | None) -> TextAnnotation:
    """The text's latest mark decides over the reviews: human-complete or flagged."""
    ann.mark = mark
    if mark is not None:
        ann.complete = mark == "complete"
    return ann


def _chars(spans: Iterable[Span]) -> list[Span]:
    return [Span(s.start, s.end, s.label) for s in spans]


def _reviewed_labels(
    text_id: int,
    rows: Sequence[dict[str, Any]],
    coverage: set[tuple[int, str, str]],
    ner_labels: set[str],
) -> set[str]:
    reviewed: set[str] = set()
    for label in ner_labels:
        for source in REVIEWING_SOURCES:
            mine = [r for r in rows if r["label"] == label and r["source"] == source]
            ran = bool(mine) or (text_id, label, source) in coverage
            if ran and all(r["answer"] is not None for r in mine):
                reviewed.add(label)
                break
    return reviewed


def dev_bucket(input_hash: int) -> int:
    """0-99, stable for a text: texts in buckets below DEV_PERCENT are the dev set."""
    digest = hashlib.blake2b(str(input_hash).encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % 100


def split_dev(
    annotations: Sequence[TextAnnotation],
) -> tuple[list[TextAnnotation], list[TextAnnotation]]:
    """(train, dev): about DEV_PERCENT% of the texts by hash, at least one text in each."""
    if len(annotations) < 2:
        raise TrainingDataError(
            f"answers on {len(annotations)} usable text(s): training needs answers on at least "
            "2 texts (one is held out to pick the best model)"
        )
    ranked = sorted(annotations, key=lambda a: (dev_bucket(a.input_hash), a.input_hash))
    n_dev = sum(dev_bucket(a.input_hash) < DEV_PERCENT for a in ranked)
    n_dev = min(max(n_dev, 1), len(ranked) - 1)
    dev = ranked[:n_dev]
    train = sorted(ranked[n_dev:], key=lambda a: a.first_answer)
    return train, sorted(dev, key=lambda a: a.text_id)


def build_training_data(
    store: Store, taxonomy: Taxonomy, policy: Policy, *, fraction: float = 1.0
) -> TrainingData:
    """The train and dev sets from the answers. `fraction` keeps only the first share of the
    training texts, in the order they were annotated (for the learning curve); dev is kept
    whole so that the points of a curve are comparable."""
    if not taxonomy.ner_labels:
        raise TrainingDataError("the taxonomy has no ner labels: there is nothing to train")
    annotations = [a for a in collect_annotations(store, taxonomy) if a.informative]
    train, dev = split_dev(annotations)
    if fraction < 1.0:
        train = train[: max(1, math.ceil(len(train) * fraction))]
    return TrainingData(
        train=train,
        dev=dev,
        policy=policy,
        labels=[label.name for label in taxonomy.ner_labels],
        accepted_total=store.count_accepted(),
    )


def annotation_doc(nlp: Language, ann: TextAnnotation, policy: Policy) -> Doc:
    """The reference Doc of one text: entities, incorrect spans, and missing or O elsewhere."""
    from spacy.util import filter_spans

    doc = nlp.make_doc(ann.text)
    # Disjoint in characters is disjoint in tokens unless "expand" snapped two spans onto one
    # token; filter_spans keeps set_ents from failing on that.
    ents = filter_spans(_token_spans(doc, ann.entities))
    taken = {i for s in ents for i in range(s.start, s.end)}
    if ann.complete and (policy == "complete" or ann.mark == "complete"):
        missing = [
            doc[i : i + 1]
            for i in sorted(
                {i for s in _token_spans(doc, ann.unknown) for i in range(s.start, s.end)}
            )
            if i not in taken
        ]
        doc.set_ents(ents, missing=missing, default="outside")
    else:
        doc.set_ents(ents, default="missing")
    doc.spans[INCORRECT_SPANS_KEY] = _token_spans(doc, ann.incorrect)
    return doc


def gold_doc(nlp: Language, text: str, spans: Iterable[Span], labels: set[str]) -> Doc:
    """A fully annotated Doc (every other token O) with the spans of `labels`."""
    doc = nlp.make_doc(text)
    from spacy.util import filter_spans

    chosen, _ = non_overlapping(s for s in spans if s.label in labels)
    doc.set_ents(filter_spans(_token_spans(doc, chosen)), default="outside")
    return doc


def _token_spans(doc: Doc, spans: Iterable[Span]) -> list[Any]:
    out = []
    for s in spans:
        # "expand": a stored span always covers whole tokens of the project's tokenizer, but a
        # changed tokenizer (another language) must not drop it silently.
        span = doc.char_span(s.start, s.end, label=s.label, alignment_mode="expand")
        if span is not None and len(span):
            out.append(span)
    return out


def write_docbin(docs: Iterable[Doc], path: Path) -> int:
    """Save Docs (with their spans groups) for spaCy's corpus reader; returns how many."""
    from spacy.tokens import DocBin

    db = DocBin(store_user_data=False)
    n = 0
    for doc in docs:
        db.add(doc)
        n += 1
    db.to_disk(path)
    return n
