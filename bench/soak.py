"""The reliability soak: the long versions of tests/test_reliability_*.py.

    .venv/bin/python bench/soak.py              # >= 50 kills, 8 annotators x 60 s, all bad
                                                #   inputs, 500 LLM faults (about 15 min)
    .venv/bin/python bench/soak.py --quick      # a few of each (about 2 min), no RESULTS.md
    .venv/bin/python bench/soak.py --only crash,faults

Phases:
- crash: the real Textual app (`nerloop annotate`'s app, tests/reliability_annotator.py --mode
  tui) on a pseudo-terminal of 80x24, fed y/n/space/u keys, killed with SIGKILL at a random
  moment, again and again on one project; plus `nerloop import` processes killed half-way.
  After every kill: PRAGMA integrity_check, every answer the app showed as done (its side log)
  is stored as logged, no proposal has two live answers, and each new app's answers are to
  questions nobody had answered when it started (it carries on where the last one stopped).
- concurrency: N headless annotators (the app's core path, no screen) for S seconds on one
  project, with `nerloop import` of a large file and `nerloop train` running at the same time:
  no task answered twice, no answer lost, no "database is locked" reaching anyone.
- bad_inputs: every file of tests/data/bad/cases.json through a real `nerloop import` process,
  and damaged databases (truncated, header overwritten, table pages overwritten, newer schema)
  through stats/import/export: the exit code and FILE:LINE:field messages, nothing stored lost.
- faults: the LLM proposer through the real client against the fake server at concurrency 8,
  with a seeded random mix of faults: bounded retries, errors counted, no wrong span stored.

Writes bench/out/soak.json and (full runs) the "Reliability" section of bench/RESULTS.md.
Exits 1 if any check failed (the failures are listed in the JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import results_md

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tests"))

from fake_llm import FakeLLM, Fault  # noqa: E402
from reliability_helpers import (  # noqa: E402
    BAD,
    LogCheck,
    TuiProcess,
    annotation_project,
    annotator_cmd,
    heard,
    heard_spans,
    init_project,
    live_answers,
    read_log,
    seed_project,
    snapshot,
    terminal_controls,
    wait_for_log,
    write_jsonl,
)

OUT = HERE / "out" / "soak.json"
SECTION = "Reliability"
NERLOOP = [sys.executable, "-c", "from nerloop.tui.cli import main; main()"]


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.items.append(what)
            print(f"  FAIL {what}", flush=True)
        return ok


def nerloop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NERLOOP, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=900,
    )


# -- crash ---------------------------------------------------------------------------------------


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
        from nerloop.core.store import Store

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


# -- concurrency ---------------------------------------------------------------------------------


def concurrency_phase(
    work: Path, annotators: int, seconds: float, imported: int, train_steps: int
) -> dict[str, Any]:
    fails = Failures()
    project = annotation_project(work / "conc", n_texts=3000)
    # Imported annotations: enough answers for a training run from the start.
    from nerloop.core.ingest import import_file
    from nerloop.core.project import Project

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
    importer = subprocess.Popen(
        [*NERLOOP, "import", str(big), "-p", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    trainer = subprocess.Popen(
        [*NERLOOP, "train", "-p", str(project), "--max-steps", str(train_steps), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
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


# -- bad inputs ----------------------------------------------------------------------------------


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
            res = nerloop("import", str(path), "-p", str(proj))
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
    import sqlite3

    def damage(db: Path, how: str) -> None:
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

    for how in ("truncated", "header", "table_pages", "newer_schema"):
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
        "damaged_databases": 4,
        "exit_codes": {str(k): v for k, v in sorted(exit_codes.items())},
        "failures": fails.items,
    }


# -- LLM faults ----------------------------------------------------------------------------------


def faults_phase(work: Path, n_faults: int, rng: random.Random) -> dict[str, Any]:
    import test_reliability_llm_faults as lf

    from nerloop.core.config import load_settings
    from nerloop.core.ingest import import_file
    from nerloop.core.llm import LLMClient
    from nerloop.core.proposers.llm import LLMProposer

    fails = Failures()
    project = init_project(work / "faults")
    n_texts = max(100, n_faults // 2)
    texts = [heard(i) for i in range(n_texts)] + lf.INJECTIONS
    import_file(project, write_jsonl(work / "ft.jsonl", [{"text": t} for t in texts]))
    kinds = ["429", "500", "503", "timeout", "close", "malformed", "truncated", "bad_body", "400"]
    weights = [30, 15, 10, 5, 10, 10, 10, 5, 5]
    faults: list[Fault] = []
    for _ in range(n_faults):
        kind = rng.choices(kinds, weights)[0]
        if kind == "429":
            faults.append(Fault("429", retry_after=rng.choice([None, "0", "1"])))
        elif kind == "timeout":
            faults.append(Fault("timeout", hang=1.0))
        else:
            faults.append(Fault(kind))
    responder = lf.Responder()
    sleeps = lf.Sleeps()
    max_retries = 3
    started = time.monotonic()
    with FakeLLM(responder=responder) as fake:
        fake.add_faults(*faults)
        settings = load_settings(
            project.path,
            llm_base_url=fake.url,
            llm_model="fake-model",
            llm_max_retries=max_retries,
            llm_concurrency=8,
            llm_timeout=0.5,
        )
        proposer = LLMProposer(
            project.store,
            project.taxonomy,
            settings,
            project.nlp,
            client_factory=lambda: LLMClient(settings, sleep=sleeps),
        )
        rounds: list[dict[str, Any]] = []
        crashed = None
        # Run again until every request has an answer (at most 6 rounds): a rerun asks again
        # exactly what failed, as `nerloop propose` run twice does.
        for _ in range(6):
            pool = project.store.iter_texts("pool")
            jobs = proposer.pending(pool, lf.LABELS, batch=False, limit=0)
            if not jobs:
                break
            try:
                rounds.append(asyncio.run(proposer.run(jobs)).as_dict())
            except Exception as exc:  # a crash fails this phase, it does not stop the soak
                crashed = f"{type(exc).__name__}: {exc}"
                break
        fails.check(crashed is None, f"the proposer crashed: {crashed}")
        left = len(
            proposer.pending(project.store.iter_texts("pool"), lf.LABELS, batch=False, limit=0)
        )
        calls = project.store.query("SELECT * FROM llm_calls")
        attempts = sum(c["attempts"] for c in calls)
        fails.check(
            fake.stats.chat_requests == attempts,
            f"HTTP attempts {fake.stats.chat_requests} != ledger attempts {attempts}",
        )
        most = max(c["attempts"] for c in calls)
        fails.check(most <= max_retries + 1, f"a request made {most} attempts")
        errors = sum(1 for c in calls if c["error"])
        counted = sum(r["errors"] for r in rounds)
        fails.check(errors == counted, f"errors counted {counted} != ledger error rows {errors}")
        try:
            stored = lf.check_stored_proposals(project, responder)
        except AssertionError as exc:
            fails.check(False, f"wrong span stored: {exc}")
            stored = 0
        fails.check(left == 0, f"{left} requests still failing after {len(rounds)} rounds")
        served = Counter(fake.stats.faults_served)
    project.close()
    return {
        "faults_injected": sum(served.values()),
        "faults_scripted": n_faults,
        "fault_mix": dict(served),
        "requests": len(calls),
        "http_attempts": attempts,
        "max_attempts": most,
        "errors_counted": errors,
        "rounds": len(rounds),
        "proposals_checked": stored,
        "retry_wait_max_s": max(sleeps.calls) if sleeps.calls else 0,
        "seconds": round(time.monotonic() - started, 1),
        "failures": fails.items,
    }


# -- report --------------------------------------------------------------------------------------


def section(fig: dict[str, Any], command: str) -> str:
    c, k, b, f = (fig.get(x, {}) for x in ("crash", "concurrency", "bad_inputs", "faults"))
    lines = [
        f"## {SECTION}",
        "",
        f"Command: `{command}` ({fig['date']}, {fig['machine']}). Figures in bench/out/soak.json;"
        " the checks are those of tests/test_reliability_*.py, run longer.",
        "",
        "| what | figure |",
        "|---|---:|",
    ]
    if c:
        lines += [
            f"| SIGKILLs of the real app (Textual on a pty, keys arriving) | {c['kills']} |",
            f"| kills survived (integrity ok, every answer shown as done is stored, none twice) "
            f"| {c['kills_survived']} |",
            f"| answers shown as done, checked against the DB | {c['answers_checked']} |",
            f"| reopened apps that carried on with unanswered questions | "
            f"{c['reopened_and_carried_on']} |",
            f"| answers committed but killed before shown (allowed: 1 per kill) | "
            f"{c['unlogged_in_flight']} |",
            f"| `nerloop import` killed half-way, all or nothing | "
            f"{c['import_kills_all_or_nothing']}/{c['import_kills']} |",
        ]
    if k:
        lines += [
            f"| annotator processes x seconds, with `nerloop import` ({k['imported_texts']:,} "
            f"texts) and `nerloop train` ({k['train_steps']} steps) at once | "
            f"{k['annotators']} x {k['seconds']:.0f} s |",
            f"| answers checked (rows), none lost | {k['answers_checked']} |",
            f"| tasks answered twice | {k['answered_twice']} |",
            f'| "database is locked" or other errors seen by anyone | '
            f"{sum('locked' in x or 'exit' in x for x in k['failures'])} |",
            f"| training run under load | exit {k['train_exit']}, {k['train_status']} |",
        ]
    if b:
        lines += [
            f"| bad inputs tried through real `nerloop` processes (corpus files, 5 MB text, "
            f"4 damaged DBs x 3 commands) | {b['inputs_tried']} |",
            f"| exit codes seen | {', '.join(f'{v} x {e}' for e, v in b['exit_codes'].items())} |",
        ]
    if f:
        lines += [
            f"| LLM faults injected (429, 5xx, timeouts, closed connections, truncated/malformed "
            f"JSON, bad bodies, 400) | {f['faults_injected']} |",
            f"| requests / HTTP attempts / most attempts for one request (bound {4}) | "
            f"{f['requests']} / {f['http_attempts']} / {f['max_attempts']} |",
            f"| errors counted and shown (then retried by rerunning) | {f['errors_counted']} |",
            f"| stored llm proposals checked (in the text, on token boundaries, returned by the "
            f"server) | {f['proposals_checked']} |",
        ]
    failed = [m.splitlines()[0] for x in (c, k, b, f) for m in x.get("failures", [])]
    lines += ["", f"Failed checks: {len(failed)}" + (":" if failed else ".")]
    lines += [f"- {m}" for m in failed]
    lines.append("")
    return "\n".join(lines)


def write_section(text: str) -> None:
    results_md.write_section(SECTION, text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a few of each; no RESULTS.md")
    ap.add_argument("--only", default="crash,concurrency,bad_inputs,faults")
    ap.add_argument("--kills", type=int, default=None)
    ap.add_argument("--annotators", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--faults", type=int, default=None)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument(
        "--report", action="store_true", help="rewrite the RESULTS.md section from soak.json"
    )
    args = ap.parse_args(argv)
    if args.report:
        saved = json.loads(OUT.read_text("utf-8"))
        write_section(section(saved, saved.get("command", "python bench/soak.py")))
        print(section(saved, saved.get("command", "python bench/soak.py")))
        return 0
    q = args.quick
    kills = args.kills or (3 if q else 50)
    annotators = args.annotators or (2 if q else 8)
    seconds = args.seconds or (8.0 if q else 60.0)
    n_faults = args.faults or (40 if q else 500)
    rng = random.Random(args.seed)
    phases: dict[str, Callable[[Path], dict[str, Any]]] = {
        "crash": lambda w: crash_phase(w, kills, 2 if q else 5, rng),
        "concurrency": lambda w: concurrency_phase(
            w, annotators, seconds, 2000 if q else 20_000, 20 if q else 100
        ),
        "bad_inputs": bad_inputs_phase,
        "faults": lambda w: faults_phase(w, n_faults, rng),
    }
    fig: dict[str, Any] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"CPython {platform.python_version()}",
        "quick": q,
        "seed": args.seed,
    }
    with tempfile.TemporaryDirectory(prefix="nerloop-soak-") as tmp:
        for name in args.only.split(","):
            print(f"== {name}", flush=True)
            work = Path(tmp) / name
            work.mkdir()
            try:
                fig[name] = phases[name](work)
            except Exception:
                fig[name] = {"failures": [traceback.format_exc()]}
            print(json.dumps({k: v for k, v in fig[name].items()}, indent=1), flush=True)
    command = ("python bench/soak.py " + " ".join(argv or sys.argv[1:])).strip()
    fig["command"] = command
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=2) + "\n", "utf-8")
    text = section(fig, command)
    print(text)
    full = not q and args.only == ap.get_default("only")
    if full:
        write_section(text)
        print(f"wrote {OUT.relative_to(REPO)} and the {SECTION} section of bench/RESULTS.md")
    failures = sum(len(fig.get(n, {}).get("failures", [])) for n in phases)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
