"""The soak's bad-input phase: every file of tests/data/bad/cases.json and a 5 MB text through
a real `nerloop import`, and damaged databases through stats/import/export. Each refused input
must give the expected exit code and FILE:LINE:field messages, no traceback, no terminal
controls, and leave what was stored as it was.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.soak.common import Failures
from tests.helpers.reliability_helpers import (
    BAD,
    apply_settings_case,
    run_nerloop,
    seed_project,
    snapshot,
    terminal_controls,
    write_jsonl,
)

DAMAGES = ("truncated", "header", "table_pages", "newer_schema")


def nerloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The 900 s the soak has always allowed a command (the tests allow 300 s).
    return run_nerloop(*args, env=env, timeout=900)


def damage(db: Path, how: str) -> None:
    """Damage `db` one of the DAMAGES ways, after folding its WAL in so the file holds it all."""
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    if how == "newer_schema":
        conn.execute("PRAGMA user_version = 999")
        conn.commit()
    pages = [
        r[0]
        for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name IN "
            "(SELECT name FROM sqlite_master WHERE tbl_name = 'texts')"
        )
    ]
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with db.open("r+b") as f:
        if how == "truncated":
            f.truncate(db.stat().st_size // 2)
        elif how == "header":
            f.write(b"not a database " * 8)
        elif how == "table_pages":
            for page in pages:
                f.seek((page - 1) * size)
                f.write(b"\xff\x00" * (size // 2))


def bad_inputs_phase(work: Path) -> dict[str, Any]:
    fails = Failures()
    cases = json.loads((BAD / "cases.json").read_text("utf-8"))
    template = seed_project(work / "bad-seed")
    tried = 0
    exit_codes: Counter[int] = Counter()

    def fresh(name: str) -> Path:
        target = work / f"bad-{name}"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(template, target)
        return target

    for case in cases["refused"]:
        proj = fresh(case["file"])
        db = proj / "nerloop.db"
        before = snapshot(db)
        path = BAD / case["file"]
        if case.get("taxonomy"):
            shutil.copyfile(path, proj / "taxonomy.toml")
            res = nerloop("stats", "-p", str(proj))
            messages = case["messages"]
        else:
            res = nerloop("import", str(path), "-p", str(proj), *case.get("args", []))
            messages = [m.format(file=path) for m in case["messages"]]
        out = res.stdout + res.stderr
        tried += 1
        exit_codes[res.returncode] += 1
        fails.check(res.returncode == case["exit"], f"{case['file']}: exit {res.returncode}")
        for m in messages:
            fails.check(m in out, f"{case['file']}: no {m!r} in {out[-300:]!r}")
        fails.check("Traceback" not in out, f"{case['file']}: traceback")
        fails.check(snapshot(db) == before, f"{case['file']}: stored data changed")
        if terminal_controls(out):
            fails.check(
                False, f"{case['file']}: terminal controls in output {terminal_controls(out)}"
            )
    for case in cases.get("settings", []):
        proj = fresh("settings")
        db = proj / "nerloop.db"
        before = snapshot(db)
        res = nerloop("stats", "-p", str(proj), env=apply_settings_case(proj, case))
        out = res.stdout + res.stderr
        what = f"setting {case.get('env') or case.get('toml') or 'nerloop.toml folder'}"
        tried += 1
        exit_codes[res.returncode] += 1
        fails.check(res.returncode == 1, f"{what}: exit {res.returncode}")
        for m in case["messages"]:
            fails.check(m in out, f"{what}: no {m!r} in {out[-300:]!r}")
        fails.check("Traceback" not in out, f"{what}: traceback")
        fails.check(snapshot(db) == before, f"{what}: stored data changed")
    for case in cases["stored"]:
        proj = fresh(case["file"])
        before = snapshot(proj / "nerloop.db")
        res = nerloop("import", str(BAD / case["file"]), "-p", str(proj))
        tried += 1
        exit_codes[res.returncode] += 1
        after = snapshot(proj / "nerloop.db")
        fails.check(res.returncode == 0, f"{case['file']}: exit {res.returncode}")
        fails.check(
            len(after["texts"]) == len(before["texts"]) + case["texts"],
            f"{case['file']}: texts {len(before['texts'])} -> {len(after['texts'])}",
        )
        fails.check(
            all(after[t][: len(r)] == r for t, r in before.items()),
            f"{case['file']}: stored rows changed",
        )
    # A 5 MB text.
    proj = fresh("big")
    unit = "heard wheat bid 250 usd/t fob rouen · 小麦 · 🌾\n"
    big_text = (unit * (5 * 1024 * 1024 // len(unit.encode()) + 1)).rstrip("\n")
    path = write_jsonl(work / "5mb.jsonl", [{"text": big_text}])
    res = nerloop("import", str(path), "-p", str(proj))
    tried += 1
    exit_codes[res.returncode] += 1
    fails.check(res.returncode == 0 and "1 added" in res.stdout, f"5 MB text: {res.stderr[-300:]}")
    # Damaged databases.
    for how in DAMAGES:
        proj = fresh(f"db-{how}")
        db = proj / "nerloop.db"
        damage(db, how)
        damaged = db.read_bytes()
        for args in (
            ["stats"],
            ["import", str(BAD / "bom.jsonl")],
            ["export", str(work / f"x-{how}.jsonl"), "--format", "prodigy"],
        ):
            res = nerloop(*args, "-p", str(proj))
            out = res.stdout + res.stderr
            tried += 1
            exit_codes[res.returncode] += 1
            fails.check(res.returncode == 1, f"db {how} {args[0]}: exit {res.returncode}")
            fails.check(str(db) in out, f"db {how} {args[0]}: file not named: {out[-300:]!r}")
            fails.check("Traceback" not in out, f"db {how} {args[0]}: traceback")
            fails.check(db.read_bytes() == damaged, f"db {how} {args[0]}: file changed")
    return {
        "inputs_tried": tried,
        "corpus_files": len(cases["refused"]) + len(cases["stored"]) + 1,
        "damaged_databases": len(DAMAGES),
        "exit_codes": {str(k): v for k, v in sorted(exit_codes.items())},
        "failures": fails.items,
    }
