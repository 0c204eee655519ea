"""evaluation_report: the scores and the LLM advice from one load of the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerloop.core.abtest import project_recommendations, recommendation_dict
from nerloop.core.evaluate import evaluate_project
from nerloop.core.evaluation_report import evaluation_report
from nerloop.core.project import Project
from tests.helpers.evaluation_fixtures import evaluated_project, record_loads


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return record_loads(monkeypatch)


def test_the_report_is_the_scores_and_the_advice(project: Project, tmp_path: Path) -> None:
    run_id = evaluated_project(project, tmp_path)
    report = evaluation_report(project, n_boot=200)
    scores = evaluate_project(project)
    advice = [recommendation_dict(r) for r in project_recommendations(project, n_boot=200)]
    assert {k: v for k, v in report.items() if k != "recommendations"} == scores
    assert report["recommendations"] == advice
    assert report["model_run"] == run_id and report["gold_texts"] == 12
    assert [r["label"] for r in advice] == ["PRICE", "LOCATION"]
    # The stand-in model finds LOCATIONs only: its PRICE scores rest on the gold spans it missed.
    assert report["model"]["labels"]["PRICE"]["tp"] == 0
    assert report["model"]["labels"]["LOCATION"]["tp"] > 0
    assert report["llm"]["labels"]["PRICE"]["f"] == 1.0
    json.dumps(report)  # plain data, as `--json` prints it


def test_the_model_is_loaded_once(project: Project, tmp_path: Path, loads: list[str]) -> None:
    evaluated_project(project, tmp_path)
    evaluation_report(project, n_boot=200)
    assert loads == [str(tmp_path / "model")]


def test_without_gold_there_is_no_advice(project: Project, tmp_path: Path) -> None:
    report = evaluation_report(project, n_boot=200)
    assert report["gold_texts"] == 0 and report["recommendations"] == []
    assert report["model"] is None and report["model_run"] is None


def test_a_missing_model_folder_is_no_model(
    project: Project, tmp_path: Path, loads: list[str]
) -> None:
    evaluated_project(project, tmp_path)
    report = evaluation_report(project, str(tmp_path / "gone"), n_boot=200)
    assert loads == [] and report["model"] is None
    assert all("no trained model" in r["reason"] for r in report["recommendations"])
