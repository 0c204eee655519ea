"""The Evaluate tab: per-label precision, recall and F on gold for the model, the LLM and the
rules side by side, and per label whether the LLM is still needed: core/evaluation_report.py's
report, the one `nerloop evaluate` prints too.

Scoring loads the model and runs it over the gold texts, so it runs in a thread worker; the
tab scores when it is opened and again on r.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Static

from nerloop.core.evaluate import has_gold_spans, llm_coverage_line
from nerloop.core.evaluation_report import evaluation_report
from nerloop.core.project import Project
from nerloop.tui import keymap
from nerloop.tui.widgets.render import plain

SOURCES = ("model", "llm", "rules")


def _cell(scores: dict[str, Any] | None, label: str) -> Text:
    if scores is None:
        return Text("-")
    s = scores["overall"] if label == "overall" else scores["labels"].get(label)
    if s is None:
        return Text("-")
    if not has_gold_spans(s):
        return Text("n/a (0 gold)")
    return Text(f"{s['p'] * 100:.0f}/{s['r'] * 100:.0f}/{s['f'] * 100:.1f}")


def render_report(report: dict[str, Any], kinds: Mapping[str, str]) -> RenderableType:
    """An `evaluation_report`: the per-label table (P/R/F in percent for each source) and the
    LLM advice."""
    if not report["gold_texts"]:
        return Text(
            "No finished gold texts yet. Scores need a gold set annotated fully by hand: "
            "annotate some in the Gold tab (F3) or import a gold file. "
            "From a shell: nerloop evaluate -p PROJECT."
        )
    model = (
        f"model run {report['model_run']}"
        if report.get("model_run")
        else "no model yet (Train tab, F4)"
    )
    head = Text(
        f"{report['gold_texts']:,} gold texts; {model}. P/R/F in %, exact span match. "
        "r: score again (or nerloop evaluate)."
    )
    table = Table(box=None, padding=(0, 1), show_edge=False)
    table.add_column(Text("label", style="underline"))
    table.add_column(Text("kind", style="underline"))
    for source in SOURCES:
        table.add_column(Text(source, style="underline"), justify="right")
    for label, kind in kinds.items():
        table.add_row(plain(label), plain(kind), *(_cell(report[s], label) for s in SOURCES))
    table.add_row(
        Text("overall", style="bold"), Text(""), *(_cell(report[s], "overall") for s in SOURCES)
    )
    parts: list[RenderableType] = [head, Text(""), table]
    coverage = llm_coverage_line(report.get("llm_coverage") or {})
    if coverage:
        parts += [
            Text(""),
            plain(coverage),
            Text("Score the LLM on all of gold: nerloop propose -p PROJECT --all --gold"),
        ]
    advice = report.get("recommendations") or []
    if advice:
        parts += [Text(""), Text("LLM still needed?", style="bold")]
        for rec in advice:
            parts.append(plain(f"{rec['label']}: {rec['verdict']}. {rec['reason']}"))
    return Group(*parts)


class EvaluatePane(VerticalScroll, can_focus=True):
    BINDINGS = keymap.EVALUATE
    DEFAULT_CSS = """
    EvaluatePane { height: 1fr; }
    """

    class Scored(Message):
        def __init__(self, report: dict[str, Any]) -> None:
            super().__init__()
            self.report = report

    class Failed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    def __init__(self, project: Project, id: str | None = None) -> None:
        super().__init__(id=id)
        self.project = project
        self.report: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static(
            Text(
                "Scores on the gold set (annotate it in the Gold tab) appear here; "
                "from a shell: nerloop evaluate -p PROJECT."
            ),
            id="evaluate-body",
        )

    def activated(self) -> None:
        self.focus()
        self.action_refresh()

    def action_refresh(self) -> None:
        gold = self.project.store.count_gold()
        self.query_one("#evaluate-body", Static).update(
            Text(f"Scoring model, LLM and rules on {gold:,} gold texts… (nerloop evaluate)")
        )
        self._score()

    @work(thread=True, exclusive=True, group="evaluate")
    def _score(self) -> None:
        project = self.project.for_thread()
        try:
            report = evaluation_report(project)
        except Exception as exc:  # shown in the tab; the app must not die of a bad model
            self.post_message(self.Failed(f"{type(exc).__name__}: {exc}"))
            return
        finally:
            project.store.close()
        self.post_message(self.Scored(report))

    def on_evaluate_pane_scored(self, message: Scored) -> None:
        self.report = message.report
        kinds = {label.name: label.kind for label in self.project.taxonomy.labels}
        self.query_one("#evaluate-body", Static).update(render_report(message.report, kinds))

    def on_evaluate_pane_failed(self, message: Failed) -> None:
        self.query_one("#evaluate-body", Static).update(plain(f"Scoring failed: {message.error}"))
