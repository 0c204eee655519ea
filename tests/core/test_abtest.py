"""Model vs LLM per label: scores with bootstrap intervals, live accept rates, the recommendation
and the per-label LLM switch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nerloop.core.abtest import (
    KEEP,
    STOP,
    ab_report,
    compare_label,
    recommend,
    span_counts,
    wilson,
)
from nerloop.core.project import Project
from nerloop.core.records import LLMCall, NewProposal, Span, batch_labels, batch_target
from nerloop.core.store import Store

# -- counting ---------------------------------------------------------------------------------


def test_span_counts_match_exact_offsets_of_one_label() -> None:
    gold = {1: [Span(0, 5, "PRICE"), Span(10, 15, "PRICE"), Span(20, 25, "LOC")], 2: []}
    pred = {
        1: [Span(0, 5, "PRICE"), Span(10, 14, "PRICE"), Span(20, 25, "PRICE")],
        2: [Span(1, 3, "PRICE")],
    }
    counts = span_counts([1, 2, 3], gold, pred, "PRICE")
    # text 1: (0,5) right; (10,14) a boundary error counts as a FP and a FN; (20,25) is LOC.
    assert counts.tolist() == [[1, 2, 1], [0, 1, 0], [0, 0, 0]]


def _case(
    n: int, llm_right: int, model_right: int, *, seed: int = 0
) -> tuple[list[int], dict[int, list[Span]], dict[int, list[Span]], dict[int, list[Span]]]:
    """n texts with one gold PRICE span each; a source that is wrong on a text predicts a span
    shifted by one character (a false positive and a false negative). Texts are ranked by a
    random "difficulty" and both sources get the easiest ones right, as real sources do (the
    one that is right on more texts is right on a superset)."""
    rng = np.random.default_rng(seed)
    ids = list(range(1, n + 1))
    gold = {t: [Span(10, 20, "PRICE")] for t in ids}
    easiest = rng.permutation(ids).tolist()
    right_llm = set(easiest[:llm_right])
    right_model = set(easiest[:model_right])
    wrong = [Span(11, 20, "PRICE")]
    llm = {t: gold[t] if t in right_llm else wrong for t in ids}
    model = {t: gold[t] if t in right_model else wrong for t in ids}
    return ids, gold, llm, model


def test_compare_label_scores_and_intervals() -> None:
    ids, gold, llm, model = _case(100, 80, 60)
    c = compare_label("PRICE", ids, gold, llm, model, n_boot=1000, seed=3)
    assert c.n_texts == 100 and c.n_gold_spans == 100
    assert c.llm.f == pytest.approx(0.8) and c.model.f == pytest.approx(0.6)
    assert (c.llm.tp, c.llm.fp, c.llm.fn) == (80, 20, 20)
    assert c.llm.low < 0.8 < c.llm.high and c.model.low < 0.6 < c.model.high
    assert c.diff == pytest.approx(-0.2)
    assert c.diff_low < -0.2 < c.diff_high < 0
    assert c.p_not_worse < 0.01
    # The same seed gives the same intervals.
    again = compare_label("PRICE", ids, gold, llm, model, n_boot=1000, seed=3)
    assert again == c


def test_identical_sources_tie_with_certainty() -> None:
    ids, gold, llm, _ = _case(50, 40, 0)
    c = compare_label("PRICE", ids, gold, llm, llm, n_boot=500)
    assert c.diff == 0 and c.diff_low == 0 and c.diff_high == 0
    assert c.p_not_worse == 1.0


def test_more_gold_narrows_the_interval() -> None:
    small = compare_label("PRICE", *_case(40, 30, 30), n_boot=1000)
    large = compare_label("PRICE", *_case(400, 300, 300), n_boot=1000)
    assert (large.llm.high - large.llm.low) < (small.llm.high - small.llm.low)


def test_wilson_interval() -> None:
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    low, high = wilson(0, 10)
    assert low == 0.0 and 0.2 < high < 0.35


# -- the rule ---------------------------------------------------------------------------------


def test_recommendation_flips_when_the_model_overtakes_the_llm() -> None:
    verdicts = []
    for model_right in (50, 70, 88, 90, 95):
        c = compare_label("PRICE", *_case(120, 90, model_right), n_boot=1000)
        verdicts.append(recommend(c))
    # LLM right on 90 of 120 texts (F 0.75); the model catches up. Two texts behind (F -0.017)
    # is within the 0.02 margin but not with 90% bootstrap probability: keep.
    assert [r.stop_llm for r in verdicts] == [False, False, False, True, True]
    assert verdicts[0].verdict == KEEP and "behind" in verdicts[0].reason
    assert 0.5 < verdicts[2].comparison.p_not_worse < 0.9  # type: ignore[union-attr]
    assert verdicts[-1].verdict == STOP
    assert "model F 0.792" in verdicts[-1].reason and "120 gold spans" in verdicts[-1].reason


def test_too_little_gold_keeps_the_llm_even_when_the_model_looks_better() -> None:
    c = compare_label("PRICE", *_case(10, 5, 10), n_boot=500)
    assert c.p_not_worse == 1.0
    r = recommend(c, min_gold_spans=20)
    assert not r.stop_llm and "too little gold" in r.reason and "need 20" in r.reason
    assert recommend(c, min_gold_spans=10).stop_llm


def test_the_margin_and_probability_are_parameters() -> None:
    # The model trails by 2 texts in 200 (1 F point): not worse within a 0.05 margin, but
    # worse with no margin at all.
    generous = compare_label("PRICE", *_case(200, 150, 148), n_boot=1000, margin=0.05)
    strict = compare_label("PRICE", *_case(200, 150, 148), n_boot=1000, margin=0.0)
    assert recommend(generous).stop_llm
    assert not recommend(strict).stop_llm
    assert recommend(strict, min_probability=0.0).stop_llm


# -- from the store ---------------------------------------------------------------------------


def _gold_project(project: Project, n: int, llm_right: int) -> tuple[list[int], dict]:
    """n gold texts with one PRICE each; the LLM was asked about all but the last 10 and found
    the price in the first `llm_right` of them (nothing on the others)."""
    s = project.store
    ids: list[int] = []
    for i in range(n):
        text = f"heard wheat bid {200 + i} usd/t fob rouen"
        tid, _ = s.add_text(text, split="gold")
        start = text.index(f"{200 + i}")
        s.save_gold(tid, "ann", [Span(start, start + 9, "PRICE")], done=True)
        ids.append(tid)
    for i, tid in enumerate(ids[: n - 10]):
        stored = s.get_text(tid)
        if i < llm_right:
            start = stored.text.index(f"{200 + i}")
            s.add_proposals([NewProposal(tid, "PRICE", start, start + 9, 3, 4, "llm")])
        else:
            # Asked, answered "nothing": a call in the ledger, no proposal.
            s.db.execute(
                "INSERT INTO llm_calls (cache_key, model, prompt_version, text_hash, label,"
                " request, response) VALUES (?, 'm', 'v1', ?, 'PRICE', '{}', '{\"spans\":[]}')",
                [f"k{tid}", stored.input_hash],
            )
    s.db.conn.commit()
    gold = {tid: spans for tid, _t, spans in s.gold_examples()}
    return ids, gold


def test_ab_report_flips_from_store_data(project: Project) -> None:
    ids, gold = _gold_project(project, 60, llm_right=40)
    s = project.store

    def model_right_on(k: int) -> dict[int, list[Span]]:
        # The model is right on the first k texts, silent on the rest.
        return {tid: gold[tid] for tid in ids[:k]}

    [behind] = ab_report(s, ["PRICE"], model_right_on(30), n_boot=500)
    assert behind.verdict == KEEP and "behind" in behind.reason
    assert behind.comparison is not None
    # Only the 50 texts the LLM was asked about count, for both sources.
    assert behind.comparison.n_texts == 50 and behind.comparison.n_gold_spans == 50
    assert behind.comparison.llm.f == pytest.approx(80 / 90)  # 40 right, 10 missed
    [ahead] = ab_report(s, ["PRICE"], model_right_on(48), n_boot=500)
    assert ahead.verdict == STOP and ahead.stop_llm
    # The model being wrong on texts the LLM never saw changes nothing.
    [same] = ab_report(s, ["PRICE"], {t: gold[t] for t in ids[:48]}, n_boot=500)
    assert same.comparison == ahead.comparison


def test_ab_report_keeps_the_llm_without_evidence(project: Project) -> None:
    s = project.store
    [r] = ab_report(s, ["PRICE"], {}, n_boot=100)
    assert r.verdict == KEEP and "no finished gold" in r.reason
    _gold_project(project, 30, llm_right=20)
    [r] = ab_report(s, ["PRICE"], None, n_boot=100)
    assert not r.stop_llm and "no trained model" in r.reason
    [r] = ab_report(s, ["LOCATION"], {}, n_boot=100)
    assert not r.stop_llm and "has not been run on the gold texts for LOCATION" in r.reason


def test_batch_calls_count_for_each_of_their_labels(project: Project) -> None:
    s = project.store
    tid, _ = s.add_text("wheat 250 usd/t fob rouen", split="gold")
    h = s.get_text(tid).input_hash
    s.db.execute(
        "INSERT INTO llm_calls (cache_key, model, prompt_version, text_hash, label, request,"
        " response) VALUES ('k', 'm', 'v', ?, 'batch:PRICE,LOCATION', '{}', '{}')",
        [h],
    )
    s.db.execute(
        "INSERT INTO llm_calls (cache_key, model, prompt_version, text_hash, label, request,"
        " response, error) VALUES ('k2', 'm', 'v', ?, 'COMMODITY', '{}', NULL, 'timeout')",
        [h],
    )
    s.db.conn.commit()
    asked = s.llm_asked_on_gold()
    assert asked == {"PRICE": {tid}, "LOCATION": {tid}}


def test_a_batch_call_on_a_label_with_a_comma_names_each_label_exactly(project: Project) -> None:
    s = project.store
    tid, _ = s.add_text("wheat 250 usd/t fob rouen", split="gold")
    labels = ["PRICE,USD", "LOCATION"]
    target = batch_target(labels)
    assert batch_labels(target) == labels
    assert batch_labels(batch_target(["PRICE", "LOCATION"])) == ["PRICE", "LOCATION"]
    assert batch_target(["PRICE", "LOCATION"]) == "batch:PRICE,LOCATION"  # as ledgers have it
    s.record_llm_call(
        LLMCall("k", "m", "v", s.get_text(tid).input_hash, target, "{}", response="{}")
    )
    assert s.llm_asked_on_gold() == {"PRICE,USD": {tid}, "LOCATION": {tid}}


# -- live accept rates ------------------------------------------------------------------------


def _answers(s: Store, label: str, source: str, kinds: list[str]) -> list[int]:
    tid, _ = s.add_text(f"text for {label} {source} {len(kinds)}")
    out = []
    for i, kind in enumerate(kinds):
        [pid] = s.add_proposals(
            [NewProposal(tid, label, i * 2, i * 2 + 1, i, i, source)]  # type: ignore[arg-type]
        )
        out.append(s.add_answer(pid, kind, "ann"))  # type: ignore[arg-type]
    return out


def test_accept_rates_over_the_last_n_answers(store: Store) -> None:
    # Old answers reject, recent ones accept: the window sees only the recent ones.
    _answers(store, "PRICE", "llm", ["reject"] * 5 + ["accept"] * 5)
    _answers(store, "PRICE", "model", ["accept", "ignore", "reject"])
    undone = _answers(store, "LOCATION", "llm", ["accept", "reject"])
    store.undo_answer(undone[1], "ann")
    assert store.accept_rates(last_n=5) == {
        "PRICE": {"llm": (5, 5), "model": (1, 2)},
        "LOCATION": {"llm": (1, 1)},
    }
    assert store.accept_rates(last_n=100)["PRICE"]["llm"] == (5, 10)


def test_live_rates_are_evidence_in_the_reason(project: Project) -> None:
    ids, gold = _gold_project(project, 30, llm_right=20)
    _answers(project.store, "PRICE", "llm", ["accept", "accept", "reject"])
    [r] = ab_report(project.store, ["PRICE"], {t: gold[t] for t in ids}, n_boot=100)
    assert r.accept_rates == {"llm": (2, 3)}
    assert "llm accepts 2/3 (67%)" in r.reason


# -- the switch -------------------------------------------------------------------------------


def test_llm_off_switch_persists(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    s = Store(path)
    assert s.llm_off("PRICE") is False and s.llm_off_labels() == set()
    s.set_llm_off("PRICE", True)
    s.set_llm_off("LOCATION", True)
    s.set_llm_off("LOCATION", False)
    s.close()
    s = Store(path)
    assert s.llm_off("PRICE") is True and s.llm_off("LOCATION") is False
    assert s.llm_off_labels() == {"PRICE"}
    s.close()


# -- a project and a real pipeline -------------------------------------------------------------


def test_project_recommendations_run_the_model_on_gold(project: Project, tmp_path: Path) -> None:
    import json

    import spacy

    from nerloop.core.abtest import project_recommendations, recommendation_dict

    _gold_project(project, 40, llm_right=20)  # the LLM: 20 right, 10 missed, of 30 asked
    [none] = [r for r in project_recommendations(project, n_boot=200) if r.label == "PRICE"]
    assert not none.stop_llm and "no trained model" in none.reason
    # A saved pipeline that finds every price (an entity ruler stands in for a trained NER).
    nlp = spacy.blank("en")
    # spaCy splits "usd/t" its own way: the pattern is built from the tokens it makes.
    words = [t.text for t in nlp.make_doc("heard wheat bid 201 usd/t fob rouen")]
    pattern = [{"LIKE_NUM": True}] + [{"ORTH": w} for w in words[4 : words.index("fob")]]
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "PRICE", "pattern": pattern}])  # type: ignore[attr-defined]
    assert [e.text for e in nlp("heard wheat bid 201 usd/t fob rouen").ents] == ["201 usd/t"]
    path = tmp_path / "model"
    nlp.to_disk(path)
    recs = project_recommendations(project, str(path), n_boot=200)
    assert [r.label for r in recs] == ["PRICE", "LOCATION"]  # the ner labels only
    price, location = recs
    assert price.stop_llm and price.comparison is not None
    assert price.comparison.model.f == 1.0 and price.comparison.n_texts == 30
    assert not location.stop_llm and "has not been run" in location.reason
    data = recommendation_dict(price)
    json.dumps(data)  # plain data
    assert data["comparison"]["model"]["f"] == 1.0
    assert data["comparison"]["llm"]["tp"] == 20 and data["comparison"]["llm"]["fn"] == 10
    assert data["verdict"] == STOP


def test_cli_llm_switch(project: Project) -> None:
    from click.testing import CliRunner

    from nerloop.tui.cli import main

    runner = CliRunner()
    p = ["-p", str(project.path)]
    listed = runner.invoke(main, ["llm-switch", *p])
    assert listed.exit_code == 0, listed.output
    assert "PRICE                LLM on" in listed.output and "COMMODITY" not in listed.output
    off = runner.invoke(main, ["llm-switch", "PRICE", "--off", *p])
    assert off.exit_code == 0 and "PRICE: LLM off" in off.output
    assert project.store.llm_off("PRICE")
    assert "LLM off" in runner.invoke(main, ["llm-switch", "PRICE", *p]).output
    assert runner.invoke(main, ["llm-switch", "PRICE", "--on", *p]).exit_code == 0
    assert not project.store.llm_off("PRICE")
    bad = runner.invoke(main, ["llm-switch", "COMMODITY", "--off", *p])
    assert bad.exit_code == 1 and "not a ner label" in bad.output
    assert runner.invoke(main, ["llm-switch", "--off", *p]).exit_code == 1
