"""Start, watch and cancel training runs; each run is a separate process (worker.py).

    run = start_training(project)            # returns at once; the worker trains
    for event in run.events():               # JSON-lines progress, see logger.py
        ...                                  # {"event": "eval", "step": 200, "scores": ...}
    row = run.result()                       # the run's row: status, scores, model_path, ...
    run.cancel()                             # from any thread: SIGTERM, then SIGKILL

A TrainingRun never uses the project's Store connection (SQLite connections belong to the
thread that opened them, and the UI iterates events in a worker thread): it opens its own.

The process machinery (spawn a worker with its temporary folder, follow its JSON lines, cancel
it, reap it when it died) is `WorkerRun`, `spawn_worker` and `reap_stale`; tok2vec pretraining
(pretrain.py) runs through the same pieces.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from nerloop.core.config import PretrainedChoice, SilverChoice
from nerloop.core.project import MODELS_DIR, Project, connect
from nerloop.core.store import Store
from nerloop.core.store.runs import RunPurpose, RunStatus
from nerloop.core.training.data import Policy
from nerloop.core.training.worker_process import EXIT_CANCELLED

TERMINAL_EVENTS = frozenset({"done", "failed", "cancelled"})
STALE_WITHOUT_PID_S = 300.0
"""A running row without a process id older than this was never started (the starter died)."""


class TrainingBusyError(RuntimeError):
    """Another training run is in progress in this project."""


def models_dir(project_path: Path) -> Path:
    return project_path / MODELS_DIR


def tmp_dir(project_path: Path, run_id: int) -> Path:
    # Inside models/ so the final rename is on one file system, hence atomic.
    return models_dir(project_path) / f".run-{run_id}.tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale(
    running: list[dict[str, Any]], fail: Callable[[int], bool], tmp_for: Callable[[int], Path]
) -> list[int]:
    """Of the `running` rows, those whose process is gone: closed as failed with `fail` (True
    when it closed the row), their temporary folders (`tmp_for`) removed; returns their ids."""
    reaped = []
    now = datetime.now(UTC)
    for run in running:
        pid = run.get("pid")
        if pid is None:
            started = datetime.fromisoformat(run["started"].replace("Z", "+00:00"))
            if (now - started).total_seconds() < STALE_WITHOUT_PID_S:
                continue
        elif _alive(int(pid)):
            continue
        if fail(run["id"]):
            reaped.append(run["id"])
        shutil.rmtree(tmp_for(run["id"]), ignore_errors=True)
    return reaped


def reap_stale_runs(store: Store, project_path: Path) -> list[int]:
    """Mark training runs whose process is gone as failed and remove their temporary folders."""
    return reap_stale(
        store.running_runs(),
        lambda run_id: store.end_run(run_id, "failed", error="the training process died"),
        lambda run_id: tmp_dir(project_path, run_id),
    )


class WorkerRun:
    """A worker process (training or pretraining) and its progress stream.

    A subclass says how its kind of run is recorded (`_record`, `result`) and where its
    temporary folder is (`tmp`).
    """

    what = "worker"
    """What the process does, for messages ("the training process exited with code 1")."""

    def __init__(
        self,
        project_path: Path,
        run_id: int,
        process: subprocess.Popen[bytes],
        progress: IO[str],
        worker_log: IO[str],
    ) -> None:
        self.project_path = project_path
        self.run_id = run_id
        self.process = process
        self._progress = progress
        self._worker_log = worker_log
        self._buffer = ""
        self._terminal: dict[str, Any] | None = None
        self._lock = threading.Lock()

    @property
    def tmp(self) -> Path:
        raise NotImplementedError

    def _record(self, store: Store, status: RunStatus, error: str | None, log: str) -> None:
        """Close the run's row (a no-op when the worker closed it already)."""
        raise NotImplementedError

    def result(self) -> dict[str, Any]:
        """The run's row as stored now."""
        raise NotImplementedError

    def _store(self) -> Store:
        return connect(self.project_path)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def _read_lines(self) -> list[dict[str, Any]]:
        chunk = self._progress.read()
        if not chunk:
            return []
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split("\n")
        out = []
        for line in lines:
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError:  # never expected: lines are written whole
                    continue
        return out

    def events(
        self, poll: float = 0.2, stop: Callable[[], bool] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Progress events until the run ends; the last one is done, failed or cancelled.

        `stop` is checked between reads: when it returns True the iteration ends early and the
        run goes on without a watcher (the worker records its own result).
        """
        while True:
            if stop is not None and stop():
                return
            batch = self._read_lines()
            for event in batch:
                if event.get("event") in TERMINAL_EVENTS:
                    self._terminal = event
                yield event
            if batch:
                continue
            if self.process.poll() is not None:
                # The process is gone: read what it wrote last, then stop.
                tail = self._read_lines()
                for event in tail:
                    if event.get("event") in TERMINAL_EVENTS:
                        self._terminal = event
                    yield event
                if not tail:
                    break
            else:
                time.sleep(poll)
        if self._terminal is None:
            # The worker died without a word (killed, or it could not start): record that.
            yield self._died()

    def _died(self) -> dict[str, Any]:
        code = self.process.returncode
        self._worker_log.seek(0)
        tail = self._worker_log.read()[-2000:]
        status = "cancelled" if code in (EXIT_CANCELLED, -signal.SIGTERM, -signal.SIGKILL) else None
        with self._lock:
            store = self._store()
            try:
                if status == "cancelled":
                    self._record(store, "cancelled", None, "")
                    event: dict[str, Any] = {"event": "cancelled", "run": self.run_id}
                else:
                    error = f"the {self.what} process exited with code {code}: {tail.strip()}"
                    self._record(store, "failed", error, tail)
                    event = {"event": "failed", "run": self.run_id, "error": error}
            finally:
                store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        self._terminal = event
        return event

    def wait(self, on_event: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Follow the run to its end; returns its row."""
        for event in self.events():
            if on_event is not None:
                on_event(event)
        return self.result()

    def cancel(self, timeout: float = 15.0) -> None:
        """Stop the run: SIGTERM (the worker cleans up and records `cancelled`), then SIGKILL
        after `timeout` seconds. Nothing of the run stays on disk except a finished model, if
        the worker had already finished when the signal came."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.wait()
        with self._lock:
            store = self._store()
            try:
                self._record(store, "cancelled", None, "")  # no-op if the worker recorded it
            finally:
                store.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def close(self) -> None:
        self._progress.close()
        self._worker_log.close()


class TrainingRun(WorkerRun):
    """A training process and its progress stream."""

    what = "training"

    @property
    def tmp(self) -> Path:
        return tmp_dir(self.project_path, self.run_id)

    def _record(self, store: Store, status: RunStatus, error: str | None, log: str) -> None:
        store.end_run(self.run_id, status, error=error, log=log)

    def result(self) -> dict[str, Any]:
        """The run's row as stored now (status, counts, scores, model_path, log, promoted)."""
        store = self._store()
        try:
            return store.get_run(self.run_id)
        finally:
            store.close()


def spawn_worker(
    module: str, project_path: Path, run_id: int, tmp: Path, args: list[str], nice: int
) -> tuple[subprocess.Popen[bytes], IO[str], IO[str]]:
    """Start `python -m module` with its temporary folder `tmp` (created here; it must not
    exist) and its progress file in it; returns the process, the progress file open for
    reading and the worker's log. The worker gets --project, --run, --tmp, --progress and
    --nice, then `args`. On an error the caller records the run and removes `tmp`."""
    tmp.mkdir(parents=True, exist_ok=False)
    progress_path = tmp / "progress.jsonl"
    progress_path.touch()
    # Opened before the worker starts: the worker deletes its folder when it finishes, and an
    # open file stays readable after that.
    progress = open(progress_path, encoding="utf-8")  # noqa: SIM115 (closed by close())
    worker_log = open(tmp / "worker.log", "w+", encoding="utf-8")  # noqa: SIM115
    # One BLAS thread: the model's matrices are small, and threads only add contention on a
    # machine shared with annotators (bench/model.py measures the same setting).
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "--project",
            str(project_path.resolve()),
            "--run",
            str(run_id),
            "--tmp",
            str(tmp.resolve()),
            "--progress",
            str(progress_path.resolve()),
            "--nice",
            str(nice),
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=worker_log,
        stderr=subprocess.STDOUT,
        env=env,
        # Its own session: a Ctrl-C meant for the app does not kill the worker half-way;
        # cancelling is explicit (WorkerRun.cancel).
        start_new_session=True,
    )
    return process, progress, worker_log


