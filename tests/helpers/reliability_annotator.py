"""An annotator process for the crash and concurrency tests (and bench/soak).

Two modes, both on the same core path as the app (`Project.open`, `proposers_for`, `Queue`,
`Session`), both writing a side log: one JSON line per answer or undo, written and flushed
AFTER the session call returned (i.e. after the answer was committed and would be shown as
done), so a line in the log is a claim "the annotator saw this as accepted":

- `--mode headless`: the annotate loop without a screen (fetch when the buffer is low, answer
  at random, sometimes undo), as fast as it can go or until `--seconds` / `--max-answers`.
- `--mode tui`: the real Textual app (`create_app(...).run()`) on the terminal it is started
  on (a pseudo-terminal in the tests); keys come from whoever drives the terminal. The only
  addition is a wrapper around `AnnotatePane.action_answer` / `action_undo` that writes the
  side log after the real handler returns.

Each log line: {"ev": "answer"|"undo", "pid", "annotator", "kind", "proposal_ids",
"answer_ids"}. A first line {"ev": "start"} is written once the session is ready, and
{"ev": "end", "reason"} when the loop stops by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from nerloop.core.annotate.queue import Queue
from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import spacy_tokenizer
from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for


class SideLog:
    def __init__(self, path: Path, annotator: str) -> None:
        self.file: IO[str] = path.open("a", encoding="utf-8")
        self.annotator = annotator

    def write(self, ev: str, **fields: Any) -> None:
        line = {"ev": ev, "pid": os.getpid(), "annotator": self.annotator, **fields}
        self.file.write(json.dumps(line) + "\n")
        # Flushed to the OS at once: a SIGKILL after this point cannot lose the line.
        self.file.flush()


def last_given(session: Session) -> tuple[str, list[int]]:
    given = session._history[-1]  # the session's own record of what it just stored
    return given.answer, list(given.answer_ids)


def answered(session: Session, log: SideLog, kind: str, before: int, pids: list[int]) -> None:
    """Log an answer the session just committed (if it did)."""
    if session.answered > before:
        stored_kind, ids = last_given(session)
        log.write("answer", kind=stored_kind, proposal_ids=pids, answer_ids=ids)


def run_headless(project: Project, args: argparse.Namespace, log: SideLog) -> str:
    rng = random.Random(args.seed)
    queue = Queue(
        project.store.path,  # type: ignore[arg-type]
        project.taxonomy,
        project.settings,
        args.annotator,
        list(proposers_for(project)),
    )
    session = Session(project.store, queue, spacy_tokenizer(project.nlp))
    session.set_pass(args.label_pass)
    log.write("start", session=session.session_id)
    deadline = time.monotonic() + args.seconds if args.seconds else None
    n = 0
    reason = "max_answers"
    idle_since: float | None = None
    try:
        while args.max_answers == 0 or n < args.max_answers:
            if deadline is not None and time.monotonic() > deadline:
                reason = "time"
                break
            if session.wants_more():
                fetch = queue.fetch(session.label_pass, args.fetch_size, session.held())
                session.add_tasks(fetch.tasks)
                if fetch.empty is not None and session.current() is None:
                    if fetch.empty.reason in ("finished", "no_texts", "no_source"):
                        reason = fetch.empty.reason
                        break
                    # Leased by others or a proposer failed: wait as the app does, shorter.
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > args.idle_limit:
                        reason = f"idle:{fetch.empty.reason}"
                        break
                    time.sleep(0.2)
                    continue
            shown = session.current()
            if shown is None:
                continue
            idle_since = None
            if session.can_undo and rng.random() < args.undo_rate:
                kind, ids = last_given(session)
                if session.undo():
                    log.write("undo", kind=kind, answer_ids=ids)
                continue
            kind = rng.choice(("accept", "accept", "reject", "ignore"))
            pids = [p.id for p in shown.question.proposals]
            before = session.answered
            session.answer(kind)  # type: ignore[arg-type]
            answered(session, log, kind, before, pids)
            n += 1
            if args.pause:
                time.sleep(rng.uniform(0, args.pause))
    finally:
        session.close()
    return reason


def run_tui(project: Project, args: argparse.Namespace, log: SideLog) -> str:
    from nerloop.tui.app import create_app
    from nerloop.tui.panes.annotate import AnnotatePane

    real_answer: Callable[[AnnotatePane, str], None] = AnnotatePane.action_answer
    real_undo: Callable[[AnnotatePane], None] = AnnotatePane.action_undo

    def action_answer(pane: AnnotatePane, kind: str) -> None:
        shown = pane.session.current()
        pids = [p.id for p in shown.question.proposals] if shown is not None else []
        before = pane.session.answered
        real_answer(pane, kind)
        answered(pane.session, log, kind, before, pids)

    def action_undo(pane: AnnotatePane) -> None:
        session = pane.session
        if not session.can_undo:
            # A new app's `u` takes back the annotator's last stored question (an earlier
            # app's answers): log those answers as undone too, for the checks.
            last = session.store.last_question_answered(session.queue.annotator)
            real_undo(pane)
            if last is not None:
                ids = [answer_id for answer_id, _ in last[2]]
                marks = ",".join("?" * len(ids))
                live = session.store.query(
                    f"SELECT 1 FROM answers WHERE undoes IN ({marks}) LIMIT 1", ids
                )
                if live:
                    log.write("undo", kind="stored", answer_ids=ids)
            return
        given = last_given(session)
        before = session.answered
        real_undo(pane)
        if session.answered < before:
            log.write("undo", kind=given[0], answer_ids=given[1])

    AnnotatePane.action_answer = action_answer  # type: ignore[method-assign,assignment]
    AnnotatePane.action_undo = action_undo  # type: ignore[method-assign,assignment]
    app = create_app(project, args.annotator)
    log.write("start", session=app.session.session_id)
    app.run()
    return "quit"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--project", type=Path, required=True)
    p.add_argument("--annotator", required=True)
    p.add_argument("--log", type=Path, required=True, help="the side log (JSON lines)")
    p.add_argument("--mode", choices=("headless", "tui"), default="headless")
    p.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: never)")
    p.add_argument("--max-answers", type=int, default=0, help="stop after N answers (0: never)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--undo-rate", type=float, default=0.05)
    p.add_argument("--pause", type=float, default=0.0, help="up to this many s between answers")
    p.add_argument("--fetch-size", type=int, default=8)
    p.add_argument("--label-pass", default=None, help="one label's pass (default: all labels)")
    p.add_argument("--idle-limit", type=float, default=10.0)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    log = SideLog(args.log, args.annotator)
    project = Project.open(args.project)
    try:
        runner = run_tui if args.mode == "tui" else run_headless
        reason = runner(project, args, log)
    finally:
        project.close()
    log.write("end", reason=reason)
    return 0


if __name__ == "__main__":
    sys.exit(main())
