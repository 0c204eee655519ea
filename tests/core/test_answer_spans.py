"""A text's answers -> its accepted and rejected spans, one rule for training and the exports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spacy

from nerloop.core.answer_spans import answer_span, answer_spans, non_overlapping
from nerloop.core.export import INCORRECT_SPANS_KEY, answered_texts, export
from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Source, Span
from nerloop.core.tokens import token_span
from nerloop.core.training.data import annotation_doc, collect_annotations
from tests.helpers.io_helpers import make_project

TEXT = "heard wheat bid 250 usd/t fob rouen march"
#       0     6     12  16  20    26  30    36


def row(
    answer_id: int,
    answer: str | None,
    start: int,
    end: int,
    label: str = "PRICE",
    edited: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """An answer row as the store gives it (token indices left out: the rule is about chars)."""
    return {
        "answer_id": answer_id,
        "answer": answer,
        "label": label,
        "start": start,
        "end": end,
        "token_start": None,
        "token_end": None,
        "a_start": edited[0] if edited else None,
        "a_end": edited[1] if edited else None,
        "a_token_start": None,
        "a_token_end": None,
    }


def decided(*rows: dict[str, Any]) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    got = answer_spans(rows)
    return [(s.start, s.end) for s in got.accepted], [(s.start, s.end) for s in got.rejected]


def test_a_moved_boundary_accepts_the_edit_and_rejects_the_proposal() -> None:
    assert decided(row(1, "accept", 16, 19, edited=(16, 25))) == ([(16, 25)], [(16, 19)])
    # A boundary moved and moved back is a plain accept.
    assert decided(row(1, "accept", 16, 25, edited=(16, 25))) == ([(16, 25)], [])


def test_only_an_accept_carries_an_edit() -> None:
    r = row(1, "reject", 16, 19, edited=(16, 25))
    assert (answer_span(r).start, answer_span(r).end) == (16, 19)
    assert decided(r) == ([], [(16, 19)])


def test_the_latest_accept_or_reject_decides_whoever_gave_it() -> None:
    # Two annotators on one span, in either order; rows need not come in answer order.
    assert decided(row(1, "reject", 16, 25), row(2, "accept", 16, 25)) == ([(16, 25)], [])
    assert decided(row(2, "reject", 16, 25), row(1, "accept", 16, 25)) == ([], [(16, 25)])
    # The same span from two proposals (two sources) is one decision.
    assert decided(row(3, "accept", 30, 35), row(4, "reject", 30, 35)) == ([], [(30, 35)])


def test_a_later_answer_overturns_the_reject_an_edit_implied() -> None:
    edit = row(1, "accept", 16, 19, edited=(16, 25))
    assert decided(edit, row(2, "accept", 16, 19)) == ([(16, 19), (16, 25)], [])
    # Both accepted; as entities the longer one wins.
    kept, dropped = non_overlapping(answer_spans([edit, row(2, "accept", 16, 19)]).accepted)
    assert [(s.start, s.end) for s in kept] == [(16, 25)] and len(dropped) == 1
    # An earlier answer does not: the edit is the last word about 16-19.
    assert decided(row(0, "accept", 16, 19), edit) == ([(16, 25)], [(16, 19)])


def test_ignore_decides_nothing() -> None:
    assert decided(row(1, "ignore", 16, 25)) == ([], [])
    assert decided(row(1, "accept", 16, 25), row(2, "ignore", 16, 25)) == ([(16, 25)], [])
    assert decided(row(1, "reject", 16, 25), row(2, "ignore", 16, 25)) == ([], [(16, 25)])
    # Nor does a proposal nobody answered (training's rows carry those too).
    assert decided(row(1, None, 16, 25)) == ([], [])


@pytest.fixture
def project(tmp_path: Path, taxonomy_file: Path) -> Iterator[Project]:
    p = make_project(tmp_path / "x", taxonomy_file)
    yield p
    p.close()


def propose(
    project: Project, text_id: int, start: int, end: int, label: str, source: Source = "llm"
) -> int:
    doc = project.nlp.make_doc(project.store.get_text(text_id).text)
    fit = token_span(doc, start, end)
    assert fit is not None
    (pid,) = project.store.add_proposals([NewProposal(text_id, label, *fit, source)])
    return pid


def tokens(project: Project, text: str, start: int, end: int, label: str) -> Span:
    fit = token_span(project.nlp.make_doc(text), start, end)
    assert fit is not None
    return Span(fit[0], fit[1], label, fit[2], fit[3])


def chars(spans: list[Span]) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.label) for s in spans]


def test_undo_takes_an_answer_out_of_both(project: Project) -> None:
    s = project.store
    tid, _ = s.add_text(TEXT)
    price = propose(project, tid, 16, 25, "PRICE")
    loc = propose(project, tid, 30, 35, "LOCATION")
    s.undo_answer(s.add_answer(price, "accept", "ann"), "ann")
    s.add_answer(loc, "accept", "ann")
    s.undo_answer(s.add_answer(loc, "reject", "bob"), "bob")
    (t,) = answered_texts(s)
    (ann,) = collect_annotations(s, project.taxonomy)
    assert chars(t.accepted) == chars(ann.entities) == [(30, 35, "LOCATION")]
    assert t.rejected == ann.incorrect == []
    assert ann.unknown == [Span(16, 25, "PRICE")]  # undone: unanswered again


def seed(project: Project) -> None:
    """Texts with every case the two readers could disagree on, on ner labels only (rule
    labels go to the ruler, not the ner, so training leaves them out and the exports keep
    them): edits, two annotators, two sources, ignores, undos, overlaps."""
    s = project.store
    texts = [f"heard wheat bid {250 + i} usd/t fob rouen march" for i in range(12)]
    for i, text in enumerate(texts):
        tid, _ = s.add_text(text)
        short = propose(project, tid, 16, 19, "PRICE")  # "250", moved to "250 usd/t"
        edited = tokens(project, text, 16, 25, "PRICE")
        loc = propose(project, tid, 30, 35, "LOCATION")
        loc_model = propose(project, tid, 30, 35, "LOCATION", "model")
        wrong = propose(project, tid, 6, 11, "LOCATION")
        case = i % 6
        if case == 0:  # edit, then another annotator accepts the proposal as it was
            s.add_answer(short, "accept", "ann", span=edited)
            s.add_answer(short, "accept", "bob")
        elif case == 1:  # the plain accept first, then the edit
            s.add_answer(short, "accept", "bob")
            s.add_answer(short, "accept", "ann", span=edited)
        elif case == 2:  # reject then accept by two annotators, and an ignore after it
            s.add_answer(short, "reject", "ann")
            s.add_answer(short, "accept", "bob")
            s.add_answer(short, "ignore", "carol")
        elif case == 3:  # accept then reject; the edit is undone
            s.undo_answer(s.add_answer(short, "accept", "ann", span=edited), "ann")
            s.add_answer(short, "accept", "ann")
            s.add_answer(short, "reject", "bob")
        elif case == 4:  # only an ignore on the price
            s.add_answer(short, "ignore", "ann")
        else:  # the edit alone
            s.add_answer(short, "accept", "ann", span=edited)
        # Two sources on one LOCATION span, the later answer through the other proposal.
        s.add_answer(loc, "accept" if i % 2 else "reject", "ann")
        s.add_answer(loc_model, "reject" if i % 2 else "accept", "bob")
        if i % 3:
            s.add_answer(wrong, "reject", "ann")


def training_view(project: Project) -> dict[str, tuple[list[Any], list[Any]]]:
    return {
        a.text: (chars(a.entities), chars(a.incorrect))
        for a in collect_annotations(project.store, project.taxonomy)
    }


def test_export_holds_what_training_learns(project: Project, tmp_path: Path) -> None:
    from spacy.tokens import DocBin

    seed(project)
    training = training_view(project)
    exported = {
        t.text: (chars(non_overlapping(t.accepted)[0]), chars(t.rejected))
        for t in answered_texts(project.store)
    }
    assert exported == training
    assert any(rejected for _, rejected in training.values())
    # The spaCy DocBins are the docs training builds under the missing policy.
    export(project, tmp_path / "corpus", "spacy")
    nlp = spacy.blank("en")
    docs = [
        d
        for name in ("train.spacy", "dev.spacy")
        for d in DocBin().from_disk(tmp_path / "corpus" / name).get_docs(nlp.vocab)
    ]
    built = {
        a.text: annotation_doc(nlp, a, "missing")
        for a in collect_annotations(project.store, project.taxonomy)
    }
    assert {d.text for d in docs} == set(built)

    def view(doc: Any) -> tuple[Any, ...]:
        return (
            [t.ent_iob_ + t.ent_type_ for t in doc],
            sorted((s.start, s.end, s.label_) for s in doc.spans[INCORRECT_SPANS_KEY]),
        )

    for d in docs:
        assert view(d) == view(built[d.text]), d.text
    # And a Prodigy export, imported into another project, trains the same.
    export(project, tmp_path / "out.jsonl", "prodigy")
    copy = make_project(tmp_path / "copy", project.taxonomy_path)
    import_file(copy, tmp_path / "out.jsonl")
    assert training_view(copy) == training
    copy.close()