def start_training(
    project: Project,
    *,
    max_steps: int | None = None,
    policy: Policy | None = None,
    fraction: float = 1.0,
    purpose: RunPurpose = "train",
    nice: int = 5,
    pretrained: PretrainedChoice | None = None,
    silver: SilverChoice | None = None,
) -> TrainingRun:
    """Start a training run in a new process and return at once. `pretrained` says whether
    the ner starts from the latest pretrained tok2vec weights ("latest") or from scratch
    ("off"); by default the pretrained_tok2vec setting decides. `silver` ("auto", "on",
    "off"; default: the silver setting) says whether the LLM's proposals on unreviewed texts
    train too (core/training/silver.py; "auto": trained both ways, the better on gold kept).

    Raises TrainingBusyError when another run of the project is in progress.
    """
    store = project.store
    reap_stale_runs(store, project.path)
    steps = project.settings.train_max_steps if max_steps is None else max_steps
    chosen: Policy = policy or project.settings.policy
    tok2vec: PretrainedChoice = pretrained or project.settings.pretrained_tok2vec
    with_silver: SilverChoice = silver or project.settings.silver
    run_id = store.create_run(
        config="",
        counts={"policy": chosen, "max_steps": steps, "fraction": fraction, "silver": with_silver},
        purpose=purpose,
    )
    if run_id is None:
        busy = store.running_runs()
        raise TrainingBusyError(
            f"training run {busy[0]['id'] if busy else '?'} is still in progress; "
            "wait for it or cancel it"
        )
    tmp = tmp_dir(project.path, run_id)
    try:
        process, progress, worker_log = spawn_worker(
            "nerloop.core.training.worker",
            project.path,
            run_id,
            tmp,
            [
                "--max-steps",
                str(steps),
                "--policy",
                chosen,
                "--fraction",
                str(fraction),
                "--purpose",
                purpose,
                "--pretrained",
                tok2vec,
                "--silver",
                with_silver,
            ],
            nice,
        )
    except BaseException as exc:
        store.end_run(run_id, "failed", error=f"could not start: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.update_run(run_id, pid=process.pid)
    return TrainingRun(project.path, run_id, process, progress, worker_log)


def follow(run: WorkerRun, on_event: Callable[[dict[str, Any]], None] | None) -> dict[str, Any]:
    """Wait for a run to end, passing its events on; returns its row. Ctrl-C cancels it."""
    try:
        return run.wait(on_event)
    except KeyboardInterrupt:
        run.cancel()
        raise
    finally:
        run.close()


def train(
    project: Project,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Train and wait (the command line): returns the run's row. Ctrl-C cancels the run."""
    return follow(start_training(project, **options), on_event)


def maybe_retrain(project: Project) -> TrainingRun | None:
    """Start a background retraining run when `retrain_every` accepted answers have come in
    since the last run started and no run is in progress; otherwise return None.

    The new model replaces the one in use only if it scores no worse on gold (the worker
    decides, see promote.py). Nobody needs to follow the returned run: the worker records its
    own result, and a thread here reaps the process when it ends.
    """
    every = project.settings.retrain_every
    if every <= 0:
        return None
    store = project.store
    reap_stale_runs(store, project.path)
    if store.running_runs():
        return None
    since = store.count_accepted() - (store.accepted_at_last_run() or 0)
    if since < every:
        return None
    try:
        run = start_training(project, purpose="retrain", nice=10)
    except TrainingBusyError:
        return None

    def reap() -> None:
        run.process.wait()

    threading.Thread(target=reap, name=f"nerloop-retrain-{run.run_id}", daemon=True).start()
    return run
