"""The Evaluate tab and `nerloop evaluate` render one evaluation_report: the same figures."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console
from textual.widgets import Static

from nerloop.core.evaluation_report import evaluation_report
from nerloop.core.project import Project
from nerloop.tui.cli import main
from nerloop.tui.panes.evaluate import EvaluatePane
from tests.helpers.evaluation_fixtures import evaluated_project, record_loads
from tests.helpers.tui_helpers import app_for, wait_until

SOURCES = ("model", "rules", "llm")
# One cell of each view: P/R/F, "-" (no score for that label) or n/a (no gold span of it).
CLI_CELL = re.compile(r"(?P<p>[\d.]+) +(?P<r>[\d.]+) +(?P<f>[\d.]+)|-|n/a \(0 gold spans\)")
PANE_CELL = re.compile(r"(?P<p>\d+)/(?P<r>\d+)/(?P<f>[\d.]+)|-|n/a \(0 gold\)")

Cells = dict[tuple[str, str], str]
"""(label, source) -> the F shown, "-" or "n/a"."""


def _cells(line: str, pattern: re.Pattern[str], sources: list[str]) -> dict[str, str]:
    found = [
        m.group("f") or ("n/a" if "n/a" in m.group(0) else "-") for m in pattern.finditer(line)
    ]
    assert len(found) == len(sources), line
    return dict(zip(sources, found, strict=True))


def cli_cells(out: str, labels: list[str]) -> Cells:
    lines = out.splitlines()
    head = next(line for line in lines if line.startswith("label "))
    sources = [s for s in head.split() if s in SOURCES]
    cells: Cells = {}
    for label in labels:
        (line,) = [line for line in lines if line.startswith(f"{label} ")]  # not the advice
        row = _cells(line[len(label) :], CLI_CELL, sources)
        cells.update({(label, source): f for source, f in row.items()})
    return cells


def pane_cells(text: str, kinds: dict[str, str]) -> Cells:
    lines = text.splitlines()
    cells: Cells = {}
    for label, kind in kinds.items():
        words = [label, kind] if kind else [label]
        (line,) = [line for line in lines if line.split()[: len(words)] == words]
        rest = line.split(words[-1], 1)[1]
        row = _cells(rest, PANE_CELL, ["model", "llm", "rules"])
        cells.update({(label, source): f for source, f in row.items()})
    return cells


def expected_f(report: dict[str, Any], label: str, source: str) -> str:
    scores = report[source]
    if scores is None or (label != "overall" and label not in scores["labels"]):
        return "-"
    s = scores["overall"] if label == "overall" else scores["labels"][label]
    return f"{s['f'] * 100:.1f}" if s["tp"] + s["fn"] else "n/a"


async def test_cli_and_tab_show_the_same_figures(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluated_project(project, tmp_path)
    loads = record_loads(monkeypatch)
    result = CliRunner().invoke(main, ["evaluate", "-p", str(project.path)])
    assert result.exit_code == 0, result.output
    assert loads == [str(tmp_path / "model")]  # `nerloop evaluate` loads the model once

    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f5")
        pane = app.query_one(EvaluatePane)
        await wait_until(pilot, lambda: pane.report is not None, "the scores")
        content = app.query_one("#evaluate-body", Static).content
    console = Console(width=400, record=True, file=io.StringIO())
    console.print(content)
    shown = console.export_text()

    kinds = {label.name: label.kind for label in project.taxonomy.labels} | {"overall": ""}
    labels = list(kinds)
    report = evaluation_report(project)
    expected = {(label, s): expected_f(report, label, s) for label in labels for s in SOURCES}
    assert pane_cells(shown, kinds) == expected
    # The command leaves out the column of a source with no score at all.
    assert cli_cells(result.output, labels) == {
        k: v for k, v in expected.items() if report[k[1]] is not None
    }
    assert expected[("LOCATION", "model")] == "80.0"  # figures, not only dashes
    assert expected[("overall", "model")] == "50.0"
    assert expected[("PRICE", "llm")] == "100.0"
    # The advice: every ner label's verdict in both.
    for rec in report["recommendations"]:
        assert f"{rec['label']}: {rec['verdict']}." in shown
        assert re.search(rf"^  {rec['label']} +{re.escape(rec['verdict'])}:", result.output, re.M)
