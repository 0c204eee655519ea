"""Rule labels: terms (case-insensitive phrases) and token patterns propose spans (source rule)."""

from __future__ import annotations

import tomllib

import spacy
from spacy.tokens import Doc, Span

from nerloop.core.project import Project
from nerloop.core.proposers.rules import RuleProposer
from nerloop.core.records import StoredText
from nerloop.core.rules import RULES_SPANS_KEY, add_rules, rule_patterns
from nerloop.core.taxonomy import Label, Taxonomy, parse_taxonomy


def _texts(project: Project, *texts: str) -> list:
    ids = [project.store.add_text(t)[0] for t in texts]
    return [project.store.get_text(i) for i in ids]


def test_patterns_cover_terms_and_token_patterns(project: Project) -> None:
    pats = rule_patterns(project.taxonomy)
    labels = {(p["label"], isinstance(p["pattern"], str)) for p in pats}
    assert labels == {("COMMODITY", True), ("INCOTERM", True), ("INCOTERM", False)}
    assert len(pats) == 4 + 2 + 1


def test_terms_match_case_insensitively_on_token_bounds(project: Project) -> None:
    texts = _texts(project, "heard WHEAT bid 250 usd/t FOB rouen", "buckwheat is not wheat.")
    proposer = RuleProposer(project.taxonomy)
    assert set(proposer.labels()) == {"COMMODITY", "INCOTERM"}
    commodities = proposer.propose(texts, "COMMODITY")
    found = [
        (p.text_id, texts[0 if p.text_id == texts[0].id else 1].text[p.start : p.end])
        for p in commodities
    ]
    # "buckwheat" is one token: the term does not match inside it; "wheat." splits off the dot.
    assert found == [(texts[0].id, "WHEAT"), (texts[1].id, "wheat")]
    p = commodities[0]
    assert (p.source, p.score, p.token_start, p.token_end) == ("rule", 1.0, 1, 1)
    incoterms = proposer.propose(texts, "INCOTERM")
    assert [(texts[0].text[p.start : p.end], p.token_start) for p in incoterms] == [("FOB", 7)]


def test_token_patterns_match(project: Project) -> None:
    texts = _texts(project, "corn offered Ex Works paris")
    proposals = RuleProposer(project.taxonomy).propose(texts, "INCOTERM")
    assert [(p.start, p.end, p.token_start, p.token_end) for p in proposals] == [(13, 21, 2, 3)]


def test_proposals_store_and_dedupe(project: Project) -> None:
    texts = _texts(project, "wheat fob rouen, corn cif")
    proposals = RuleProposer(project.taxonomy).propose_all(texts)
    assert sorted(p.label for p in proposals) == ["COMMODITY", "COMMODITY", "INCOTERM", "INCOTERM"]
    ids = project.store.add_proposals(proposals)
    assert project.store.add_proposals(proposals) == ids  # asking twice stores nothing new
    assert project.store.count_proposals() == 4


def test_no_rule_labels_proposes_nothing(project: Project) -> None:
    tax = Taxonomy(labels=(Label(name="PRICE"),))
    texts = _texts(project, "wheat fob")
    proposer = RuleProposer(tax)
    assert proposer.labels() == [] and proposer.propose_all(texts) == []


SENTENCE = "red wheat bid paris"


@spacy.Language.component("nerloop_test_fake_ner")
def fake_ner(doc: Doc) -> Doc:
    """Stands in for a trained ner: "wheat bid" (X) overlaps the rule match "red wheat"."""
    # The ruler runs earlier components over its phrase patterns too: leave those alone.
    if doc.text == SENTENCE:
        doc.ents = [Span(doc, 1, 3, label="X"), Span(doc, 3, 4, label="LOC")]
    return doc


def test_rules_win_over_model_entities_unless_configured() -> None:
    tax = Taxonomy(labels=(Label(name="COMMODITY", kind="rule", terms=("red wheat",)),))
    for rules_win, expected in (
        (True, [("red wheat", "COMMODITY"), ("paris", "LOC")]),
        (False, [("wheat bid", "X"), ("paris", "LOC")]),
    ):
        nlp = spacy.blank("en")
        nlp.add_pipe("nerloop_test_fake_ner")
        add_rules(nlp, tax, annotate_ents=True, rules_win=rules_win)
        doc = nlp(SENTENCE)
        assert [(e.text, e.label_) for e in doc.ents] == expected
        # All matches stay in the spans key whatever wins in doc.ents.
        assert [s.text for s in doc.spans[RULES_SPANS_KEY]] == ["red wheat"]


def test_nested_matches_propose_the_longest_only() -> None:
    taxonomy = parse_taxonomy(
        tomllib.loads(
            '[project]\nlang = "en"\n\n[labels.COMMODITY]\nkind = "rule"\n'
            'terms = ["wheat", "milling wheat", "corn"]\n\n[labels.GRADE]\nkind = "rule"\n'
            'terms = ["milling"]\n'
        ),
        "t.toml",
    )
    proposer = RuleProposer(taxonomy)
    text = StoredText(1, 1, "heard milling wheat and corn, wheat too", {}, "pool")
    got = [(text.text[p.start : p.end], p.label) for p in proposer.propose_all([text])]
    # Not 'wheat' inside 'milling wheat', nor 'milling' (GRADE) inside it either.
    assert got == [("milling wheat", "COMMODITY"), ("corn", "COMMODITY"), ("wheat", "COMMODITY")]
