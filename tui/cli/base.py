"""Shared pieces of the command line: the root group, the project option, exit codes."""

from __future__ import annotations

import functools
import importlib
import os
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from nerloop import __version__
from nerloop.core.config import SettingsError
from nerloop.core.display import one_line, shown
from nerloop.core.project import CRASH_LOG, DB_FILE, Project, ProjectError
from nerloop.core.secrets import redact
from nerloop.core.store import StoreError
from nerloop.core.taxonomy import TaxonomyError

# Exit codes scripts can rely on (also in README): 0 ok, 1 bad input or a failed job, 2 usage,
# 130 interrupted.
EXIT_OK = 0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C

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
    "settings": "project_cmds",
    "stats": "project_cmds",
    "taxonomy": "project_cmds",
    "train": "train_cmds",
}


PROJECT_META = "nerloop.project_dir"
"""Key in click's shared ctx.meta where -p/--project leaves the folder, for the guard."""


def crash_log_paths(project_dir: Path | None) -> list[Path]:
    """Where an unexpected error's details may go, best first: the project folder (the user
    looks there and may send it along), else the user's state folder; never the screen."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    paths = [Path(base) / "nerloop" / "errors.log"]
    if project_dir is not None and (project_dir / DB_FILE).is_file():
        paths.insert(0, project_dir / CRASH_LOG)
    return paths


def log_crash(exc: BaseException, project_dir: Path | None = None) -> Path | None:
    """Append the traceback of `exc` (credentials masked) to the first crash log that can be
    written; its path, or None when none can."""
    import traceback
    from datetime import UTC, datetime

    when = datetime.now(UTC).isoformat(timespec="seconds")
    text = "".join(traceback.format_exception(exc))
    for path in crash_log_paths(project_dir):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(f"== {when} nerloop {__version__}: {redact(' '.join(sys.argv[1:]))}\n")
                fh.write(redact(text) + "\n")
        except OSError:
            continue
        return path
    return None


def internal_error(exc: Exception, ctx: click.Context) -> NoReturn:
    """One line on stderr, the traceback in the crash log, exit 1."""
    log = log_crash(exc, ctx.meta.get(PROJECT_META))
    where = f"details in {log}" if log else "its details could not be logged"
    what = one_line(redact(str(exc)))[:200]
    click.echo(shown(f"nerloop: internal error: {type(exc).__name__}: {what}; {where}"), err=True)
    raise click.exceptions.Exit(EXIT_BAD_INPUT) from None


def stdout_reader_gone() -> bool:
    """Whether standard output is a pipe whose reader has closed it (`| head`), as opposed to
    a broken pipe somewhere else, which is a real error. poll() reports POLLERR on the write
    end of a pipe nobody reads."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(ev & select.POLLERR for _, ev in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


class LazyGroup(click.Group):
    """The root group: commands register themselves on import; this imports them on demand
    (click's documented pattern for lazily loaded subcommands). It is also the top-level guard:
    an error nobody expected becomes one line and exit 1, its traceback goes to a log file;
    Ctrl-C anywhere is exit 130, as shells report a SIGINT."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("nerloop: interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        except BrokenPipeError as exc:
            if not stdout_reader_gone():
                internal_error(exc, ctx)
            # `nerloop stats | head`: the reader had what it wanted; end quietly, as Unix
            # filters do, without Python's "Exception ignored ... BrokenPipeError" at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(EXIT_OK) from None
        except Exception as exc:
            internal_error(exc, ctx)

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
        callback=remember_project,
    )(f)


def remember_project(ctx: click.Context, _param: click.Parameter, value: Path) -> Path:
    """Leave the project folder where the top-level guard finds it (ctx.meta is shared by
    every context of one run), so a crash log can go next to the project."""
    ctx.meta[PROJECT_META] = value
    return value


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
