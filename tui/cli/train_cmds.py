"""`nerloop train`, `nerloop pretrain`, `nerloop evaluate` and `nerloop package`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from nerloop.core.evaluate import has_gold_spans, llm_coverage_line
from nerloop.core.training.pretrain import DEFAULT_EPOCHS, DEFAULT_MAX_TEXTS
from nerloop.tui.cli.base import (
    UserError,
    main,
    open_project,
    project_option,
    say,
    user_errors,
)

if TYPE_CHECKING:
    from nerloop.core.project import Project

EXIT_INTERRUPTED = 130


def _pct(value: float | None) -> str:
    return "    -" if value is None else f"{value * 100:5.1f}"


def _follow(
    project: Project, as_json: bool, run: Callable[[Callable[[dict[str, Any]], None]], Any]
) -> dict[str, Any]:
    """Run a training or pretraining job to its end, printing its progress lines (not its end:
    the caller says that once, from the stored row), and close the project. Ctrl-C cancels
    the run and exits 130; a run that cannot start is a one-line error."""
    from nerloop.core.training.data import TrainingDataError
    from nerloop.core.training.event_lines import event_line
    from nerloop.core.training.pretrain import PretrainBusyError
    from nerloop.core.training.runner import TERMINAL_EVENTS, TrainingBusyError

    def show(event: dict[str, Any]) -> None:
        line = None if event.get("event") in TERMINAL_EVENTS else event_line(event, aligned=True)
        if line is not None and not as_json:
            say(line)

    try:
        return dict(run(show))
    except KeyboardInterrupt:
        say(event_line({"event": "cancelled"}) or "cancelled", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (TrainingBusyError, PretrainBusyError, TrainingDataError) as exc:
        raise UserError(str(exc)) from None
    finally:
        project.close()


@main.command("train")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON when it ends.")
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Optimiser steps at most (default: the train_max_steps setting).",
)
@click.option(
    "--policy",
    type=click.Choice(["missing", "complete"]),
    default=None,
    help="Uncovered tokens of fully reviewed texts: O (complete) or unknown (missing). "
    "Default: the policy setting.",
)
@click.option(
    "--silver",
    type=click.Choice(["auto", "on", "off"]),
    default=None,
    help="Also train on the LLM's proposals on texts nobody reviewed (on), not (off), or both "
    "ways, keeping the better on gold (auto). Default: the silver setting.",
)
@user_errors
def train_cmd(
    project_dir: Path, as_json: bool, max_steps: int | None, policy: str | None, silver: str | None
) -> None:
    """Train the ner on the answers, in a separate process, and show its progress.

    Accepted answers are entities, rejected ones are negatives, and the gold texts are the
    test set. The model goes to PROJECT/models/run-N and is used (promoted) if it scores no
    worse on gold than the one in use. Ctrl-C cancels the run and leaves nothing behind.

    \b
    Example:
      nerloop train -p heards
      nerloop train -p heards --max-steps 500 --json | jq .scores.gold.overall
      nerloop train -p heards --silver off
    """
    from nerloop.core.training.event_lines import event_line
    from nerloop.core.training.runner import train

    project = open_project(project_dir)
    row = _follow(
        project,
        as_json,
        lambda show: train(
            project, on_event=show, max_steps=max_steps, policy=policy, silver=silver
        ),
    )
    summary = {
        k: row[k] for k in ("id", "status", "purpose", "promoted", "model_path", "counts", "scores")
    }
    if as_json:
        say(json.dumps(summary, indent=2))
    outcome = event_line(
        {
            "event": row["status"],
            "model_path": row["model_path"],
            "promoted": row["promoted"],
            "error": row["scores"].get("error"),
        }
    )
    if row["status"] != "done":
        raise UserError(f"training run {row['id']} {outcome or row['status']}")
    if not as_json:
        say(f"run {row['id']} {outcome}")
        gold = row["scores"].get("gold") or {}
        if gold.get("texts"):
            say(_label_table({"model": gold}))


@main.command("pretrain")
@project_option
@click.option(
    "--epochs",
    type=click.IntRange(min=1, max=1000),
    default=DEFAULT_EPOCHS,
    show_default=True,
    help="Passes over the texts; more took longer and paid more (bench/RESULTS.md).",
)
@click.option(
    "--max-texts",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_TEXTS,
    show_default=True,
    help="Pretrain on a seeded sample of this many pool texts at most.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run as JSON when it ends.")
@user_errors
def pretrain_cmd(project_dir: Path, epochs: int, max_texts: int, as_json: bool) -> None:
    """Pretrain the ner's tok2vec on the pool's raw text, in a separate process.

    spaCy's `pretrain` (characters objective: predict the start and end of each word from its
    context) reads the pool's texts (answered or not; never the gold texts) and needs no
    labels. The weights go to PROJECT/models/pretrain-N/tok2vec.bin; with the
    pretrained_tok2vec setting at "latest" (the default), the next training runs start from
    them, which pays most while there are few answers. A run reads epochs x the texts' words,
    about 7,000 words a second of one core. Ctrl-C cancels the run and leaves nothing behind.

    \b
    Example:
      nerloop pretrain -p heards
      nerloop pretrain -p heards --epochs 10 --max-texts 50000
    """
    from nerloop.core.training.event_lines import event_line
    from nerloop.core.training.pretrain import pretrain

    project = open_project(project_dir)
    setting = project.settings.pretrained_tok2vec
    row = _follow(
        project,
        as_json,
        lambda show: pretrain(project, on_event=show, epochs=epochs, max_texts=max_texts),
    )
    if as_json:
        keys = ("id", "status", "weights_path", "counts", "losses", "error")
        say(json.dumps({k: row[k] for k in keys}, indent=2))
    if row["status"] != "done":
        outcome = event_line({"event": row["status"], "error": row["error"]})
        raise UserError(f"pretraining run {row['id']} {outcome or row['status']}")
    if not as_json:
        use = (
            "training starts from these weights (pretrained_tok2vec = latest)"
            if setting == "latest"
            else "training does not use them while pretrained_tok2vec = off"
        )
        say(f"pretraining run {row['id']} done: {row['weights_path']}; {use}")


def _label_table(reports: dict[str, dict[str, Any] | None]) -> str:
    """Per label P/R/F of each source, labels as rows."""
    sources = [name for name, rep in reports.items() if rep]
    labels: list[str] = []
    for name in sources:
        for label in reports[name]["labels"]:  # type: ignore[index]
            if label not in labels:
                labels.append(label)
    head = f"{'label':<16}" + "".join(f"{name + ' P/R/F':>21}" for name in sources)
    lines = [head]
    for label in [*labels, "overall"]:
        cells = []
        for name in sources:
            rep = reports[name]
            assert rep is not None
            s = rep["overall"] if label == "overall" else rep["labels"].get(label)
            if s is None:
                cells.append(f"{'-':>21}")
            elif not has_gold_spans(s):
                cells.append(f"{'n/a (0 gold spans)':>21}")
            else:
                cells.append(f"{_pct(s['p'])} {_pct(s['r'])} {_pct(s['f'])}".rjust(21))
        lines.append(f"{label:<16}" + "".join(cells))
    return "\n".join(lines)


@main.command("evaluate")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the scores as JSON.")
@click.option(
    "--curve",
    is_flag=True,
    help="Also train on 25/50/75/100% of the answers and score each model on gold.",
)
@click.option(
    "--max-steps",
    type=click.IntRange(min=1),
    default=None,
    help="Steps per learning-curve run (default: the train_max_steps setting).",
)
@user_errors
def evaluate_cmd(project_dir: Path, as_json: bool, curve: bool, max_steps: int | None) -> None:
    """Precision, recall and F per label on the gold texts: model, rules and LLM side by side.

    The model is the one in use; the rules are scored on rule labels; the LLM on its stored
    proposals for the gold texts it was asked about (`nerloop propose --gold`). Spans count
    when their offsets and label match exactly. Then, per ner label, whether the LLM is still
    needed ("keep the LLM" or "stop the LLM"), with the evidence: F with bootstrap intervals,
    gold counts, accept rates and blind A/B choices (core/abtest.py has the rule).

    \b
    Example:
      nerloop evaluate -p heards
      nerloop evaluate -p heards --curve --json > curve.json
    """
    from nerloop.core.evaluation_report import evaluation_report
    from nerloop.core.training.curve import learning_curve
    from nerloop.core.training.data import TrainingDataError
    from nerloop.core.training.runner import TrainingBusyError

    project = open_project(project_dir)
    try:
        report = evaluation_report(project)
        if curve:

            def show(event: dict[str, Any]) -> None:
                if event.get("event") == "done" and not as_json:
                    gold = event["scores"]["gold"]
                    texts = event["counts"]["train_texts"]
                    say(
                        f"curve    {event['fraction']:>4.0%} of the answers: {texts} texts, "
                        f"gold F {_pct(gold['overall']['f'])}"
                    )

            report["curve"] = learning_curve(project, max_steps=max_steps, on_event=show)
    except (TrainingBusyError, TrainingDataError, RuntimeError) as exc:
        raise UserError(str(exc)) from None
    except KeyboardInterrupt:
        say("cancelled", err=True)
        sys.exit(EXIT_INTERRUPTED)
    finally:
        project.close()
    if as_json:
        say(json.dumps(report, indent=2))
        return
    if not report["gold_texts"]:
        raise UserError(
            "no finished gold texts: annotate some in the Gold tab (or import a gold file) first"
        )
    model = (
        f"model run {report['model_run']}"
        if report["model_run"]
        else "no model yet (nerloop train)"
    )
    say(f"{report['gold_texts']} gold texts; {model}")
    say(_label_table({k: report[k] for k in ("model", "rules", "llm")}))
    coverage = llm_coverage_line(report["llm_coverage"])
    if coverage:
        say(f"\n{coverage}")
        say(f"  score the LLM on all of gold: nerloop propose -p {project_dir} --all --gold")
    if report["recommendations"]:
        say("\nthe LLM, per label")
        for rec in report["recommendations"]:
            say(f"  {rec['label']:<14} {rec['verdict']}: {rec['reason']}")
    if curve:
        say("\nlearning curve (gold F by share of the answers)")
        for point in report["curve"]:
            share, texts = point["fraction"], point["train_texts"]
            say(f"  {share:>4.0%}  {texts:>6} texts  F {_pct(point['f'])}")


@main.command("package")
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@project_option
@click.option("--name", default=None, help="Package name (default: the project folder's name).")
@click.option("--version", "version", default=None, help="Package version (default: 0.RUN.0).")
@user_errors
def package_cmd(out: Path, project_dir: Path, name: str | None, version: str | None) -> None:
    """Build a pip-installable spaCy pipeline: the model in use plus the rule labels.

    Writes OUT/<lang>_<name>-<version>/ with the package sources and dist/*.whl. After
    `pip install` of the wheel, `spacy.load("<lang>_<name>")` works without nerloop.

    \b
    Example:
      nerloop package dist -p heards --name heards --version 1.0.0
      pip install dist/en_heards-1.0.0/dist/en_heards-1.0.0-py3-none-any.whl
      python -c 'import spacy; print(spacy.load("en_heards")("wheat fob rouen").ents)'
    """
    from nerloop.core.package import PackageError, package

    project = open_project(project_dir)
    try:
        result = package(project, out, name=name, version=version)
    except PackageError as exc:
        raise UserError(str(exc)) from None
    finally:
        project.close()
    say(f"{result.name} {result.version}: {result.wheel}")
