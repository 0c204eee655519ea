"""The blind A/B in core: which texts are compared, the A/B order, and the stored choices."""

from __future__ import annotations

import spacy

from nerloop.core.abtest import ab_report, recommendation_dict
from nerloop.core.blind_ab import (
    BlindAB,
    a_source_for,
    ab_tally,
    empty_reason,
    model_predictor,
    same_output,
    spans_of,
)
from nerloop.core.project import Project
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.records import Span
from tests.helpers.queue_helpers import add_texts, propose

TEXTS = [
    "heard wheat bid 250 usd/t fob rouen march",
    "corn offered 4.10 usd/bu cif rotterdam",
    "brent at 80 usd/bbl ex works",
    "soybeans 400 usd/t fob santos",
]


def disagreeing_project(project: Project) -> list[int]:
    """Text 0: both say '250 usd/t' (identical). Text 1: the LLM says '4.10 usd/bu', the model
    says '4.10'. Text 2: the LLM says '80 usd/bbl', the model only a low-scored '80'. Text 3:
    only the LLM was run."""
    ids = add_texts(project, TEXTS)
    propose(project, ids[0], "PRICE", "250 usd/t", "llm")
    propose(project, ids[0], "PRICE", "250 usd/t", "model", score=0.9)
    propose(project, ids[1], "PRICE", "4.10 usd/bu", "llm")
    propose(project, ids[1], "PRICE", "4.10", "model", score=0.8)
    propose(project, ids[2], "PRICE", "80 usd/bbl", "llm")
    propose(project, ids[2], "PRICE", "80", "model", score=0.2)
    propose(project, ids[3], "PRICE", "400 usd/t", "llm")
    project.store.mark_covered("PRICE", "model", ids[:3])
    return ids


def test_identical_outputs_are_skipped_and_low_scored_model_spans_are_not_output(
    project: Project,
) -> None:
    ids = disagreeing_project(project)
    ab = BlindAB(project.store, "alice")
    first = ab.next("PRICE")
    assert first is not None and first.text.id == ids[1]
    assert [TEXTS[1][s.start : s.end] for s in first.llm] == ["4.10 usd/bu"]
    assert [TEXTS[1][s.start : s.end] for s in first.model] == ["4.10"]
    assert ab.skipped_identical["PRICE"] == 1
    # Text 2: the model ran but its only span scores 0.2, so its output is "nothing".
    second = ab.next("PRICE")
    assert second is not None and second.text.id == ids[2]
    assert second.model == ()
    # Text 3: the model was never run there, and no model is loaded: not compared.
    assert ab.next("PRICE") is None
    assert ab.next("LOCATION") is None


def test_same_output_ignores_order_and_compares_offsets() -> None:
    a = [Span(0, 4, "PRICE"), Span(10, 12, "PRICE")]
    assert same_output(a, list(reversed(a)))
    assert not same_output(a, a[:1])
    assert same_output([], [])


def test_the_ab_order_is_stable_per_text_and_label_and_not_one_sided(project: Project) -> None:
    ids = disagreeing_project(project)
    one = BlindAB(project.store, "alice").next("PRICE")
    two = BlindAB(project.store, "bob").next("PRICE")
    assert one is not None and two is not None
    assert one.a_source == two.a_source == a_source_for(ids[1], "PRICE")
    assert {one.a_source, one.b_source} == {"llm", "model"}
    assert one.a == (one.llm if one.a_source == "llm" else one.model)
    sides = [a_source_for(t, label) for t in range(1, 201) for label in ("PRICE", "LOCATION")]
    assert sides == [
        a_source_for(t, label) for t in range(1, 201) for label in ("PRICE", "LOCATION")
    ]
    share = sides.count("llm") / len(sides)
    assert 0.4 < share < 0.6


def test_choices_are_stored_mapped_back_to_their_source(project: Project) -> None:
    ids = disagreeing_project(project)
    ab = BlindAB(project.store, "alice", session="s1")
    c1 = ab.next("PRICE")
    assert c1 is not None
    ab.record(c1, "a")  # A is better: A's source wins
    c2 = ab.next("PRICE")
    assert c2 is not None
    ab.record(c2, "b")  # B is better: the other source wins
    rows = project.store.ab_choices("PRICE")
    assert [(r["text_id"], r["choice"], r["a_source"]) for r in rows] == [
        (ids[1], c1.a_source, c1.a_source),
        (ids[2], c2.b_source, c2.a_source),
    ]
    assert [TEXTS[1][s.start : s.end] for s in spans_of(rows[0]["llm_spans"])] == ["4.10 usd/bu"]
    assert rows[0]["annotator"] == "alice" and rows[0]["session"] == "s1"
    # Chosen texts are not shown to alice again, but bob still gets them.
    ab.restart()
    assert ab.next("PRICE") is None
    bob = BlindAB(project.store, "bob")
    c3 = bob.next("PRICE")
    assert c3 is not None and c3.text.id == ids[1]
    bob.record(c3, "same")
    wins = {"llm": 0, "model": 0, "same": 1}
    for c, pick in ((c1, "a"), (c2, "b")):
        wins[c.choice(pick)] += 1  # type: ignore[arg-type]
    assert ab_tally(project.store) == {"PRICE": (wins["llm"], wins["model"], wins["same"])}


