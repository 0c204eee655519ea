"""Blind A/B of the LLM and the model, one text and label at a time (UI-free).

For a text the LLM was run on, the LLM's spans of a label (its stored proposals) are set beside
the model's (predicted on demand by the model in use, or else its stored proposals scored at
least `MODEL_OUTPUT_SCORE`). When the two span sets are the same the text is skipped, as
Prodigy's `ner.eval-ab` does: there is nothing to choose. Otherwise they are shown as A and B in
an order drawn from a hash of (text, label): random with respect to the source, so the annotator
cannot learn which side is which, yet the same every time the pair is shown (a reopened app or a
second annotator sees the same sides). The annotator says A is better, B is better, or they are
the same; the choice is stored mapped back to its source ('llm', 'model', 'same').

The tally per label (LLM better / model better / same) is evidence next to the gold F scores in
`core.abtest`; it is not part of the stop rule, since the texts compared are the ones where the
sources disagree, not a sample of all texts.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from nerloop.core.records import Span, StoredText
from nerloop.core.store import Store

if TYPE_CHECKING:
    from nerloop.core.proposers.model import ModelProposer

SourceName = Literal["llm", "model"]
Pick = Literal["a", "b", "same"]

Predict = Callable[[Sequence[StoredText], str], Mapping[int, Sequence[Span]]]
"""(texts, label) -> text id -> the model's spans of that label."""

SCAN_BATCH = 32


@dataclass(frozen=True, slots=True)
class Comparison:
    """One blind question: the LLM's and the model's spans of `label` in `text`."""

    text: StoredText
    label: str
    llm: tuple[Span, ...]
    model: tuple[Span, ...]
    a_source: SourceName
    model_detail: str = ""

    @property
    def b_source(self) -> SourceName:
        return "model" if self.a_source == "llm" else "llm"

    @property
    def a(self) -> tuple[Span, ...]:
        return self.llm if self.a_source == "llm" else self.model

    @property
    def b(self) -> tuple[Span, ...]:
        return self.model if self.a_source == "llm" else self.llm

    def choice(self, pick: Pick) -> str:
        """The stored choice for a pick: the source of the side picked, or 'same'."""
        if pick == "a":
            return self.a_source
        if pick == "b":
            return self.b_source
        if pick == "same":
            return "same"
        raise ValueError(f"unknown pick {pick!r}: expected a, b or same")


def a_source_for(text_id: int, label: str) -> SourceName:
    """Which source is shown as A: a fair coin per (text, label) that never changes.

    A hash, not Python's `hash` (salted per process) nor a shared RNG (whose draws would depend
    on the order texts are shown in)."""
    digest = hashlib.sha256(f"{text_id}\0{label}".encode()).digest()
    return "llm" if digest[0] & 1 else "model"


def same_output(a: Sequence[Span], b: Sequence[Span]) -> bool:
    """Whether two outputs are the same span set (character offsets; order does not count)."""
    return {(s.start, s.end) for s in a} == {(s.start, s.end) for s in b}


def model_predictor(proposer: ModelProposer) -> Predict:
    """The model's own output (its decoded entities), not the beam's candidate spans."""
    nlp = proposer.nlp
    names = nlp.pipe_names
    # Components after the ner (an entity ruler, say) are not the model's output.
    after = names[names.index("ner") + 1 :] if "ner" in names else []

    def predict(texts: Sequence[StoredText], label: str) -> dict[int, list[Span]]:
        out: dict[int, list[Span]] = {}
        docs = nlp.pipe([t.text for t in texts], disable=after)
        for stored, doc in zip(texts, docs, strict=True):
            out[stored.id] = [
                Span(e.start_char, e.end_char, label, e.start, e.end - 1)
                for e in doc.ents
                if e.label_ == label
            ]
        return out

    return predict


