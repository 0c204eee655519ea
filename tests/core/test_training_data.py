"""Answers -> training docs: entities, incorrect spans, missing vs O, the dev split."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Span
from nerloop.core.tokens import token_span
from nerloop.core.training.data import (
    INCORRECT_SPANS_KEY,
    TrainingDataError,
    annotation_doc,
    build_training_data,
    collect_annotations,
    split_dev,
    write_docbin,
)

TEXT = "heard wheat bid 250 usd/t fob rouen march"
#       0     6     12  16  20    26  30    36


def propose(
    project: Project, text_id: int, start: int, end: int, label: str, source: str = "llm"
) -> int:
    doc = project.nlp.make_doc(project.store.get_text(text_id).text)
    b = token_span(doc, start, end)
    assert b is not None
    (pid,) = project.store.add_proposals([NewProposal(text_id, label, *b, source)])  # type: ignore[arg-type]
    return pid


def iob(doc: spacy.tokens.Doc) -> list[str]:
    return [
        t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") if t.ent_iob_ else "?" for t in doc
    ]


@pytest.fixture
def text_id(project: Project) -> int:
    return project.store.add_text(TEXT)[0]


def test_accept_reject_and_missing(project: Project, text_id: int) -> None:
    price = propose(project, text_id, 16, 25, "PRICE")
    wrong = propose(project, text_id, 30, 35, "PRICE")  # rouen is not a price
    project.store.add_answer(price, "accept", "ann")
    project.store.add_answer(wrong, "reject", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.entities == [Span(16, 25, "PRICE")]
    assert ann.incorrect == [Span(30, 35, "PRICE")]
    assert not ann.complete  # LOCATION was never asked about
    nlp = spacy.blank("en")
    for policy in ("missing", "complete"):  # not complete: the policy changes nothing
        doc = annotation_doc(nlp, ann, policy)
        assert iob(doc) == [
            "?",
            "?",
            "?",
            "B-PRICE",
            "I-PRICE",
            "I-PRICE",
            "I-PRICE",
            "?",
            "?",
            "?",
        ]
        assert [(s.text, s.label_) for s in doc.spans[INCORRECT_SPANS_KEY]] == [("rouen", "PRICE")]


def test_complete_when_reviewed_for_every_ner_label(project: Project, text_id: int) -> None:
    price = propose(project, text_id, 16, 25, "PRICE")
    loc = propose(project, text_id, 30, 35, "LOCATION")
    project.store.add_answer(price, "accept", "ann")
    project.store.add_answer(loc, "accept", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.reviewed == {"PRICE", "LOCATION"} and ann.complete
    nlp = spacy.blank("en")
    doc = annotation_doc(nlp, ann, "complete")
    assert iob(doc) == [
        "O",
        "O",
        "O",
        "B-PRICE",
        "I-PRICE",
        "I-PRICE",
        "I-PRICE",
        "O",
        "B-LOCATION",
        "O",
    ]
    # The missing policy leaves uncovered tokens unknown even in a reviewed text.
    assert iob(annotation_doc(nlp, ann, "missing"))[0] == "?"


def test_llm_saying_none_counts_as_reviewed(project: Project, text_id: int) -> None:
    price = propose(project, text_id, 16, 25, "PRICE")
    project.store.add_answer(price, "accept", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.reviewed == {"PRICE"}
    # The LLM ran over the text for LOCATION and found nothing: nothing to contradict.
    project.store.mark_covered("LOCATION", "llm", [text_id])
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.complete


def test_unanswered_or_ignored_proposals_stay_missing(project: Project, text_id: int) -> None:
    price = propose(project, text_id, 16, 25, "PRICE")
    loc = propose(project, text_id, 30, 35, "LOCATION")
    project.store.add_answer(price, "accept", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.reviewed == {"PRICE"}  # the LLM's LOCATION proposal is not answered yet
    project.store.add_answer(loc, "ignore", "ann")
    model = propose(project, text_id, 0, 5, "LOCATION", source="model")  # never asked
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.complete
    doc = annotation_doc(spacy.blank("en"), ann, "complete")
    tags = iob(doc)
    assert tags[0] == "?" and tags[8] == "?"  # nobody decided about "heard" or "rouen"
    assert tags[1] == "O" and tags[3] == "B-PRICE"
    assert model > 0


def test_edited_span_and_overlaps_and_undo(project: Project, text_id: int) -> None:
    short = propose(project, text_id, 16, 19, "PRICE")  # "250", moved to "250 usd/t"
    project.store.add_answer(short, "accept", "ann", span=Span(16, 25, "PRICE", 3, 6))
    inner = propose(project, text_id, 20, 25, "PRICE")  # overlaps the longer accepted span
    project.store.add_answer(inner, "accept", "bob")
    loc = propose(project, text_id, 30, 35, "LOCATION")
    first = project.store.add_answer(loc, "reject", "ann")
    project.store.undo_answer(first, "ann")  # taken back: the proposal is unanswered again
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.entities == [Span(16, 25, "PRICE")]
    assert ann.incorrect == [Span(16, 19, "PRICE")]  # the span before the edit was wrong
    assert ann.unknown == [Span(30, 35, "LOCATION")]


def test_latest_answer_wins_and_rule_labels_do_not_train(project: Project, text_id: int) -> None:
    price = propose(project, text_id, 16, 25, "PRICE")
    project.store.add_answer(price, "reject", "ann")
    project.store.add_answer(price, "accept", "bob")
    rule = propose(project, text_id, 6, 11, "COMMODITY", source="rule")
    project.store.add_answer(rule, "accept", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    assert ann.entities == [Span(16, 25, "PRICE")] and ann.incorrect == []


def test_dev_split_is_stable_and_never_empty(project: Project) -> None:
    for i in range(12):
        tid = project.store.add_text(f"wheat {100 + i} usd/t rouen")[0]
        project.store.add_answer(propose(project, tid, 6, 15, "PRICE"), "accept", "ann")
    data = build_training_data(project.store, project.taxonomy, "complete")
    again = build_training_data(project.store, project.taxonomy, "complete")
    assert [a.text_id for a in data.dev] == [a.text_id for a in again.dev]
    assert len(data.dev) >= 1 and len(data.train) >= 1
    assert not {a.text_id for a in data.dev} & {a.text_id for a in data.train}
    counts = data.counts()
    assert counts["train_texts"] + counts["dev_texts"] == 12
    assert counts["entities"]["PRICE"] == len(data.train)
    half = build_training_data(project.store, project.taxonomy, "complete", fraction=0.5)
    assert len(half.train) == (len(data.train) + 1) // 2 and half.dev == data.dev
    # Train texts come in annotation order, so a fraction is "the first answers".
    assert [a.text_id for a in half.train] == [a.text_id for a in data.train][: len(half.train)]


def test_too_few_texts_is_a_clear_error(project: Project, text_id: int) -> None:
    with pytest.raises(TrainingDataError, match="at least 2 texts"):
        build_training_data(project.store, project.taxonomy, "complete")
    project.store.add_answer(propose(project, text_id, 16, 25, "PRICE"), "accept", "ann")
    with pytest.raises(TrainingDataError, match="1 usable text"):
        split_dev(collect_annotations(project.store, project.taxonomy))


def test_gold_texts_never_train(project: Project) -> None:
    gid = project.store.add_text("wheat 100 usd/t rouen", split="gold")[0]
    project.store.add_answer(propose(project, gid, 6, 15, "PRICE"), "accept", "ann")
    assert collect_annotations(project.store, project.taxonomy) == []


def test_docbin_keeps_missing_and_incorrect_spans(
    project: Project, text_id: int, tmp_path: Path
) -> None:
    project.store.add_answer(propose(project, text_id, 16, 25, "PRICE"), "accept", "ann")
    project.store.add_answer(propose(project, text_id, 30, 35, "PRICE"), "reject", "ann")
    (ann,) = collect_annotations(project.store, project.taxonomy)
    nlp = spacy.blank("en")
    doc = annotation_doc(nlp, ann, "missing")
    write_docbin([doc], tmp_path / "x.spacy")
    (back,) = DocBin().from_disk(tmp_path / "x.spacy").get_docs(nlp.vocab)
    assert iob(back) == iob(doc)
    assert [s.text for s in back.spans[INCORRECT_SPANS_KEY]] == ["rouen"]
