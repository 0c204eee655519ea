"""`nerloop llm-switch`: stop or resume asking the LLM for a label."""

from __future__ import annotations

from pathlib import Path

import click

from nerloop.tui.cli.base import (
    UserError,
    main,
    open_project,
    project_option,
    say,
    user_errors,
)


@main.command("llm-switch")
@project_option
@click.argument("label", required=False)
@click.option("--off", "state", flag_value="off", help="Stop asking the LLM for LABEL.")
@click.option("--on", "state", flag_value="on", help="Ask the LLM for LABEL again.")
@user_errors
def llm_switch(project_dir: Path, label: str | None, state: str | None) -> None:
    """Show or set, per label, whether the LLM is asked for proposals.

    With no LABEL, lists the ner labels and their switch. A label switched off gets no LLM
    proposals from the queue or `nerloop propose`; the model and the rules still propose.
    `nerloop evaluate` says when the model is as good as the LLM for a label.

    \b
    Example:
      nerloop llm-switch -p heards
      nerloop llm-switch PRICE --off -p heards
    """
    project = open_project(project_dir)
    try:
        names = [lab.name for lab in project.taxonomy.ner_labels]
        if label is None:
            if state is not None:
                raise UserError("name the LABEL to switch")
            off = project.store.llm_off_labels()
            for name in names:
                say(f"{name:<20} LLM {'off' if name in off else 'on'}")
            return
        if label not in names:
            known = ", ".join(names) or "none"
            raise UserError(f"{label}: not a ner label of this project (ner labels: {known})")
        if state is None:
            say(f"{label:<20} LLM {'off' if project.store.llm_off(label) else 'on'}")
            return
        project.store.set_llm_off(label, state == "off")
        say(f"{label}: LLM {state}")
    finally:
        project.close()
