"""Training runs (one row a run: config, data counts, scores, log, model path, status) and the
reads that turn the answers into training data."""

from __future__ import annotations

import json
from typing import Any, Literal

from nerloop.core.store.annotations import LIVE_ANSWERS
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


class RunsMixin(StoreBase):
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
        with self.write():
            if exclusive and self.scalar("SELECT 1 FROM runs WHERE status = 'running' LIMIT 1"):
                return None
            cur = self.db.conn.execute(
                "INSERT INTO runs (status, config, counts, purpose) VALUES ('running', ?, ?, ?)",
                (config, dumps(counts), purpose),
            )
            return int(cur.lastrowid or 0)

    def update_run(self, run_id: int, **fields: Any) -> None:
        """Set some of: pid, config, counts, scores, log, model_path (dicts stored as JSON)."""
        allowed = {"pid", "config", "counts", "scores", "log", "model_path"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update run fields {sorted(unknown)}")
        if not fields:
            return
        values = [dumps(v) if isinstance(v, dict) else v for v in fields.values()]
        assignments = ", ".join(f"{k} = ?" for k in fields)
        with self.write():
            self.db.conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*values, run_id])

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
        with self.write():
            current = self.scalar("SELECT status FROM runs WHERE id = ?", [run_id])
            if current is None:
                raise KeyError(f"no run {run_id}")
            if current != "running":
                return False
            self.update_run(run_id, **fields)
            self.db.conn.execute(
                "UPDATE runs SET status = ?, promoted = ?, "
                "finished = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
                (status, int(promoted), run_id),
            )
            return True

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

    def count_accepted(self) -> int:
        return int(self.scalar(f"SELECT count(*) FROM ({LIVE_ANSWERS}) WHERE answer = 'accept'"))

    # -- training data -------------------------------------------------------------------------

    def training_rows(self) -> list[dict[str, Any]]:
        """Every proposal on every pool text that has at least one live answer: a row for each
        of its live answers (answer, answer_id and the edited span a_start/a_end/a_token_start/
        a_token_end), or one row with all of those None when it is unanswered; in text, then
        proposal, then answer order. Each row also carries the text (text_id, text,
        input_hash). Every live answer, not only a proposal's latest: core.answer_spans weighs
        them, as it does for the exports."""
        return self.query(
            f"WITH live AS ({LIVE_ANSWERS}), answered_texts AS ("
            " SELECT DISTINCT p.text_id FROM live l JOIN proposals p ON p.id = l.proposal_id"
            " JOIN texts t ON t.id = p.text_id WHERE t.split = 'pool')"
            ' SELECT p.id AS proposal_id, p.label, p.start, p."end", p.token_start, p.token_end,'
            " p.source, p.score, t.id AS text_id, t.text, t.input_hash,"
            ' a.id AS answer_id, a.answer, a.start AS a_start, a."end" AS a_end,'
            " a.token_start AS a_token_start, a.token_end AS a_token_end"
            " FROM answered_texts x JOIN texts t ON t.id = x.text_id"
            " JOIN proposals p ON p.text_id = t.id"
            " LEFT JOIN live a ON a.proposal_id = p.id"
            " ORDER BY t.id, p.id, a.id"
        )

    def coverage_of_answered_texts(self) -> set[tuple[int, str, str]]:
        """(text_id, label, source) of every proposer run recorded over a pool text that has
        answers: a source that ran over a text and found nothing leaves only this trace."""
        rows = self.db.conn.execute(
            f"WITH live AS ({LIVE_ANSWERS}) SELECT c.text_id, c.label, c.source"
            " FROM proposer_coverage c WHERE c.text_id IN ("
            " SELECT DISTINCT p.text_id FROM live l JOIN proposals p ON p.id = l.proposal_id)"
        ).fetchall()
        return {(int(r[0]), str(r[1]), str(r[2])) for r in rows}
