"""`nerloop propose`: ask the LLM for proposals, concurrently, with a progress bar."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from nerloop.core.embed import EmbedError
from nerloop.core.llm import LLMUnreachableError
from nerloop.core.proposers.llm import LLMProposer, Outcome, ProposeSummary
from nerloop.core.secrets import safe_url
from nerloop.tui.cli.base import (
    UserError,
    main,
    open_project,
    project_option,
    say,
    user_errors,
)

EXIT_INTERRUPTED = 130


def _summary_lines(summary: ProposeSummary) -> list[str]:
    dropped = ", ".join(f"{k} {v}" for k, v in sorted(summary.dropped.items())) or "none"
    lines = [
        f"requests {summary.requests} ({summary.calls} to the LLM, "
        f"{summary.cache_hits} from the cache)",
        f"placed   {summary.placed} proposals",
        f"dropped  {sum(summary.dropped.values())} answers ({dropped})",
        f"errors   {summary.errors}",
    ]
    for message, n in summary.error_messages.most_common(3):
        lines.append(f"  {n} x {message}")
    return lines


@main.command()
@project_option
@click.option("--label", "label_name", metavar="LABEL", help="Ask for this label.")
@click.option("--all", "all_labels", is_flag=True, help="Ask for every ner label (LLM on).")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="At most N texts (0: all).")
@click.option(
    "--batch/--per-label",
    default=None,
    help="All labels of a text in one call (default: the project's llm_batch setting).",
)
@click.option("--gold", is_flag=True, help="Ask about the gold texts instead of the pool.")
@user_errors
def propose(
    project_dir: Path,
    label_name: str | None,
    all_labels: bool,
    limit: int,
    batch: bool | None,
    gold: bool,
) -> None:
    """Ask the LLM for proposals for texts that have none yet, and store them.

    Requests run concurrently (llm_concurrency); each text's proposals are committed as its
    answer arrives, so Ctrl-C loses nothing and running the command again continues where it
    stopped. Answers already in the cache cost no request. The LLM is set with
    NERLOOP_LLM_BASE_URL, NERLOOP_LLM_MODEL and NERLOOP_LLM_API_KEY (or nerloop.toml).

    \b
    Example:
      export NERLOOP_LLM_MODEL=llama3.1:8b   # Ollama on localhost:11434 by default
      nerloop propose -p heards --label PRICE --limit 100
      nerloop propose -p heards --all --batch
    """
    if bool(label_name) == all_labels:
        raise click.UsageError("give either --label LABEL or --all")
    project = open_project(project_dir)
    try:
        settings = project.settings
        if not settings.llm_configured:
            raise UserError(
                "no LLM model is set: set NERLOOP_LLM_MODEL (and NERLOOP_LLM_BASE_URL) "
                "or llm_model in nerloop.toml"
            )
        proposer = LLMProposer.from_project(project)
        ner = [lab.name for lab in project.taxonomy.ner_labels]
        if label_name is not None:
            if label_name not in project.taxonomy.names:
                raise UserError(
                    f"no label {label_name} in the taxonomy (labels: "
                    f"{', '.join(project.taxonomy.names)})"
                )
            if label_name not in ner:
                raise UserError(f"{label_name} is a rule label: rules propose it, not the LLM")
            if project.store.llm_off(label_name):
                raise UserError(f"the LLM is switched off for {label_name}")
            labels = [label_name]
        else:
            labels = proposer.labels()
            if not labels:
                raise UserError("no ner label has the LLM switched on")
        use_batch = settings.llm_batch if batch is None else batch
        texts = project.store.iter_texts("gold" if gold else "pool")
        jobs = proposer.pending(texts, labels, batch=use_batch, limit=limit)
        n_requests = len(jobs) if use_batch else sum(len(job[1]) for job in jobs)
        if not jobs:
            say("Nothing to ask: every text already has an answer for these labels.")
            return
        mode = "batch" if use_batch else "per label"
        say(
            f"{len(jobs)} texts, {n_requests} requests ({mode}) to {settings.llm_model} at "
            f"{safe_url(settings.llm_base_url)}",
            err=True,
        )
        _run(proposer, jobs, use_batch, n_requests)
    finally:
        project.close()


def _run(proposer: LLMProposer, jobs: list, batch: bool, n_requests: int) -> None:
    summary: ProposeSummary | None = None
    seen = ProposeSummary()
    with click.progressbar(
        length=n_requests, label="asking the LLM", file=sys.stderr, show_pos=True
    ) as bar:

        def advance(outcome: Outcome) -> None:
            seen.add(outcome)
            bar.update(1)

        try:
            summary = asyncio.run(proposer.run(jobs, batch=batch, on_outcome=advance, check=True))
        except (LLMUnreachableError, EmbedError) as exc:
            if seen.requests:  # it went away mid-job: say what was stored before it did
                for line in _summary_lines(seen):
                    say(line, err=True)
            if isinstance(exc, EmbedError):
                raise UserError(
                    f"few-shot examples need the embeddings endpoint, which failed: {exc}; "
                    "fix NERLOOP_EMBED_BASE_URL / embed_model, or set fewshot_k = 0"
                ) from None
            raise UserError(str(exc)) from None
        except KeyboardInterrupt:
            say("", err=True)
            for line in _summary_lines(seen):
                say(line)
            say("Interrupted: what was answered is stored; run again to continue.")
            sys.exit(EXIT_INTERRUPTED)
    for line in _summary_lines(summary):
        say(line)
    if summary.errors:
        raise UserError(f"{summary.errors} requests failed; run the command again to retry them")