def test_undo_appends_and_brings_the_text_back(project: Project) -> None:
    ids = disagreeing_project(project)
    ab = BlindAB(project.store, "alice")
    c1 = ab.next("PRICE")
    assert c1 is not None
    answer = ab.record(c1, "same")
    ab.undo(answer)
    assert project.store.ab_choices() == []
    assert project.store.scalar("SELECT count(*) FROM ab_answers") == 2
    ab.restart("PRICE")
    again = ab.next("PRICE")
    assert again is not None and again.text.id == ids[1] and again.a_source == c1.a_source
    assert ab_tally(project.store) == {}


def ruler_model(project: Project, phrases: list[str]) -> ModelProposer:
    """A real spaCy pipeline whose 'ner' is an entity ruler: predictions without training."""
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([{"label": "PRICE", "pattern": p} for p in phrases])  # type: ignore[attr-defined]
    return ModelProposer(nlp, ["PRICE", "LOCATION"], detail="ruler")


def test_on_demand_predictions_cover_texts_the_model_was_never_run_on(project: Project) -> None:
    ids = disagreeing_project(project)
    model = ruler_model(project, ["250 usd/t", "4.10 usd/bu", "80", "400"])
    ab = BlindAB(project.store, "alice", predict=model_predictor(model), model_detail="ruler")
    found = []
    while (c := ab.next("PRICE")) is not None:
        found.append((c.text.id, [TEXTS[ids.index(c.text.id)][s.start : s.end] for s in c.model]))
        ab.record(c, "a")
    # Texts 0 and 1 agree; text 3 had no model coverage but is predicted on demand.
    assert found == [(ids[2], ["80"]), (ids[3], ["400"])]
    assert ab.skipped_identical["PRICE"] == 2
    assert {r["model_detail"] for r in project.store.ab_choices()} == {"ruler"}


def test_empty_reason_says_what_is_missing(project: Project) -> None:
    assert "No trained model" in empty_reason(project.store, ["PRICE"], has_model=False)
    assert "No LLM proposals for PRICE" in empty_reason(project.store, ["PRICE"], has_model=True)
    assert "for any label" in empty_reason(project.store, ["PRICE", "LOCATION"], has_model=True)
    disagreeing_project(project)
    assert "Nothing left to compare" in empty_reason(project.store, ["PRICE"], has_model=True)


def test_the_tally_is_evidence_in_the_recommendation(project: Project) -> None:
    disagreeing_project(project)
    ab = BlindAB(project.store, "alice")
    c1 = ab.next("PRICE")
    assert c1 is not None
    ab.record(c1, "a" if c1.a_source == "model" else "b")  # the model is better
    (price, location) = ab_report(project.store, ["PRICE", "LOCATION"], None, n_boot=10)
    assert price.blind_ab == (0, 1, 0)
    assert price.reason.endswith("blind A/B: LLM better 0, model better 1, same 0")
    assert recommendation_dict(price)["blind_ab"] == {"llm": 0, "model": 1, "same": 0}
    assert location.blind_ab is None and "blind_ab" not in recommendation_dict(location)


def test_texts_a_model_was_trained_on_are_not_compared_nor_counted(project: Project) -> None:
    # Issue 14: the Compare tab showed answered texts (training data), where the model repeats
    # the accepted span and "wins"; that tally then appeared in the advice.
    ids = disagreeing_project(project)
    ab = BlindAB(project.store, "alice")
    first = ab.next("PRICE")
    assert first is not None and first.text.id == ids[1]
    ab.record(first, "b")  # a choice made while text 1 was new
    # Text 2 is answered (so it trains the next model): no longer a fair comparison.
    [pid] = [
        r["id"]
        for r in project.store.query(
            "SELECT id FROM proposals WHERE text_id = ? AND source = 'llm'", [ids[2]]
        )
    ]
    project.store.add_answer(pid, "accept", "bob")
    assert BlindAB(project.store, "carol").next("PRICE").text.id == ids[1]  # type: ignore[union-attr]
    after_1 = BlindAB(project.store, "carol")
    after_1._after["PRICE"] = ids[1]
    assert after_1.next("PRICE") is None
    assert sum(ab_tally(project.store)["PRICE"]) == 1
    # Text 1 answered later: the choice made on it no longer counts as evidence.
    [pid1] = [
        r["id"]
        for r in project.store.query(
            "SELECT id FROM proposals WHERE text_id = ? AND source = 'llm'", [ids[1]]
        )
    ]
    project.store.add_answer(pid1, "reject", "bob")
    assert "PRICE" not in ab_tally(project.store)
