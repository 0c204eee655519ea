"""Marks in the training data: a flagged text's uncovered tokens are missing whatever the
policy and the reviews; a human-complete text is O outside its entities whatever the LLM
reviewed; the latest live mark of a text wins and an undone one counts for nothing."""

from __future__ import annotations

import pytest
import spacy

from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Span
from nerloop.core.tokens import token_span
from nerloop.core.training.data import (
    annotation_doc,
    build_training_data,
    collect_annotations,
)
from tests.helpers.queue_helpers import make_queue, make_session

TEXT = "heard wheat bid 250 usd/t fob rouen march"
#       0     6     12  16  20    26  30    36
OTHER = "corn offered 4.10 usd/bu cif rotterdam"
PRICE_IOB = ["B-PRICE", "I-PRICE", "I-PRICE", "I-PRICE"]


def iob(doc: spacy.tokens.Doc) -> list[str]:
    """Each token's tag; "?" for a missing one (ent_iob_ == "")."""
    return [t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") or "?" for t in doc]


def accepted_price(project: Project, text: str = TEXT, start: int = 16, end: int = 25) -> int:
    """A text with the LLM's PRICE proposal accepted; returns the text id."""
    text_id, _ = project.store.add_text(text)
    b = token_span(project.nlp.make_doc(text), start, end)
    assert b is not None
    (pid,) = project.store.add_proposals([NewProposal(text_id, "PRICE", *b, "llm")])
    project.store.add_answer(pid, "accept", "ann")
    return text_id


def ann_of(project: Project, text_id: int):
    (ann,) = [
        a for a in collect_annotations(project.store, project.taxonomy) if a.text_id == text_id
    ]
    return ann


@pytest.mark.parametrize("policy", ["complete", "missing"])
def test_a_flagged_text_keeps_its_uncovered_tokens_missing(project: Project, policy: str) -> None:
    text_id = accepted_price(project)
    project.store.mark_covered("LOCATION", "llm", [text_id])  # reviewed for every label
    assert ann_of(project, text_id).complete
    project.store.add_mark(text_id, "flagged", "ann")
    ann = ann_of(project, text_id)
    assert not ann.complete and ann.mark == "flagged"
    doc = annotation_doc(spacy.blank("en"), ann, policy)  # type: ignore[arg-type]
    assert [(e.text, e.label_) for e in doc.ents] == [("250 usd/t", "PRICE")]
    assert iob(doc) == ["?", "?", "?", *PRICE_IOB, "?", "?", "?"]
    assert all(doc[i].ent_iob_ == "" for i in (0, 1, 2, 7, 8, 9))


@pytest.mark.parametrize("policy", ["complete", "missing"])
def test_a_human_complete_text_is_o_outside_its_entities(project: Project, policy: str) -> None:
    # Only PRICE was reviewed; the annotator marks the LOCATION the LLM never looked for.
    text_id = accepted_price(project)
    assert not ann_of(project, text_id).complete
    queue = make_queue(project, "ann")
    session = make_session(project, queue)
    session.set_pass(None)
    # The text's PRICE question is answered: mark through a fresh question on it.
    b = token_span(project.nlp.make_doc(TEXT), 36, 41)
    assert b is not None
    project.store.add_proposals([NewProposal(text_id, "LOCATION", *b, "llm")])
    session.add_tasks(queue.fetch(None, held=session.held()).tasks)
    assert session.task is not None and session.task.text.id == text_id
    session.mark_missing([Span(30, 35, "LOCATION")])
    session.answer("reject")  # march is no location
    ann = ann_of(project, text_id)
    assert ann.complete and ann.mark == "complete"
    doc = annotation_doc(spacy.blank("en"), ann, policy)  # type: ignore[arg-type]
    assert iob(doc) == ["O", "O", "O", *PRICE_IOB, "O", "B-LOCATION", "O"]
    assert [(s.text, s.label_) for s in doc.spans["incorrect_spans"]] == [("march", "LOCATION")]


def test_the_latest_live_mark_wins(project: Project) -> None:
    text_id = accepted_price(project)
    nlp = spacy.blank("en")
    first = project.store.add_mark(text_id, "complete", "ann")
    flag = project.store.add_mark(text_id, "flagged", "bob")
    assert ann_of(project, text_id).mark == "flagged"
    project.store.undo_mark(flag, "bob")
    ann = ann_of(project, text_id)
    assert ann.mark == "complete" and iob(annotation_doc(nlp, ann, "missing"))[0] == "O"
    project.store.undo_mark(first, "ann")
    ann = ann_of(project, text_id)  # no live mark: back to what the reviews say
    assert ann.mark is None and not ann.complete
    assert iob(annotation_doc(nlp, ann, "complete"))[0] == "?"


def test_a_text_marked_complete_without_answers_trains_as_all_o(project: Project) -> None:
    accepted_price(project)
    accepted_price(project, OTHER, 13, 24)
    empty, _ = project.store.add_text("nothing to see here today")
    project.store.add_mark(empty, "complete", "ann")
    flagged, _ = project.store.add_text("something is missing here")
    project.store.add_mark(flagged, "flagged", "ann")  # says nothing to train on
    anns = collect_annotations(project.store, project.taxonomy)
    assert [a.text_id for a in anns if a.mark] == [empty]
    (ann,) = [a for a in anns if a.text_id == empty]
    doc = annotation_doc(spacy.blank("en"), ann, "missing")
    assert iob(doc) == ["O"] * 5 and not doc.ents
    data = build_training_data(project.store, project.taxonomy, "complete")
    counts = data.counts()
    assert counts["train_texts"] + counts["dev_texts"] == 3
    everything = data.train + data.dev
    assert sum(a.mark == "complete" for a in everything) == 1


def test_a_text_moved_to_gold_does_not_train_its_mark(project: Project) -> None:
    text_id = accepted_price(project)
    project.store.add_mark(text_id, "complete", "ann")
    project.store.db.execute("UPDATE texts SET split = 'gold' WHERE id = ?", [text_id])
    project.store.db.conn.commit()
    assert project.store.pool_marks() == {}
    assert collect_annotations(project.store, project.taxonomy) == []
