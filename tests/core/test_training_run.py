"""Training runs for real (a small synthetic project, few steps): the model learns, progress
reaches the caller, runs are stored, cancelled and failed runs leave nothing behind, rejected
answers keep a missing-policy model from tagging everything, background retraining decides."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spacy

from nerloop.core.evaluate import evaluate_project, predict, score_spans
from nerloop.core.project import Project
from nerloop.core.proposers.model import ModelProposer, by_informativeness
from nerloop.core.training.curve import learning_curve
from nerloop.core.training.promote import should_promote
from nerloop.core.training.runner import (
    TrainingBusyError,
    maybe_retrain,
    reap_stale_runs,
    start_training,
    tmp_dir,
    train,
)
from tests.helpers.training_fixtures import (
    Sample,
    add_answered,
    add_gold,
    leftovers,
    new_project,
    samples,
)

STEPS = 60


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Project, dict[str, Any], list[dict[str, Any]], list[Sample]]]:
    """One real training run shared by the tests of this module (training is the slow part)."""
    project = new_project(tmp_path_factory.mktemp("trained"))
    data = samples(170, seed=1)
    add_answered(project, data[:110])
    add_gold(project, data[110:140])
    events: list[dict[str, Any]] = []
    row = train(project, on_event=events.append, max_steps=STEPS)
    yield project, row, events, data[140:]
    project.close()


def test_run_is_stored_with_counts_scores_log_and_model(trained: Any) -> None:
    project, row, _, _ = trained
    assert row["status"] == "done", row["scores"]
    assert row["purpose"] == "train" and row["promoted"]
    assert Path(row["model_path"]) == project.path / "models" / f"run-{row['id']}"
    assert row["counts"]["train_texts"] + row["counts"]["dev_texts"] == 110
    assert row["counts"]["complete_texts"] == row["counts"]["train_texts"]
    assert row["counts"]["incorrect"]  # the rejected answers went in as negatives
    assert 'incorrect_spans_key = "incorrect_spans"' in row["config"]
    gold = row["scores"]["gold"]
    assert gold["texts"] == 30 and set(gold["labels"]) == {"PRICE", "LOCATION"}
    assert '"event":"eval"' in row["log"].replace(" ", "")
    assert project.store.promoted_run()["id"] == row["id"]
    # The temporary folder is gone: only the finished model is left.
    assert leftovers(project) == [f"run-{row['id']}"]


def test_progress_reaches_the_caller(trained: Any) -> None:
    _, _, events, _ = trained
    kinds = [e["event"] for e in events]
    assert kinds[0] == "data" and kinds[-1] == "done"
    evals = [e for e in events if e["event"] == "eval"]
    assert len(evals) >= 5
    assert [e["step"] for e in evals] == sorted(e["step"] for e in evals)
    assert evals[-1]["step"] == STEPS
    assert "ner" in evals[-1]["losses"] and "ents_f" in evals[-1]["scores"]
    assert set(evals[-1]["scores"]["ents_per_type"]) == {"PRICE", "LOCATION"}
    assert any(e["event"] == "gold" for e in events)


def test_model_finds_entities_in_held_out_texts(trained: Any) -> None:
    _, row, _, heldout = trained
    nlp = spacy.load(row["model_path"])
    texts = {i: s.text for i, s in enumerate(heldout)}
    gold = {i: s.spans for i, s in enumerate(heldout)}
    scores = score_spans(gold, predict(nlp, texts), ["PRICE", "LOCATION"], texts.keys())
    assert scores["overall"]["f"] >= 0.8, scores


def test_model_proposals_carry_a_confidence(trained: Any) -> None:
    project, _, _, heldout = trained
    proposer = ModelProposer.from_project(project)
    assert proposer is not None and set(proposer.labels()) == {"PRICE", "LOCATION"}
    stored = [project.store.get_text(project.store.add_text(s.text)[0]) for s in heldout[:10]]
    proposals = proposer.propose_all(stored)
    assert proposals and all(p.source == "model" and p.score is not None for p in proposals)
    assert all(0.1 <= p.score <= 1.0 for p in proposals if p.score is not None)
    # The true spans are among the proposals, and the surest of them are near 1.
    truth = {
        (st.id, s.start, s.end, s.label)
        for st, h in zip(stored, heldout, strict=False)
        for s in h.spans
    }
    found = {(p.text_id, p.start, p.end, p.label) for p in proposals}
    assert len(truth & found) >= 0.8 * len(truth)
    ordered = by_informativeness(proposals)
    keys = [abs((p.score or 0) - 0.5) for p in ordered]
    assert keys == sorted(keys)
    ids = project.store.add_proposals(proposals)
    assert project.store.get_proposal(ids[0]).source == "model"
    assert proposer.propose(stored, "PRICE") == [p for p in proposals if p.label == "PRICE"]


def test_model_proposer_reads_its_pipeline_only_when_asked(trained: Any) -> None:
    # The app makes its proposers before the first question; the model's pipeline is read
    # when a text needs its proposals, and its labels come from the model's meta.json.
    project, row, _, heldout = trained
    proposer = ModelProposer.from_project(project)
    assert proposer is not None and proposer._nlp is None
    assert sorted(proposer.labels()) == ["LOCATION", "PRICE"] and proposer._nlp is None
    meta = Path(row["model_path"]) / "meta.json"
    assert sorted(json.loads(meta.read_text())["labels"]["ner"]) == ["LOCATION", "PRICE"]
    stored = [project.store.get_text(project.store.add_text(s.text)[0]) for s in heldout[:3]]
    assert proposer.propose_all(stored) and proposer._nlp is not None


def test_evaluate_project_scores_model_and_rules(trained: Any) -> None:
    project, row, _, _ = trained
    report = evaluate_project(project)
    assert report["gold_texts"] == 30 and report["model_run"] == row["id"]
    assert report["model"]["overall"] == row["scores"]["gold"]["overall"]
    assert set(report["rules"]["labels"]) == {"COMMODITY", "INCOTERM"}
    assert report["llm"] is None  # the LLM was never run on gold


def test_promotion_needs_no_worse_gold_f(trained: Any) -> None:
    project, row, _, _ = trained
    current = row["scores"]["gold"]
    worse = {**current, "overall": {**current["overall"], "f": current["overall"]["f"] - 0.01}}
    assert should_promote(project, worse) == (False, current["overall"]["f"])
    assert should_promote(project, current)[0]  # a tie goes to the newer model
    assert should_promote(project, {"texts": 0})[0]  # no gold: nothing to judge by


def test_learning_curve_trains_on_shares_of_the_answers(trained: Any) -> None:
    project, row, _, _ = trained
    seen: list[dict[str, Any]] = []
    points = learning_curve(project, (0.5, 1.0), max_steps=10, on_event=seen.append)
    assert [p["fraction"] for p in points] == [0.5, 1.0]
    assert points[0]["train_texts"] < points[1]["train_texts"] == row["counts"]["train_texts"]
    assert all(0.0 <= p["f"] <= 1.0 and set(p["labels"]) == {"PRICE", "LOCATION"} for p in points)
    assert {e["fraction"] for e in seen if e["event"] == "done"} == {0.5, 1.0}
    curve_runs = project.store.list_runs(2)
    assert [r["purpose"] for r in curve_runs] == ["curve", "curve"]
    assert not any(r["promoted"] or r["model_path"] for r in curve_runs)  # nothing kept
    assert project.store.promoted_run()["id"] == row["id"]
    assert leftovers(project) == [f"run-{row['id']}"]


def test_cancelled_run_leaves_nothing(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    add_answered(project, samples(60, seed=2))
    run = start_training(project, max_steps=100_000)
    with pytest.raises(TrainingBusyError):
        start_training(project, max_steps=5)
    try:
        for event in run.events():
            if event["event"] in ("step", "eval"):
                break
        run.cancel()
    finally:
        run.close()
    row = run.result()
    assert row["status"] == "cancelled" and row["model_path"] is None
    assert leftovers(project) == []
    assert project.store.promoted_run() is None
    project.close()


def test_failed_run_is_recorded_and_leaves_nothing(project: Project) -> None:
    add_answered(project, samples(1, seed=3))
    events: list[dict[str, Any]] = []
    row = train(project, on_event=events.append, max_steps=5)
    assert row["status"] == "failed" and "at least 2 texts" in row["scores"]["error"]
    assert events[-1]["event"] == "failed" and "at least 2 texts" in events[-1]["error"]
    assert leftovers(project) == []


def test_rejections_keep_a_missing_policy_model_from_tagging_everything(tmp_path: Path) -> None:
    """With uncovered tokens missing, only rejected spans tell the ner what is *not* an
    entity; without them it can learn to label every token. The held-out texts must come out
    with most tokens untagged and the true spans found."""
    project = new_project(tmp_path)
    data = samples(130, seed=4)
    add_answered(project, data[:100], reject_every=1, cover=False)
    row = train(project, max_steps=STEPS, policy="missing")
    assert row["status"] == "done", row["scores"]
    assert row["counts"]["policy"] == "missing"
    nlp = spacy.load(row["model_path"])
    tokens = tagged = 0
    for doc in nlp.pipe(s.text for s in data[100:]):
        tokens += len(doc)
        tagged += sum(t.ent_iob_ in ("B", "I") for t in doc)
    true_share = (
        sum(len(nlp.make_doc(s.text[sp.start : sp.end])) for s in data[100:] for sp in s.spans)
        / tokens
    )
    assert tagged / tokens < true_share + 0.15, (tagged, tokens, true_share)
    texts = {i: s.text for i, s in enumerate(data[100:])}
    gold = {i: s.spans for i, s in enumerate(data[100:])}
    assert (
        score_spans(gold, predict(nlp, texts), ["PRICE", "LOCATION"], texts.keys())["overall"]["r"]
        >= 0.6
    )
    project.close()


def test_maybe_retrain_decides_and_starts_in_the_background(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    add_answered(project, samples(40, seed=5))
    accepted = project.store.count_accepted()
    project.settings = project.settings.model_copy(update={"retrain_every": 0})
    assert maybe_retrain(project) is None  # switched off
    project.settings = project.settings.model_copy(update={"retrain_every": accepted + 1})
    assert maybe_retrain(project) is None  # not enough new answers
    project.settings = project.settings.model_copy(
        update={"retrain_every": accepted, "train_max_steps": 10}
    )
    run = maybe_retrain(project)
    assert run is not None
    assert maybe_retrain(project) is None  # one run at a time
    row = run.wait()
    run.close()
    assert row["status"] == "done" and row["purpose"] == "retrain" and row["promoted"]
    assert row["counts"]["accepted_total"] == accepted
    assert maybe_retrain(project) is None  # no new answers since that run
    project.close()


def test_a_run_whose_process_died_is_reaped(project: Project) -> None:
    run_id = project.store.create_run(config="", counts={})
    assert run_id is not None
    assert project.store.create_run(config="", counts={}) is None  # one run at a time
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    project.store.update_run(run_id, pid=gone.pid)
    leftover = tmp_dir(project.path, run_id)
    leftover.mkdir(parents=True)
    assert reap_stale_runs(project.store, project.path) == [run_id]
    row = project.store.get_run(run_id)
    assert row["status"] == "failed" and "died" in row["scores"]["error"]
    assert not leftover.exists()
    assert project.store.create_run(config="", counts={}) is not None
