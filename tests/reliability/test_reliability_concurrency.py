"""Several annotator processes on one project while `nerloop import` writes a big file into it
and `nerloop train` trains on the answers.

The annotators are headless (reliability_annotator.py --mode headless: the app's own Project,
Queue and Session, without a screen), answering as fast as they can; the rule proposer runs
inside their fetches, so they also race each other to propose and mark coverage. Overlap is
off: no proposal may get two live answers, every answer an annotator logged must be stored, and
no "database is locked" (or any error) may reach anyone. bench/soak runs 8 annotators for
60 s with a larger import and a longer training run.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.store import Store
from tests.helpers.queue_helpers import FakeClock, add_texts, make_queue, make_session, propose
from tests.helpers.reliability_helpers import (
    LogCheck,
    annotation_project,
    annotator_cmd,
    heard,
    heard_spans,
    read_log,
    start_nerloop,
    write_jsonl,
)

ANNOTATORS = 3
ANSWERS_EACH = 30
IMPORTED = 2000


def test_annotators_and_an_import_at_once_lose_nothing_and_never_share_a_task(
    tmp_path: Path,
) -> None:
    project = annotation_project(tmp_path / "proj", n_texts=120)
    db = project / "nerloop.db"
    # Imported annotations on a few texts: something for the training run to train on.
    opened = Project.open(project)
    answered = [heard(90_000 + i) for i in range(20)]
    import_file(
        opened,
        write_jsonl(
            tmp_path / "answered.jsonl", [{"text": t, "spans": heard_spans(t)} for t in answered]
        ),
    )
    opened.close()
    big = write_jsonl(
        tmp_path / "more.jsonl", [{"text": heard(50_000 + i)} for i in range(IMPORTED)]
    )
    logs = [tmp_path / f"ann{i}.log" for i in range(ANNOTATORS)]
    procs = [
        subprocess.Popen(
            annotator_cmd(
                project,
                f"ann{i}",
                logs[i],
                "--max-answers",
                str(ANSWERS_EACH),
                "--seed",
                str(i),
                "--undo-rate",
                "0.1",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(ANNOTATORS)
    ]
    importer = start_nerloop("import", str(big), "-p", str(project))
    trainer = start_nerloop("train", "-p", str(project), "--max-steps", "5", "--json")
    outputs = [p.communicate(timeout=240) for p in procs]
    imported = importer.communicate(timeout=240)
    trained = trainer.communicate(timeout=240)

    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        assert "locked" not in (out + err).lower() and "Traceback" not in err, err
    assert importer.returncode == 0, imported[1]
    assert f"{IMPORTED} added" in imported[0]
    assert "locked" not in (imported[0] + imported[1]).lower()
    assert trainer.returncode == 0, trained[1]
    assert json.loads(trained[0])["status"] == "done"
    assert "locked" not in (trained[0] + trained[1]).lower()

    check = LogCheck(db, logs)
    assert check.integrity == "ok"
    for log in logs:
        events = read_log(log)
        assert events[-1] == {**events[-1], "ev": "end", "reason": "max_answers"}
        assert sum(e["ev"] == "answer" for e in events) == ANSWERS_EACH
    assert check.missing() == []
    assert check.answered_twice() == {}
    # No kills: every answer row in the database is one an annotator logged.
    assert check.unlogged({f"ann{i}" for i in range(ANNOTATORS)}) == 0


def test_undo_of_a_finished_task_never_hands_it_to_another_annotator(
    project: Project,
) -> None:
    """Found by the test above: undoing the last answer of a task committed the undo, then
    leased the task again in a second transaction; another annotator's claim in between got
    the task too, and both answered it. No other connection may ever see the answer taken back
    while the task is unleased."""
    (text_id,) = add_texts(project, ["heard wheat bid 250 usd/t fob rouen march"])
    pid = propose(project, text_id, "PRICE", "250 usd/t")
    clock = FakeClock()
    alice = make_session(project, make_queue(project, "alice", clock), clock)
    alice.add_tasks(alice.queue.fetch("PRICE", held=alice.held()).tasks)
    assert alice.answer("accept")  # the task is finished and its lease released
    db = project.store.path
    seen: list[tuple[int, int]] = []
    real_relet = alice.queue.relet

    def relet_and_look(store: Store, key: tuple[int, str]) -> None:
        # What another process sees just before the task is leased again.
        other = sqlite3.connect(str(db))
        undone = other.execute("SELECT count(*) FROM answers WHERE answer = 'undo'").fetchone()
        leased = other.execute("SELECT count(*) FROM leases WHERE text_id = ?", key[:1])
        seen.append((undone[0], leased.fetchone()[0]))
        other.close()
        real_relet(store, key)

    alice.queue.relet = relet_and_look  # type: ignore[method-assign]
    assert alice.undo()
    assert seen, "undo of a finished task must lease it again"
    assert all(not (undone and not leased) for undone, leased in seen), seen
    assert make_queue(project, "bob", clock).fetch("PRICE").tasks == []
    shown = alice.current()
    assert shown is not None and shown.question.first.id == pid
