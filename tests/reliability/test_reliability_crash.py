"""Crash safety: the real annotate app (Textual, on a pseudo-terminal) killed with SIGKILL while
keys are coming in, and an import killed half-way.

What the app showed as done is what its side log says (a line written after the key handler
returned, see reliability_annotator.py); every such answer must be in the database, the file
must pass PRAGMA integrity_check, and the app opened again must carry on with questions nobody
has answered. bench/soak runs the same with 50+ kills.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from nerloop.core.store import Store
from tests.helpers.reliability_helpers import (
    NERLOOP,
    LogCheck,
    TuiProcess,
    annotation_project,
    heard,
    integrity,
    live_answers,
    read_log,
    wait_for_log,
    write_jsonl,
)

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "SIGKILL"), reason="needs POSIX signals and pseudo-terminals"
)


def answers_in(log: Path) -> int:
    return sum(1 for e in read_log(log) if e["ev"] == "answer")


def type_until(
    tui: TuiProcess, log: Path, target: int, rng: random.Random, *, undo: bool = True
) -> None:
    """Press y/n/space (and now and then u, with `undo`) until the log holds `target` answers
    or the app stops answering; polling only, nothing here depends on how fast it goes."""
    stalled = 0
    seen = answers_in(log)
    # Patient before the first answer (start-up and the first fetch may be slow on a busy
    # machine), then stop if answers stop coming (the queue ran dry).
    while seen < target and stalled < (400 if seen else 4000) and tui.proc.poll() is None:
        tui.send(rng.choice("yyyn u" if undo and rng.random() < 0.1 else "yyn "))
        time.sleep(0.02)
        now = answers_in(log)
        stalled = 0 if now > seen else stalled + 1
        seen = now


def test_the_app_killed_mid_keystrokes_keeps_every_answer_it_showed(tmp_path: Path) -> None:
    project = annotation_project(tmp_path / "proj", n_texts=80)
    db = project / "nerloop.db"
    rng = random.Random(7)
    logs: list[Path] = []
    kills = 0
    for round_ in range(1):
        log = tmp_path / f"tui-{round_}.log"
        logs.append(log)
        tui = TuiProcess(project, "ann", log)
        try:
            assert wait_for_log(log, "start"), tui.screen[-2000:]
            type_until(tui, log, rng.randint(4, 15), rng)
            # The kill lands while more keys are still arriving.
            for _ in range(rng.randint(1, 6)):
                tui.send(rng.choice("yn "))
        finally:
            tui.kill()
        kills += 1
        assert tui.proc.returncode == -signal.SIGKILL
        check = LogCheck(db, logs, kills)
        assert answers_in(log) > 0, "the app answered nothing before the kill"
        assert check.integrity == "ok"
        assert check.missing() == []
        assert check.answered_twice() == {}
        assert check.unlogged({"ann"}) <= kills

    # Opened again, the app carries on: its first answers are to questions nobody answered.
    answered_before = {a["proposal_id"] for a in live_answers(db)}
    log = tmp_path / "tui-reopen.log"
    tui = TuiProcess(project, "ann", log)
    try:
        assert wait_for_log(log, "start")
        # No u here: a new app's u takes back an earlier app's answer (issue 14) and asks it
        # again on purpose; this checks that nothing else is asked twice.
        type_until(tui, log, 5, rng, undo=False)
    finally:
        tui.kill()
    reopened = [e for e in read_log(log) if e["ev"] == "answer"]
    assert reopened, tui.screen[-2000:]
    for e in reopened:
        assert not set(e["proposal_ids"]) & answered_before, e
    check = LogCheck(db, [*logs, log], kills + 1)
    assert check.integrity == "ok" and check.missing() == [] and check.answered_twice() == {}


def test_an_import_killed_half_way_stores_all_or_nothing(tmp_path: Path) -> None:
    project = annotation_project(tmp_path / "proj", n_texts=20)
    db = project / "nerloop.db"
    wal = db.with_name("nerloop.db-wal")
    before = len(live_answers(db))
    n = 15_000
    big = write_jsonl(tmp_path / "big.jsonl", [{"text": heard(100_000 + i)} for i in range(n)])
    base = wal.stat().st_size if wal.exists() else 0
    proc = subprocess.Popen(
        [*NERLOOP, "import", str(big), "-p", str(project)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Kill once the import's transaction has started writing pages (they spill into the WAL
    # before the commit); if it finished first, the all-or-nothing check still holds.
    while proc.poll() is None and (wal.stat().st_size if wal.exists() else 0) <= base + 65536:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert integrity(db) == "ok"
    store = Store(db)  # opening runs recovery of the WAL, as the next command would
    try:
        assert store.count_texts() in (20, 20 + n)
    finally:
        store.close()
    assert len(live_answers(db)) == before
