"""`nerloop import` and `nerloop export`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import cast

import click

from nerloop.core.export import EXPORT_FORMATS, ExportFormat, export
from nerloop.core.formats import IMPORT_FORMATS, FormatGuessError, ImportFormat
from nerloop.core.ingest import ImportFailed, import_file, listed_errors
from nerloop.core.outfile import OutputError
from nerloop.tui.cli.base import (
    UserError,
    echo_err,
    main,
    open_project,
    project_option,
    say,
    user_errors,
)

# Below this a progress bar would only flicker.
PROGRESS_MIN_BYTES = 4 * 1024 * 1024


@main.command("import")
@click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path)
)
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(IMPORT_FORMATS),
    help="The file's format (default: from the extension: .jsonl/.json (Prodigy if the "
    "records have _input_hash or answer), .csv/.tsv, .txt, .conll/.bio/.iob).",
)
@click.option(
    "--gold",
    is_flag=True,
    help="The records are fully annotated: put them into the gold split (evaluation only).",
)
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Skip bad records (they are listed) and import the rest, instead of importing nothing.",
)
@click.option(
    "--replace-gold",
    is_flag=True,
    help="With --gold: replace a text's finished gold annotation when the file's differs "
    "(without it such a record is an error, so a hand annotation is never lost by accident).",
)
@click.option(
    "--text-column",
    default="text",
    show_default=True,
    help="CSV: the column that holds the text; the other columns go into meta.",
)
@user_errors
def import_cmd(
    file: Path,
    project_dir: Path,
    fmt: str | None,
    gold: bool,
    skip_invalid: bool,
    replace_gold: bool,
    text_column: str,
) -> None:
    """Import texts (and annotations) from FILE into the project.

    Formats: JSONL ({"text", "meta", "spans": [{start, end, label}]} per line), Prodigy JSONL
    (prodigy db-out: answer accept/reject/ignore, annotator from _annotator_id/_session_id),
    CSV (a header row; the text column, other columns go into meta), plain text (one text per
    line; blank lines are skipped) and BIO/CoNLL (token and tag per line, a blank line between
    texts; a "# text = ..." line restores the exact text).

    Texts already in the project are not added again. Spans of records imported without --gold
    become proposals with source "import" and are stored as answers (accepted by annotator
    "import" for plain formats; as answered, by its annotator, for Prodigy records), so they
    train the model like any accepted answer.

    Every record is checked: valid JSON and UTF-8, a non-empty text, spans inside the text and
    on token boundaries, labels from the taxonomy. A bad record is reported as FILE:LINE: field
    X: what is wrong, and nothing from the file is stored (exit code 1) unless --skip-invalid.
    The same characters accepted under two labels, a line over 10 MB, and a gold record that
    would replace a finished gold annotation (without --replace-gold) are errors too.

    FILE may be a pipe or FIFO, or "-" for standard input (JSONL, or give --format).

    \b
    Example:
      nerloop import texts.jsonl -p heards
      nerloop import gold.jsonl -p heards --gold
      nerloop import export.csv -p heards --text-column body --skip-invalid
      cat feed.jsonl | nerloop import - -p heards
    """
    project = open_project(project_dir)
    try:
        # A pipe, a FIFO or standard input has no size to show progress against.
        size = file.stat().st_size if str(file) != "-" and file.is_file() else 0
        if size >= PROGRESS_MIN_BYTES:
            with click.progressbar(
                length=size, label=f"Importing {file.name}", file=sys.stderr
            ) as bar:
                done = 0

                def progress(n: int) -> None:
                    nonlocal done
                    bar.update(n - done)
                    done = n

                summary = import_file(
                    project,
                    file,
                    fmt=cast(ImportFormat | None, fmt),
                    gold=gold,
                    skip_invalid=skip_invalid,
                    replace_gold=replace_gold,
                    text_column=text_column,
                    progress=progress,
                )
        else:
            summary = import_file(
                project,
                file,
                fmt=cast(ImportFormat | None, fmt),
                gold=gold,
                skip_invalid=skip_invalid,
                replace_gold=replace_gold,
                text_column=text_column,
            )
    except FormatGuessError as exc:
        raise click.UsageError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{exc.filename or file}: {exc.strerror}") from None
    except ImportFailed as exc:
        lines = str(exc).splitlines()
        for line in lines[:-1]:
            echo_err(line)
        raise UserError(lines[-1]) from None
    finally:
        project.close()
    if summary.rejected:
        say(f"Skipped {summary.rejected} invalid records:", err=True)
        for line in listed_errors(summary):
            echo_err(f"  {line}")
    if summary.records == 0 and summary.rejected == 0:
        # Not an error (a daily feed may be empty), but never silent: a wrong file or a file
        # of blank lines looks like a successful import otherwise.
        echo_err(f"Warning: {file}: no records found (the file is empty or only blank lines)")
    say(f"Imported {summary.line()}")


@main.command("export")
@click.argument("out", type=click.Path(path_type=Path))
@project_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    required=True,
    help="prodigy: JSONL for prodigy db-in; spacy: OUT is a folder for train/dev/test.spacy; "
    "conll: BIO lines.",
)
@click.option("--gold-only", is_flag=True, help="Export only the gold annotations.")
@user_errors
def export_cmd(out: Path, project_dir: Path, fmt: str, gold_only: bool) -> None:
    """Export answers and gold annotations to OUT ("-" for standard output).

    \b
    prodigy  One JSONL record per answer (text, meta, _input_hash, _task_hash, tokens, one
             span with start/end/token_start/token_end/label, answer, _view_id "ner",
             _session_id = annotator), then one per finished gold annotation (all its spans,
             answer accept, _view_id "ner_manual", "_split": "gold").
    spacy    OUT is a folder: train.spacy and dev.spacy (about 20% of texts, chosen by text
             hash) from the answers (accepted spans are entities, rejected spans go to
             doc.spans["incorrect_spans"], other tokens are missing), test.spacy from gold.
    conll    token<TAB>BIO-tag lines with a "# text = ..." line, a blank line between texts:
             texts with accepted spans, then gold texts ("# split = gold").

    `nerloop import` reads prodigy and conll exports back unchanged (gold stays gold).

    \b
    Example:
      nerloop export answers.jsonl -p heards --format prodigy
      nerloop export corpus/ -p heards --format spacy
      nerloop export - -p heards --format conll --gold-only | head
    """
    to_stdout = str(out) == "-"
    if to_stdout and fmt == "spacy":
        raise click.UsageError("--format spacy writes a folder; OUT cannot be '-'")
    if not to_stdout and fmt != "spacy" and out.is_dir():
        raise click.UsageError(f"{out} is a folder; --format {fmt} writes a file")
    if fmt == "spacy" and out.exists() and not out.is_dir():
        raise click.UsageError(f"{out} is a file; --format spacy writes a folder")
    project = open_project(project_dir)
    try:
        summary = export(
            project,
            out,
            cast(ExportFormat, fmt),
            gold_only=gold_only,
            stdout=sys.stdout if to_stdout else None,
        )
        if to_stdout:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`| head`): what it wanted was written; end quietly, as Unix
        # filters do, without Python's "Exception ignored ... BrokenPipeError" at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    except OutputError as exc:
        raise UserError(str(exc)) from None
    except OSError as exc:
        raise UserError(f"{out}: cannot write: {exc.strerror}") from None
    finally:
        project.close()
    say(f"Exported {summary.line()}", err=to_stdout)
