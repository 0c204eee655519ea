"""Shared pieces of the command line: the root group, the project option, exit codes."""

from __future__ import annotations

import functools
import importlib
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from nerloop import __version__
from nerloop.core.config import SettingsError
from nerloop.core.display import one_line, shown
from nerloop.core.project import Project, ProjectError
from nerloop.core.secrets import redact
from nerloop.core.store import StoreError
from nerloop.core.taxonomy import TaxonomyError

# Exit codes scripts can rely on (also in README): 0 ok, 1 bad input or a failed job, 2 usage.
EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2

F = TypeVar("F", bound=Callable[..., Any])

# Errors that are the user's to fix: printed as one line, never as a traceback.
USER_ERRORS: tuple[type[Exception], ...] = (
    ProjectError,
    StoreError,
    TaxonomyError,
    SettingsError,
    FileNotFoundError,
)


class UserError(click.ClickException):
    exit_code = EXIT_BAD_INPUT

    def __init__(self, message: str) -> None:
        # Messages quote the user's data (a CSV header, a token, a label): its control
        # characters must never reach the terminal as escape sequences.
        super().__init__(shown(message))


def echo_err(line: str) -> None:
    """Print a message that may quote the data to stderr, with control characters made visible."""
    say(line, err=True)


def say(line: str = "", *, err: bool = False) -> None:
    """Print a line of a command's report: everything a command prints (labels and descriptions
    from the taxonomy, file names, a server's error text) goes through core.display.shown, so
    no escape sequence from outside reaches the terminal and no credential is shown."""
    click.echo(shown(line), err=err)


# Command name -> the module under nerloop.tui.cli that defines it. A command's module is
# imported when the command runs (or for --help), not before: `nerloop annotate` then does not
# load the LLM client, the importers and the trainer's modules before its first question.
COMMAND_MODULES = {
    "annotate": "annotate_cmds",
    "embed": "retrieval_cmds",
    "evaluate": "train_cmds",
    "export": "io_cmds",
    "import": "io_cmds",
    "init": "project_cmds",
    "llm-switch": "abtest_cmds",
    "package": "train_cmds",
    "pretrain": "train_cmds",
    "propose": "llm_cmds",
    "stats": "project_cmds",
    "taxonomy": "project_cmds",
    "train": "train_cmds",
}


def crash_log_path() -> Path:
    """Where an unexpected error's details go: the user's state folder, not the screen."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "nerloop" / "errors.log"


def log_crash(exc: BaseException) -> Path | None:
    """Append the traceback of `exc` (credentials masked) to the crash log; its path, or None
    when it cannot be written."""
    import traceback
    from datetime import UTC, datetime

    path = crash_log_path()
    when = datetime.now(UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(exc))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
            fh.write(f"== {when} nerloop {__version__}: {' '.join(sys.argv[1:])}\n")
            fh.write(redact(text) + "\n")
    except OSError:
        return None
    return path


class LazyGroup(click.Group):
    """The root group: commands register themselves on import; this imports them on demand
    (click's documented pattern for lazily loaded subcommands). It is also the top-level guard:
    an error nobody expected becomes one line and exit 1, its traceback goes to a log file."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            log = log_crash(exc)
            where = f"details in {log}" if log else "and its details could not be logged"
            what = one_line(redact(str(exc)))[:200]
            raise UserError(
                f"internal error: {type(exc).__name__}: {what} ({where}); please report it"
            ) from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"nerloop.tui.cli.{COMMAND_MODULES[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="nerloop")
def main() -> None:
    """nerloop: an LLM proposes spans, you say y or n, a small spaCy NER model learns.

    Every command takes -p/--project DIR (default: $NERLOOP_PROJECT, else the current folder).

    \b
    Example:
      nerloop init -p myproject --taxonomy taxonomy.toml
      nerloop import texts.jsonl -p myproject
      nerloop annotate -p myproject
    """


def project_option(f: F) -> F:
    return click.option(
        "-p",
        "--project",
        "project_dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=lambda: os.environ.get("NERLOOP_PROJECT", "."),
        show_default="$NERLOOP_PROJECT or .",
        help="The project folder.",
    )(f)


def user_errors(f: F) -> F:
    """Turn the core's user-facing errors into one-line messages with exit code 1."""

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return f(*args, **kwargs)
        except USER_ERRORS as exc:
            raise UserError(str(exc)) from None
        except sqlite3.DatabaseError as exc:
            # Damage that opening the file did not see (a table's pages) shows on a later read.
            raise UserError(database_message(exc, kwargs.get("project_dir"))) from None

    return wrapper  # type: ignore[return-value]


def database_message(exc: sqlite3.DatabaseError, project_dir: Path | None) -> str:
    """One line about an SQLite error met after the project opened, naming the file."""
    where = str(Path(project_dir) / "nerloop.db") if project_dir else "the project database"
    if isinstance(exc, sqlite3.OperationalError):
        if "locked" in str(exc):
            return f"{where}: the database is locked by another process ({exc}); try again"
        return f"{where}: {exc}"
    return (
        f"{where}: not a usable nerloop database ({exc}). "
        "Restore it from a backup or start a new project with `nerloop init`."
    )


def open_project(project_dir: Path) -> Project:
    return Project.open(project_dir)
