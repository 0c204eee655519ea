"""`nerloop init`, `nerloop stats` and `nerloop taxonomy`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from nerloop.core.project import Project
from nerloop.core.stats import project_stats
from nerloop.tui.cli.base import main, open_project, project_option, say, user_errors


def llm_stats_line(llm: dict[str, Any]) -> str | None:
    """The LLM ledger in one line for `nerloop stats` (None before any request)."""
    if not (llm.get("calls") or llm.get("cache_hits")):
        return None
    line = (
        f"llm calls  {llm['calls']:>8}   (cache hits {llm['cache_hits']}, errors "
        f"{llm['errors']}, tokens {llm['tokens_in']} in / {llm['tokens_out']} out"
    )
    if llm.get("cost") is not None:
        line += f", cost {llm['cost']:.4f}"
        if llm.get("cost_per_accepted_span") is not None:
            line += f", {llm['cost_per_accepted_span']:.4f} per accepted span"
    return line + ")"


@main.command()
@project_option
@click.option(
    "--taxonomy",
    "taxonomy_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A taxonomy.toml to copy into the project (default: keep the folder's, or a starter).",
)
@user_errors
def init(project_dir: Path, taxonomy_file: Path | None) -> None:
    """Create a project: nerloop.db and taxonomy.toml in the project folder.

    Running it again on a project is safe: nothing stored is touched, and a changed taxonomy
    is recorded as a new version.

    \b
    Example:
      nerloop init -p heards --taxonomy sample_data/commodities/taxonomy.toml
    """
    project = Project.init(project_dir, taxonomy_file)
    say(
        f"Project {project_dir}: {len(project.taxonomy.labels)} labels "
        f"(taxonomy version {project.store.taxonomy_version()}), "
        f"{project.store.count_texts()} texts."
    )
    project.close()


@main.command()
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
@user_errors
def stats(project_dir: Path, as_json: bool) -> None:
    """Counts of texts, gold, proposals and answers, per label and in all.

    \b
    Example:
      nerloop stats -p heards --json | jq .answers
    """
    project = open_project(project_dir)
    figures = project_stats(project)
    project.close()
    if as_json:
        say(json.dumps(figures, indent=2, ensure_ascii=True))
        return
    say(f"texts      {figures['texts']:>8}   (pool {figures['pool']}, gold {figures['gold']})")
    say(f"proposals  {figures['proposals']:>8}")
    answers = figures["answers"]
    say(
        f"answers    {sum(answers.values()):>8}   (accept {answers['accept']}, "
        f"reject {answers['reject']}, ignore {answers['ignore']})"
    )
    llm_line = llm_stats_line(figures.get("llm") or {})
    if llm_line:
        say(llm_line)
    say("")
    say(f"{'label':<16}{'kind':<6}{'proposed':>9}{'accept':>8}{'reject':>8}{'ignore':>8}")
    for name, row in figures["labels"].items():
        say(
            f"{name:<16}{row.get('kind', ''):<6}{row['proposals']:>9}{row['accept']:>8}"
            f"{row['reject']:>8}{row['ignore']:>8}"
        )


@main.group()
def taxonomy() -> None:
    """Look at the project's taxonomy."""


@taxonomy.command("show")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the labels as JSON.")
@user_errors
def taxonomy_show(project_dir: Path, as_json: bool) -> None:
    """Print the labels: name, kind, description, terms and patterns.

    \b
    Example:
      nerloop taxonomy show -p heards
    """
    project = open_project(project_dir)
    version = project.store.taxonomy_version()
    labels = project.taxonomy.labels
    project.close()
    if as_json:
        payload = {
            "version": version,
            "labels": [label.model_dump(mode="json") for label in labels],
        }
        say(json.dumps(payload, indent=2))
        return
    say(f"taxonomy version {version}, {len(labels)} labels")
    for label in labels:
        say(f"\n{label.name}  ({label.kind})")
        if label.description:
            say(f"  {label.description}")
        if label.terms:
            say(f"  terms: {', '.join(label.terms)}")
        for pattern in label.patterns:
            say(f"  pattern: {json.dumps(list(pattern))}")
        if label.examples:
            say(f"  examples: {', '.join(label.examples)}")


@main.command("settings")
@project_option
@click.option("--json", "as_json", is_flag=True, help="Print the settings as JSON.")
@user_errors
def settings_cmd(project_dir: Path, as_json: bool) -> None:
    """Print every setting: its value, where it came from (default, nerloop.toml or a NERLOOP_*
    variable) and what it does. API keys show as *** when set.

    \b
    Example:
      nerloop settings -p heards
      NERLOOP_LLM_MODEL=llama3.1:8b nerloop settings -p heards --json
    """
    from nerloop.core.settings_report import settings_report

    rows = settings_report(project_dir)
    if as_json:
        say(
            json.dumps(
                [
                    {"name": r.name, "value": r.value, "source": r.source, "doc": r.doc}
                    for r in rows
                ],
                indent=2,
                default=str,
            )
        )
        return
    for r in rows:
        say(f"{r.name} = {json.dumps(r.value, default=str)}  ({r.source})")
        if r.doc:
            say(f"    {r.doc}")
