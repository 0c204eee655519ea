"""Scores on gold: exact-match P/R/F per label and overall; the LLM only on texts it was asked
about; the rules on rule labels."""

from __future__ import annotations

from nerloop.core.evaluate import evaluate_llm, evaluate_project, evaluate_rules, prf, score_spans
from nerloop.core.project import Project
from nerloop.core.records import Span
from tests.helpers.queue_helpers import propose


def test_prf_and_exact_match_per_label_and_micro_overall() -> None:
    gold = {1: [Span(0, 5, "A"), Span(6, 9, "B")], 2: [Span(0, 3, "A")]}
    pred = {1: [Span(0, 5, "A"), Span(6, 10, "B")], 2: [Span(0, 3, "B")]}
    s = score_spans(gold, pred, ["A", "B"], [1, 2])
    assert s["labels"]["A"] == {**prf(1, 0, 1), "texts": 2}  # one found, one missed
    assert s["labels"]["B"]["tp"] == 0 and s["labels"]["B"]["fp"] == 2  # a boundary off is wrong
    assert s["overall"] == prf(1, 2, 2) and s["texts"] == 2
    assert prf(0, 0, 0) == {"p": 0.0, "r": 0.0, "f": 0.0, "tp": 0, "fp": 0, "fn": 0}
    assert prf(1, 1, 1)["f"] == 0.5


def test_per_label_text_sets_leave_unasked_texts_out() -> None:
    gold = {1: [Span(0, 5, "A")], 2: [Span(0, 3, "A")]}
    pred = {1: [Span(0, 5, "A")]}
    s = score_spans(gold, pred, ["A", "B"], {"A": {1}})
    assert s["labels"]["A"]["f"] == 1.0 and "B" not in s["labels"] and s["texts"] == 1


def _gold(project: Project, text: str, spans: list[tuple[str, str]]) -> int:
    tid = project.store.add_text(text, split="gold")[0]
    out = []
    for phrase, label in spans:
        start = text.index(phrase)
        out.append(Span(start, start + len(phrase), label))
    project.store.save_gold(tid, "ann", out, done=True)
    return tid


def test_llm_rules_and_no_model(project: Project) -> None:
    t1 = _gold(
        project,
        "heard wheat bid 250 usd/t fob rouen",
        [
            ("250 usd/t", "PRICE"),
            ("wheat", "COMMODITY"),
            ("fob", "INCOTERM"),
            ("rouen", "LOCATION"),
        ],
    )
    t2 = _gold(
        project,
        "corn 4.10 usd/bu cif paris",
        [
            ("4.10 usd/bu", "PRICE"),
            ("corn", "COMMODITY"),
            ("cif", "INCOTERM"),
            ("paris", "LOCATION"),
        ],
    )
    unfinished = project.store.add_text("brent 80 usd/bbl", split="gold")[0]
    project.store.save_gold(unfinished, "ann", [], done=False)
    # The LLM was asked about PRICE on t1 only: right once, plus one wrong span.
    propose(project, t1, "PRICE", "250 usd/t", "llm")
    propose(project, t1, "PRICE", "rouen", "llm")
    llm = evaluate_llm(project)
    assert llm is not None and set(llm["labels"]) == {"PRICE"} and llm["texts"] == 1
    assert llm["labels"]["PRICE"] == {
        **{"p": 0.5, "r": 1.0, "f": 0.6667, "tp": 1, "fp": 1, "fn": 0},
        "texts": 1,
    }
    rules = evaluate_rules(project)
    assert rules is not None and rules["texts"] == 2
    assert rules["labels"]["COMMODITY"]["f"] == 1.0 and rules["labels"]["INCOTERM"]["f"] == 1.0
    report = evaluate_project(project)
    assert report["gold_texts"] == 2 and report["model"] is None and report["model_run"] is None
    assert report["llm"] == llm and t2 > 0


def test_evaluate_says_how_much_of_gold_the_llm_covered(project: Project) -> None:
    import json

    from click.testing import CliRunner

    from nerloop.tui.cli import main

    t1 = _gold(project, "heard wheat bid 250 usd/t fob rouen", [("250 usd/t", "PRICE")])
    _gold(project, "corn 4.10 usd/bu cif paris", [("4.10 usd/bu", "PRICE"), ("paris", "LOCATION")])
    _gold(project, "oats 190 usd/t", [("190 usd/t", "PRICE")])
    propose(project, t1, "PRICE", "250 usd/t", "llm")
    propose(project, t1, "LOCATION", "wheat", "llm")  # asked about LOCATION on a text with none
    project.close()
    out = CliRunner().invoke(main, ["evaluate", "-p", str(project.path)]).output
    assert "LLM asked on gold texts: PRICE 1/3, LOCATION 1/3" in out
    assert f"nerloop propose -p {project.path} --all --gold" in out
    # LOCATION: the one text it was asked about holds no LOCATION span: no score on nothing.
    location = next(line for line in out.splitlines() if line.startswith("LOCATION"))
    assert "n/a (0 gold spans)" in location
    report = json.loads(
        CliRunner().invoke(main, ["evaluate", "-p", str(project.path), "--json"]).output
    )
    assert report["llm_coverage"]["PRICE"] == {"asked": 1, "gold_texts": 3}


def test_the_advice_never_scores_zero_gold_spans() -> None:
    from nerloop.core.abtest import compare_label, recommend

    gold: dict[int, list[Span]] = {1: [], 2: []}
    c = compare_label("PRICE", [1, 2], gold, {1: [], 2: []}, {1: [], 2: []}, n_boot=50)
    rec = recommend(c)
    assert not rec.stop_llm
    assert "no gold span of PRICE" in rec.reason
    assert "F " not in rec.reason and "1.000" not in rec.reason
