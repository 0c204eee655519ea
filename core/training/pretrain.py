"""tok2vec pretraining on the pool's raw text: start, watch and cancel runs, each a separate
process (pretrain_worker.py) run through the training runner's machinery, and which weights
a training run starts from.

    run = start_pretraining(project, epochs=10)   # returns at once; the worker pretrains
    for event in run.events():                    # texts, epoch ..., then done/failed/cancelled
        ...
    row = run.result()                            # status, weights_path, counts, losses
    row = pretrain(project, on_event=print)       # the same, waiting (the command line)
    usable_weights(project)                       # (latest usable run or None, why not)

Training uses the weights when Settings.pretrained_tok2vec is "latest" (worker.py), and
records which it used in its run's counts.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerloop.core.training.runner import (
    WorkerRun,
    follow,
    models_dir,
    reap_stale,
    spawn_worker,
)

if TYPE_CHECKING:
    from nerloop.core.project import Project
    from nerloop.core.store import Store
    from nerloop.core.store.runs import RunStatus

DEFAULT_EPOCHS = 30
"""Epochs of a run unless told otherwise: with the default training budget, 30 epochs gained
over training from scratch at every checkpoint measured, where 10 gained less (figures in
bench/RESULTS.md, "Pretraining"). A run reads epochs x the texts' words, so its time grows
with both; it runs once per project (or when the pool has grown a lot)."""
DEFAULT_MAX_TEXTS = 10_000
"""Texts of a run at most unless told otherwise (a seeded sample of a larger pool): about the
size of the pool the default epochs were measured on, which bounds a default run's time
(bench/RESULTS.md, "Pretraining"). Whether all of a larger pool for fewer epochs does better
than a sample was not measured."""


NO_POOL_TEXTS = "the pool has no texts: pretraining reads the pool's raw text (nerloop import)"


class PretrainBusyError(RuntimeError):
    """Another pretraining run is in progress in this project."""


def pretrain_tmp_dir(project_path: Path, run_id: int) -> Path:
    # Inside models/ so the final rename is on one file system, hence atomic.
    return models_dir(project_path) / f".pretrain-{run_id}.tmp"


def reap_stale_pretrain_runs(store: Store, project_path: Path) -> list[int]:
    """Mark pretraining runs whose process is gone as failed and remove their temporary
    folders."""
    return reap_stale(
        store.running_pretrain_runs(),
        lambda run_id: store.finish_pretrain_run(
            run_id, "failed", error="the pretraining process died"
        ),
        lambda run_id: pretrain_tmp_dir(project_path, run_id),
    )


class PretrainRun(WorkerRun):
    """A pretraining process and its progress stream."""

    what = "pretraining"

    @property
    def tmp(self) -> Path:
        return pretrain_tmp_dir(self.project_path, self.run_id)

    def _record(self, store: Store, status: RunStatus, error: str | None, log: str) -> None:
        store.finish_pretrain_run(self.run_id, status, error=error, log=log)

    def result(self) -> dict[str, Any]:
        """The run's row as stored now (status, weights_path, counts, losses, error, log)."""
        store = self._store()
        try:
            return store.get_pretrain_run(self.run_id)
        finally:
            store.close()


def start_pretraining(
    project: Project,
    *,
    epochs: int = DEFAULT_EPOCHS,
    max_texts: int | None = DEFAULT_MAX_TEXTS,
    seed: int = 0,
    nice: int = 5,
) -> PretrainRun:
    """Start pretraining the ner's tok2vec on the pool's texts (at most `max_texts` of them, a
    seeded sample; None for all) in a new process, and return at once.

    Raises PretrainBusyError when another pretraining run of the project is in progress, and
    TrainingDataError when the pool is empty.
    """
    from nerloop.core.training.data import TrainingDataError

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, not {epochs}")
    store = project.store
    if not store.has_texts("pool"):  # said at once, before a process is started for nothing
        raise TrainingDataError(NO_POOL_TEXTS)
    reap_stale_pretrain_runs(store, project.path)
    run_id = store.create_pretrain_run(counts={"epochs": epochs, "max_texts": max_texts})
    if run_id is None:
        busy = store.running_pretrain_runs()
        raise PretrainBusyError(
            f"pretraining run {busy[0]['id'] if busy else '?'} is still in progress; "
            "wait for it or cancel it"
        )
    tmp = pretrain_tmp_dir(project.path, run_id)
    args = ["--epochs", str(epochs), "--max-texts", str(max_texts or 0), "--seed", str(seed)]
    try:
        process, progress, worker_log = spawn_worker(
            "nerloop.core.training.pretrain_worker", project.path, run_id, tmp, args, nice
        )
    except BaseException as exc:
        store.finish_pretrain_run(run_id, "failed", error=f"could not start: {exc}")
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    store.update_pretrain_run(run_id, pid=process.pid)
    return PretrainRun(project.path, run_id, process, progress, worker_log)


def pretrain(
    project: Project,
    on_event: Callable[[dict[str, Any]], None] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Pretrain and wait (the command line): returns the run's row. Ctrl-C cancels the run."""
    return follow(start_pretraining(project, **options), on_event)


def usable_weights(project: Project) -> tuple[dict[str, Any] | None, str | None]:
    """The latest finished pretraining run, if training can start from its weights; else
    (None, why not). Weights made for another tok2vec architecture (ner.cfg changed since)
    would not load, and weights made for another language's tokenizer would mean little."""
    from nerloop.core.training.config import load_run_config, ner_tok2vec_section

    row = project.store.latest_pretrain_run()
    if row is None:
        return None, "no pretrained tok2vec yet (nerloop pretrain makes one)"
    where = f"pretraining run {row['id']}"
    if not Path(row["weights_path"]).is_file():
        return None, f"the weights of {where} are gone ({row['weights_path']})"
    if row["counts"].get("tok2vec") != ner_tok2vec_section(load_run_config({})):
        return None, f"{where} made weights for another tok2vec architecture: pretrain again"
    lang = project.taxonomy.lang
    if row["counts"].get("lang") != lang:
        made = row["counts"].get("lang")
        return None, f"{where} pretrained on '{made}' text, the project is '{lang}': pretrain again"
    return row, None
