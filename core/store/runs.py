"""Training runs (one row a run: config, data counts, scores, log, model path, status),
and tok2vec pretraining runs (weights path, config, texts, loss per epoch). The training data
itself is read from the answers (answered.py).

Both kinds of run have the same life: created `running` (one at a time of each kind), updated
by their worker process, closed once as done, failed or cancelled; the helpers below are that
life, shared."""

from __future__ import annotations

import json
from typing import Any, Literal

from nerloop.core.store.base import StoreBase, dumps

RunStatus = Literal["running", "done", "failed", "cancelled"]
RunPurpose = Literal["train", "retrain", "curve"]

# The run whose model is in use: the latest promoted one that finished with a model.
_PROMOTED = (
    "FROM runs WHERE promoted = 1 AND status = 'done' AND model_path IS NOT NULL"
    " ORDER BY id DESC LIMIT 1"
)


def _run_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in ("counts", "scores"):
        out[key] = json.loads(out[key] or "{}")
    out["promoted"] = bool(out["promoted"])
    return out


def _pretrain_row(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["counts"] = json.loads(out["counts"] or "{}")
    out["losses"] = json.loads(out["losses"] or "[]")
    return out


# The tables below are constants of this module, never user input, so they may be formatted
# into the SQL.
_RUN_NOUN = {"runs": "run", "pretrain_runs": "pretraining run"}
_RUN_FIELDS = {
    "runs": {"pid", "config", "counts", "scores", "log", "model_path"},
    "pretrain_runs": {"pid", "config", "counts", "losses", "log", "weights_path", "error"},
}


class _RunLife(StoreBase):
    """Create, update and close a row of a runs table (runs or pretrain_runs)."""

    def _create_running(self, table: str, values: dict[str, Any], exclusive: bool) -> int | None:
        with self.write():
            if exclusive and self.scalar(f"SELECT 1 FROM {table} WHERE status = 'running' LIMIT 1"):
                return None
            columns = ", ".join(["status", *values])
            marks = ", ".join(["'running'", *("?" for _ in values)])
            cur = self.db.conn.execute(
                f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                [dumps(v) if isinstance(v, dict | list) else v for v in values.values()],
            )
            return int(cur.lastrowid or 0)

    def _update_fields(self, table: str, run_id: int, fields: dict[str, Any]) -> None:
        unknown = set(fields) - _RUN_FIELDS[table]
        if unknown:
            raise ValueError(f"cannot update {table} fields {sorted(unknown)}")
        if not fields:
            return
        values = [dumps(v) if isinstance(v, dict | list) else v for v in fields.values()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.write():
            self.db.conn.execute(
                f"UPDATE {table} SET {assignments} WHERE id = ?", [*values, run_id]
            )

    def _finish_running(
        self, table: str, run_id: int, status: str, extra: dict[str, Any], fields: dict[str, Any]
    ) -> bool:
        with self.write():
            current = self.scalar(f"SELECT status FROM {table} WHERE id = ?", [run_id])
            if current is None:
                raise KeyError(f"no {_RUN_NOUN[table]} {run_id}")
            if current != "running":
                return False
            self._update_fields(table, run_id, fields)
            sets = "".join(f", {k} = ?" for k in extra)
            self.db.conn.execute(
                f"UPDATE {table} SET status = ?{sets}, "
                "finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                [status, *extra.values(), run_id],
            )
            return True


class RunsMixin(_RunLife):
    # -- runs ----------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        config: str,
        counts: dict[str, Any],
        purpose: RunPurpose = "train",
        exclusive: bool = True,
    ) -> int | None:
        """A new run in status `running`; returns its id (which names models/run-N). With
        `exclusive`, returns None instead when another run is running: checked and inserted in
        one write transaction, so two processes cannot both start one."""
        values = {"config": config, "counts": counts, "purpose": purpose}
        return self._create_running("runs", values, exclusive)

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set some of: pid, config, counts, scores, log, model_path (dicts stored as JSON)."""
        self._update_fields("runs", run_id, fields)

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        *,
        promoted: bool = False,
        **fields: Any,
    ) -> bool:
        """Close a run that is still running (a no-op on one already finished: a cancel racing a
        finish does not overwrite it). Returns True when this call closed it."""
        return self._finish_running("runs", run_id, status, {"promoted": int(promoted)}, fields)

    def end_run(
        self, run_id: int, status: RunStatus, *, error: str | None = None, log: str = ""
    ) -> bool:
        """Close a run that ended without a model (cancelled, or failed with `error`, which is
        kept in its scores, where the Train tab and `nerloop train` read it); a no-op on one
        already finished. The worker and the process watching it both close runs this way."""
        if error is None:
            return self.finish_run(run_id, status, log=log)
        return self.finish_run(run_id, status, log=log, scores={"error": error})

    def get_run(self, run_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM runs WHERE id = ?", [run_id])
        if not rows:
            raise KeyError(f"no run {run_id}")
        return _run_row(rows[0])

    def list_runs(self, limit: int = 50) -> list[dict[str, Any]]:
        """The latest runs, newest first."""
        return [
            _run_row(r) for r in self.query("SELECT * FROM runs ORDER BY id DESC LIMIT ?", [limit])
        ]

    def running_runs(self) -> list[dict[str, Any]]:
        return [
            _run_row(r)
            for r in self.query("SELECT * FROM runs WHERE status = 'running' ORDER BY id")
        ]

    def promoted_run(self) -> dict[str, Any] | None:
        """The run whose model is in use: the latest promoted one that finished."""
        rows = self.query(f"SELECT * {_PROMOTED}")
        return _run_row(rows[0]) if rows else None

    def promoted_run_id(self) -> int | None:
        """The id of `promoted_run()` alone: the annotation queue reads it on every fetch to
        notice a newly promoted model, and a run's log and config are large."""
        run_id = self.scalar(f"SELECT id {_PROMOTED}")
        return None if run_id is None else int(run_id)

    def accepted_at_last_run(self) -> int | None:
        """How many accepted answers there were when the latest train/retrain run started (from
        its counts), or None when there has been none."""
        raw = self.scalar(
            "SELECT counts FROM runs WHERE purpose IN ('train', 'retrain') "
            "AND status != 'failed' ORDER BY id DESC LIMIT 1"
        )
        if raw is None:
            return None
        return int(json.loads(raw).get("accepted_total", 0))


class PretrainRunsMixin(_RunLife):
    """tok2vec pretraining runs (core/training/pretrain.py): one runs at a time, and training
    uses the weights of the latest that finished (Settings.pretrained_tok2vec)."""

    def create_pretrain_run(self, *, counts: dict[str, Any]) -> int | None:
        """A new pretraining run in status `running`, or None when another one is running
        (checked and inserted in one write transaction)."""
        return self._create_running("pretrain_runs", {"counts": counts}, exclusive=True)

    def update_pretrain_run(self, run_id: int, **fields: Any) -> None:
        """Set some of: pid, config, counts, losses, log, weights_path, error."""
        self._update_fields("pretrain_runs", run_id, fields)

    def finish_pretrain_run(self, run_id: int, status: RunStatus, **fields: Any) -> bool:
        """Close a pretraining run that is still running (a no-op on one already finished);
        True when this call closed it."""
        return self._finish_running("pretrain_runs", run_id, status, {}, fields)

    def get_pretrain_run(self, run_id: int) -> dict[str, Any]:
        rows = self.query("SELECT * FROM pretrain_runs WHERE id = ?", [run_id])
        if not rows:
            raise KeyError(f"no pretraining run {run_id}")
        return _pretrain_row(rows[0])

    def running_pretrain_runs(self) -> list[dict[str, Any]]:
        return [
            _pretrain_row(r)
            for r in self.query("SELECT * FROM pretrain_runs WHERE status = 'running' ORDER BY id")
        ]

    def latest_pretrain_run(self) -> dict[str, Any] | None:
        """The latest pretraining run that finished with weights, or None."""
        rows = self.query(
            "SELECT * FROM pretrain_runs WHERE status = 'done' AND weights_path IS NOT NULL"
            " ORDER BY id DESC LIMIT 1"
        )
        return _pretrain_row(rows[0]) if rows else None
