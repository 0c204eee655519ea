"""`nerloop annotate`: open the terminal app on a project."""

from __future__ import annotations

import getpass
from pathlib import Path

import click

from nerloop.tui.cli.base import main, open_project, project_option, user_errors


def default_annotator() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name (some containers): still usable
        return "annotator"


@main.command()
@project_option
@click.option(
    "--annotator",
    default=default_annotator,
    show_default="your login name",
    help="Who is answering: stored with every answer; leases keep annotators apart.",
)
@click.option(
    "--label",
    "label_pass",
    metavar="LABEL",
    default=None,
    help="Start in this label's pass (default: all labels; `l` in the app switches).",
)
@user_errors
def annotate(project_dir: Path, annotator: str, label_pass: str | None) -> None:
    """Open the app: answer proposals (y/n), browse the taxonomy, annotate gold, see the data.

    Keys are shown in the footer; ? lists them all. Several annotators can work on one project
    at once, each in their own terminal: nobody gets the same question twice.

    \b
    Example:
      nerloop annotate -p heards --annotator alice
      nerloop annotate -p heards --label PRICE
    """
    if not annotator.strip():
        raise click.BadParameter("must not be empty", param_hint="--annotator")
    project = open_project(project_dir)
    if label_pass is not None and label_pass not in project.taxonomy.names:
        names = ", ".join(project.taxonomy.names)
        project.close()
        raise click.BadParameter(f"no label {label_pass!r} (labels: {names})", param_hint="--label")
    # Textual loads only here, so the other commands start fast and run without a terminal.
    from nerloop.tui.app import create_app

    try:
        create_app(project, annotator.strip(), label_pass=label_pass).run()
    finally:
        project.close()
