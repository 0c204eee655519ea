"""The soak's concurrency phase: N headless annotators (the app's core path, no screen) for S
seconds on one project while `nerloop import` of a large file and `nerloop train` run on it too.
No task may be answered twice, no answer lost, and no "database is locked" (or any error) may
reach anyone.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.soak.common import Failures
from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from tests.helpers.reliability_helpers import (
    LogCheck,
    annotation_project,
    annotator_cmd,
    heard,
    heard_spans,
    start_nerloop,
    wait_for_log,
    write_jsonl,
)


def concurrency_phase(
    work: Path, annotators: int, seconds: float, imported: int, train_steps: int
) -> dict[str, Any]:
    fails = Failures()
    project = annotation_project(work / "conc", n_texts=3000)
    # Imported annotations: enough answers for a training run from the start.
    opened = Project.open(project)
    texts = [heard(400_000 + i) for i in range(300)]
    import_file(
        opened,
        write_jsonl(work / "answered.jsonl", [{"text": t, "spans": heard_spans(t)} for t in texts]),
    )
    opened.close()
    db = project / "nerloop.db"
    big = write_jsonl(work / "more.jsonl", [{"text": heard(500_000 + i)} for i in range(imported)])
    logs = [work / f"conc-{i}.log" for i in range(annotators)]
    started = time.monotonic()
    procs = [
        subprocess.Popen(
            annotator_cmd(project, f"ann{i}", logs[i], "--seconds", str(seconds), "--seed", str(i)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(annotators)
    ]
    for log in logs:
        wait_for_log(log, "start", timeout=300)
    time.sleep(min(5.0, seconds / 6))
    importer = start_nerloop("import", str(big), "-p", str(project))
    trainer = start_nerloop("train", "-p", str(project), "--max-steps", str(train_steps), "--json")
    outs = [p.communicate(timeout=seconds + 600) for p in procs]
    imp = importer.communicate(timeout=900)
    trn = trainer.communicate(timeout=900)
    elapsed = time.monotonic() - started
    for i, (p, (out, err)) in enumerate(zip(procs, outs, strict=True)):
        fails.check(p.returncode == 0, f"annotator {i} exit {p.returncode}: {err[-500:]}")
        fails.check("locked" not in (out + err).lower(), f"annotator {i} saw 'locked'")
    fails.check(importer.returncode == 0, f"import exit {importer.returncode}: {imp[1][-500:]}")
    fails.check(f"{imported} added" in imp[0], f"import output: {imp[0][-300:]}")
    fails.check("locked" not in (imp[0] + imp[1]).lower(), "import saw 'locked'")
    train_status = None
    with contextlib.suppress(ValueError):
        train_status = json.loads(trn[0]).get("status")
    fails.check(trainer.returncode == 0, f"train exit {trainer.returncode}: {trn[1][-500:]}")
    fails.check("locked" not in (trn[0] + trn[1]).lower(), "train saw 'locked'")
    check = LogCheck(db, logs)
    fails.check(check.integrity == "ok", f"integrity {check.integrity}")
    fails.check(not check.missing(), f"missing {check.missing()[:5]}")
    fails.check(not check.answered_twice(), f"answered twice {check.answered_twice()}")
    names = {f"ann{i}" for i in range(annotators)}
    fails.check(check.unlogged(names) == 0, f"{check.unlogged(names)} answers nobody logged")
    per = Counter(e["annotator"] for e in check.answers)
    return {
        "annotators": annotators,
        "seconds": seconds,
        "elapsed_seconds": round(elapsed, 1),
        "answers_checked": sum(len(e["answer_ids"]) for e in check.answers),
        "answer_events": len(check.answers),
        "undos_checked": len(check.undos),
        "answers_per_annotator": dict(sorted(per.items())),
        "answers_per_second": round(len(check.answers) / seconds, 1),
        "imported_texts": imported,
        "import_exit": importer.returncode,
        "train_exit": trainer.returncode,
        "train_status": train_status,
        "train_steps": train_steps,
        "answered_twice": len(check.answered_twice()),
        "failures": fails.items,
    }
