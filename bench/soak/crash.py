"""The soak's crash phase: the real Textual app (`nerloop annotate`'s app, run by
tests/helpers/reliability_annotator.py --mode tui on an 80x24 pseudo-terminal) fed y/n/space/u
keys and killed with SIGKILL at a random moment, again and again on one project; then
`nerloop import` processes killed half-way, which must store all of the file or none of it.

After every kill: PRAGMA integrity_check, every answer the app showed as done (its side log) is
stored as logged, no proposal has two live answers, and the new app's first answers are to
questions nobody had answered when it started (it carries on where the last one stopped).
"""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from bench.soak.common import Failures
from nerloop.core.store import Store
from tests.helpers.reliability_helpers import (
    NERLOOP,
    LogCheck,
    TuiProcess,
    annotation_project,
    heard,
    live_answers,
    read_log,
    wait_for_log,
    write_jsonl,
)


def answers_in(log: Path) -> int:
    return sum(1 for e in read_log(log) if e["ev"] == "answer")


def crash_phase(work: Path, kills: int, import_kills: int, rng: random.Random) -> dict[str, Any]:
    fails = Failures()
    project = annotation_project(work / "crash", n_texts=max(200, kills * 12))
    db = project / "nerloop.db"
    logs: list[Path] = []
    survived = 0
    shown_done = 0
    carried_on = 0
    keys_sent = 0
    started = time.monotonic()
    for k in range(kills):
        log = work / f"crash-{k}.log"
        logs.append(log)
        answered_before = {a["proposal_id"] for a in live_answers(db)}
        tui = TuiProcess(project, "ann", log)
        try:
            if not fails.check(wait_for_log(log, "start"), f"kill {k}: the app did not start"):
                continue
            target = rng.randint(1, 25)
            stalled = 0
            while tui.proc.poll() is None:
                seen = answers_in(log)
                if seen >= target or stalled >= (300 if seen else 4000):
                    break
                tui.send(rng.choice("yyyn u" if rng.random() < 0.1 else "yyn "))
                keys_sent += 1
                time.sleep(rng.uniform(0.0, 0.03))
                stalled = 0 if answers_in(log) > seen else stalled + 1
            # The kill lands at a random moment while keys are still arriving.
            for _ in range(rng.randint(0, 8)):
                tui.send(rng.choice("yn "))
                keys_sent += 1
            time.sleep(rng.uniform(0.0, 0.05))
        finally:
            tui.kill()
        fails.check(tui.proc.returncode == -signal.SIGKILL, f"kill {k}: exit {tui.proc.returncode}")
        check = LogCheck(db, logs, k + 1)
        ok = all(
            [
                fails.check(check.integrity == "ok", f"kill {k}: integrity {check.integrity}"),
                fails.check(not check.missing(), f"kill {k}: missing {check.missing()[:5]}"),
                fails.check(
                    not check.answered_twice(), f"kill {k}: twice {check.answered_twice()}"
                ),
                fails.check(
                    check.unlogged({"ann"}) <= k + 1,
                    f"kill {k}: {check.unlogged({'ann'})} answers nobody logged",
                ),
            ]
        )
        mine = [e for e in read_log(log) if e["ev"] == "answer"]
        if mine:
            repeat = set(mine[0]["proposal_ids"]) & answered_before
            carried_on += fails.check(not repeat, f"kill {k}: asked again {repeat}")
        shown_done += len(mine)
        survived += ok
        print(f"  kill {k + 1}/{kills}: {len(mine)} answers shown, checks ok={ok}", flush=True)
    final = LogCheck(db, logs, kills)

    # Imports killed half-way: all or nothing.
    imports_ok = 0
    n = 8000
    big = write_jsonl(work / "big.jsonl", [{"text": heard(200_000 + i)} for i in range(n)])
    wal = db.with_name("nerloop.db-wal")
    for k in range(import_kills):
        store = Store(db)
        before = store.count_texts()
        store.close()
        proc = subprocess.Popen(
            [*NERLOOP, "import", str(big), "-p", str(project)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.0, 6.0))  # startup takes a few seconds; land anywhere
        base = wal.stat().st_size if wal.exists() else 0
        while proc.poll() is None and (wal.stat().st_size if wal.exists() else 0) <= base:
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.2))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = Store(db)
        after = store.count_texts()
        integrity = store.integrity_check()
        store.close()
        imports_ok += fails.check(
            integrity == "ok" and after in (before, before + n),
            f"import kill {k}: {before} -> {after} texts, integrity {integrity}",
        )
        big = write_jsonl(
            work / "big.jsonl", [{"text": heard(300_000 + 10_000 * k + i)} for i in range(n)]
        )
    return {
        "kills": kills,
        "kills_survived": survived,
        "answers_shown_done": shown_done,
        "answers_checked": len([a for e in final.answers for a in e["answer_ids"]]),
        "undos_checked": len(final.undos),
        "reopened_and_carried_on": carried_on,
        "keys_sent": keys_sent,
        "unlogged_in_flight": final.unlogged({"ann"}),
        "import_kills": import_kills,
        "import_kills_all_or_nothing": imports_ok,
        "seconds": round(time.monotonic() - started, 1),
        "failures": fails.items,
    }
