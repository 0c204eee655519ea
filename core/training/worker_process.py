"""What every worker process (worker.py trains, pretrain_worker.py pretrains) shares with the
parent that spawns it (runner.spawn_worker): its arguments (`worker_parser`), how it ends
(`supervise`: the exit code, the run row, the temporary folder), and the one rename that
publishes its result (`move_into_place`).

The parent imports this module for EXIT_CANCELLED, so it imports nothing heavy at the top, and
nothing of the workers: a worker imports it, never the other way round.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nerloop.core.store import Store
    from nerloop.core.store.runs import RunStatus

EXIT_CANCELLED = 3
"""A worker's exit code when SIGTERM cancelled it: the runner records such a run as cancelled,
not failed."""


class Cancelled(BaseException):
    """Raised in the worker by SIGTERM. A BaseException so spaCy's `except Exception` in its
    training loop does not swallow it."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Cancelled()


def worker_parser(prog: str) -> argparse.ArgumentParser:
    """The arguments every worker gets from runner.spawn_worker."""
    parser = argparse.ArgumentParser(prog=prog)
    parser.add_argument("--project", type=Path, required=True)
    parser.add_argument("--run", type=int, required=True)
    parser.add_argument("--tmp", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True)
    parser.add_argument("--nice", type=int, default=5)
    return parser


Record = Callable[["Store", "RunStatus", "str | None", str], None]
"""Closes a worker's run row: (store, status, error or None, log)."""


def supervise(
    args: argparse.Namespace, body: Callable[[Any], dict[str, Any]], record: Record
) -> int:
    """Run a worker's `body(project)` and account for how it ends: done (its result goes out as
    the done event), cancelled by SIGTERM or failed (recorded with `record`, with the progress
    log and, for a failure, the traceback). The temporary folder is removed in every case.
    Returns the process's exit code."""
    # Imported here, not at the top: the parent process imports this module (for its exit
    # codes) and must not pay for spaCy, which the logger registers with.
    from nerloop.core.training.logger import append_event

    signal.signal(signal.SIGTERM, _on_sigterm)
    if args.nice:
        # Workers share the machine with annotators' sessions: they yield the CPU to them.
        with contextlib.suppress(OSError):
            os.nice(args.nice)
    from nerloop.core.project import Project

    project = Project.open(args.project)
    store = project.store
    try:
        result = body(project)
    except Cancelled:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        record(store, "cancelled", None, read_log(args.progress))
        append_event(args.progress, {"event": "cancelled", "run": args.run})
        shutil.rmtree(args.tmp, ignore_errors=True)
        return EXIT_CANCELLED
    except BaseException as exc:  # a failed run is recorded whatever went wrong
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        error = _error_message(exc)
        record(store, "failed", error, read_log(args.progress) + "\n" + traceback.format_exc())
        append_event(args.progress, {"event": "failed", "run": args.run, "error": error})
        shutil.rmtree(args.tmp, ignore_errors=True)
        return 1
    finally:
        project.close()
    append_event(args.progress, {"event": "done", "run": args.run, **result})
    shutil.rmtree(args.tmp, ignore_errors=True)
    return 0


def _error_message(exc: BaseException) -> str:
    from nerloop.core.training.data import TrainingDataError

    if isinstance(exc, TrainingDataError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def move_into_place(source: Path, target: Path) -> None:
    """Move a worker's finished result from its temporary folder to `target` with one rename
    (both under models/, one file system: atomic), so a model folder is never half-written."""
    if target.exists():  # a leftover of a crashed earlier project state: never mix files
        shutil.rmtree(target)
    source.rename(target)


def read_log(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError:
        return ""