class BlindAB:
    """Finds the next comparison for a label and records the annotator's choice.

    `predict` is the model in use (see `model_predictor`); without it the model's stored
    proposals are its output, and only texts the model was run on are compared. Texts are
    scanned in id order; a cursor per label keeps identical pairs from being looked at twice.
    """

    def __init__(
        self,
        store: Store,
        annotator: str,
        *,
        predict: Predict | None = None,
        model_detail: str = "",
        session: str = "",
    ) -> None:
        self.store = store
        self.annotator = annotator
        self.predict = predict
        self.model_detail = model_detail
        self.session = session
        self._after: dict[str, int] = {}
        self.skipped_identical: dict[str, int] = {}

    def next(self, label: str) -> Comparison | None:
        """The next text where the two sources differ on `label`, or None when none is left."""
        while True:
            after = self._after.get(label, 0)
            ids = self.store.ab_candidate_texts(
                label,
                self.annotator,
                after_id=after,
                n=SCAN_BATCH,
                need_model=self.predict is None,
            )
            if not ids:
                return None
            llm = self.store.source_spans(label, "llm", ids)
            texts = [self.store.get_text(i) for i in ids]
            if self.predict is not None:
                model = {i: list(s) for i, s in self.predict(texts, label).items()}
            else:
                model = self.store.source_spans(label, "model", ids)
            for stored in texts:
                self._after[label] = stored.id
                mine, theirs = llm.get(stored.id, []), model.get(stored.id, [])
                if same_output(mine, theirs):
                    self.skipped_identical[label] = self.skipped_identical.get(label, 0) + 1
                    continue
                return Comparison(
                    stored,
                    label,
                    tuple(sorted(mine, key=lambda s: (s.start, s.end))),
                    tuple(sorted(theirs, key=lambda s: (s.start, s.end))),
                    a_source_for(stored.id, label),
                    self.model_detail,
                )

    def record(self, comparison: Comparison, pick: Pick) -> int:
        """Store the choice for `comparison` at once (its own commit); returns its id."""
        c = comparison
        return self.store.add_ab_answer(
            text_id=c.text.id,
            label=c.label,
            annotator=self.annotator,
            choice=c.choice(pick),
            a_source=c.a_source,
            llm_spans=c.llm,
            model_spans=c.model,
            model_detail=c.model_detail,
            session=self.session,
        )

    def undo(self, answer_id: int) -> None:
        """Take back a choice (appends an undo row; the text can be compared again)."""
        self.store.undo_ab_answer(answer_id, self.session)

    def restart(self, label: str | None = None) -> None:
        """Scan from the first text again (after an undo, or when new proposals came in)."""
        if label is None:
            self._after.clear()
        else:
            self._after.pop(label, None)


def empty_reason(store: Store, labels: Sequence[str], *, has_model: bool) -> str:
    """Why there is nothing to compare for `labels`, in words that say what is needed."""
    name = labels[0] if len(labels) == 1 else "any label"
    llm = store.source_proposed("llm", labels)
    if not has_model:
        return (
            "No trained model yet. The blind A/B needs a trained (promoted) model and LLM "
            "proposals on the same texts: train one in the Train tab."
        )
    if not llm:
        return (
            f"No LLM proposals for {name} yet. The blind A/B needs a trained model and LLM "
            "proposals on the same texts: annotate with the LLM on, or run `nerloop propose`."
        )
    return (
        f"Nothing left to compare for {name}: on every text the LLM was run on, the two "
        "outputs are the same or you have already chosen."
    )


def ab_tally(store: Store) -> dict[str, tuple[int, int, int]]:
    """label -> (LLM better, model better, same) over every annotator's live choices."""
    return {
        label: (counts["llm"], counts["model"], counts["same"])
        for label, counts in store.ab_tally().items()
    }


def tally_text(counts: tuple[int, int, int]) -> str:
    """One line of evidence, e.g. "blind A/B: LLM better 3, model better 5, same 2"."""
    llm, model, same = counts
    return f"blind A/B: LLM better {llm}, model better {model}, same {same}"


def spans_of(row_value: object) -> list[Span]:
    """The spans stored with a choice (the JSON in llm_spans / model_spans)."""
    return [
        Span(d["start"], d["end"], d["label"], d.get("token_start"), d.get("token_end"))
        for d in json.loads(str(row_value))
    ]
