"""TUI latency: key press to next question, and start-up to the first question, at scale.

    python -m bench.tui_latency [--texts 1000000] [--presses 300] [--passes PRICE,all,PRICE+train]

1. Generates (once; reused while the counts match) a project with N texts and 2N proposals:
   per text an LLM proposal of the price and a model proposal of the port with a random score,
   both for PRICE, so the PRICE pass walks the informativeness index (model first) and asks each
   text's two spans together. Bulk inserts through `Store.bulk_add_texts/bulk_add_proposals`.
2. For each label pass (PRICE; "all" = the all-labels pass, where the rule label's proposer
   runs as texts come up), runs the real `nerloop annotate` on an 80x24 pseudo-terminal
   (tests/helpers/pty_app.py) and times what the terminal receives: start-up, from starting the
   command to the first question's bytes (`--startups` runs); then `--presses` keys (y, n, space in
   turn, `--think` seconds apart), each from writing the key's byte to reading the next
   question's bytes back. CPU per press comes from /proc (all threads, and the event loop's).
   "PRICE+train" is the PRICE pass again with `nerloop train` running all the while (the 2
   cores shared with a training process, as when the app retrains in the background).
3. Times the queue's background fetch in-process, prints the figures, writes
   bench/out/tui_latency.json, and replaces the "TUI latency" section of bench/RESULTS.md.

Targets: p99 < 50 ms per key, start-up < 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from bench import results_md
from tests.helpers.pty_app import QUESTION, PtyApp, cpu_ticks, nerloop_command, plain_text

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SECTION = "## TUI latency"

TAXONOMY = """\
[project]
lang = "en"

[labels.COMMODITY]
kind = "rule"
description = "A traded commodity."
terms = ["wheat", "corn", "barley"]

[labels.PRICE]
kind = "ner"
description = "A price with its currency and unit."

[labels.LOCATION]
kind = "ner"
description = "A port or delivery location."
"""
GOODS = ["wheat", "corn", "barley", "rapeseed", "soybeans", "sugar", "brent", "naphtha"]
PORTS = ["rouen", "santos", "rotterdam", "constanta", "odessa", "paranagua", "novo", "hamburg"]
MONTHS = ["jan", "feb", "march", "april", "may", "june", "july", "aug", "sept", "oct", "nov"]


def heards(n: int) -> Iterator[tuple[str, int, int, int, int]]:
    """(text, price start, price end, port start, port end) for n distinct texts."""
    rng = random.Random(7)
    for i in range(n):
        good, port, month = rng.choice(GOODS), rng.choice(PORTS), rng.choice(MONTHS)
        price = f"{rng.randint(100, 900)} usd/t"
        head = f"heard {good} bid "
        p0 = len(head)
        p1 = p0 + len(price)
        mid = f"{head}{price} fob "
        l0 = len(mid)
        text = f"{mid}{port} {month} lot {i}"
        yield text, p0, p1, l0, l0 + len(port)


def generate(project_dir: Path, n: int) -> dict[str, float]:
    from nerloop.core.project import Project
    from nerloop.core.records import NewProposal, input_hash

    taxonomy = project_dir.parent / "tui_latency_taxonomy.toml"
    project_dir.mkdir(parents=True, exist_ok=True)
    taxonomy.write_text(TAXONOMY, "utf-8")
    project = Project.init(project_dir, taxonomy)
    store = project.store
    if store.count_texts() == n and store.count_proposals() == 2 * n:
        project.close()
        return {"reused": 1.0}
    if store.count_texts():
        raise SystemExit(f"{project_dir} holds another data set: remove it first")
    t = time.perf_counter()
    store.bulk_add_texts(h[0] for h in heards(n))
    t_texts = time.perf_counter() - t
    first_id = int(store.scalar("SELECT min(id) FROM texts"))
    rng = random.Random(11)

    def proposals() -> Iterator[tuple[NewProposal, int]]:
        for i, (text, p0, p1, l0, l1) in enumerate(heards(n)):
            text_id, h = first_id + i, input_hash(text)
            # Token indices as spaCy's English tokenizer splits these texts
            # (heard, good, bid, 250, usd, /, t, fob, port, ...).
            yield NewProposal(text_id, "PRICE", p0, p1, 3, 6, "llm", "bench"), h
            score = rng.random()
            yield NewProposal(text_id, "PRICE", l0, l1, 8, 8, "model", "bench", score=score), h

    t = time.perf_counter()
    store.bulk_add_proposals(proposals())
    t_props = time.perf_counter() - t
    project.close()
    return {"texts_s": round(t_texts, 1), "proposals_s": round(t_props, 1)}


SETTINGS = """\
# Written by bench/tui_latency.py: no retraining in the background while it measures, so every
# run measures the same thing (a retraining process would share the 2 cores with the app).
retrain_every = 0
"""


def settle_project(project_dir: Path) -> str:
    """Pin the project's settings (SETTINGS) and say which model is in use: the Annotate tab
    loads it only when a text needs its proposals, but a project with one is the usual case."""
    (project_dir / "nerloop.toml").write_text(SETTINGS, "utf-8")
    conn = sqlite3.connect(project_dir / "nerloop.db")
    try:
        row = conn.execute(
            "SELECT id FROM runs WHERE promoted = 1 ORDER BY id DESC LIMIT 1"
        ).fetchone()
    finally:
        conn.close()
    return f"run-{row[0]}" if row else "none"


def answer_rows(db: Path) -> int:
    conn = sqlite3.connect(str(db))
    try:
        return int(conn.execute("SELECT count(*) FROM answers").fetchone()[0])
    finally:
        conn.close()


def startups(project_dir: Path, label: str | None, runs: int) -> list[float]:
    """Seconds from starting `nerloop annotate` to its first question on the terminal."""
    out = []
    for _ in range(runs):
        app = PtyApp(nerloop_command(project_dir, "bench", label))
        try:
            _, t = app.read_until(QUESTION, timeout=120)
            out.append(t - app.started)
            app.drain(0.3)
        finally:
            app.stop()
    return out


def presses_on_pty(
    project_dir: Path, label: str | None, presses: int, think: float
) -> dict[str, object]:
    """Key press to next question, as read back from the terminal, over `presses` keys."""
    db = project_dir / "nerloop.db"
    before = answer_rows(db)
    app = PtyApp(nerloop_command(project_dir, "bench", label))
    pid = app.proc.pid
    keys = [b"y", b"n", b" "]
    latencies: list[float] = []
    sizes: list[int] = []
    waits = 0
    try:
        m, _ = app.read_until(QUESTION, timeout=120)
        app.drain(0.5)  # start-up's own work (the first counts) is not a key's
        shown = m.group(0)
        ticks, main_ticks = cpu_ticks(pid), cpu_ticks(pid, pid)
        t_loop = time.perf_counter()
        for i in range(presses):
            app.mark()
            bytes_before = app.total_bytes
            t = app.send(keys[i % 3])
            m, t_read = app.read_until(QUESTION, timeout=30, not_equal=shown)
            latencies.append((t_read - t) * 1000)
            shown = m.group(0)
            # "Fetching" on screen between the key and the question: the buffer ran dry.
            waits += b"Fetching" in plain_text(bytes(app.out))
            app.drain(think)
            sizes.append(app.total_bytes - bytes_before)
        loop_s = time.perf_counter() - t_loop
        ticks, main_ticks = cpu_ticks(pid) - ticks, cpu_ticks(pid, pid) - main_ticks
    finally:
        code = app.stop()
    hz = os.sysconf("SC_CLK_TCK")
    lat = sorted(latencies)
    sizes.sort()
    return {
        "presses": len(lat),
        "think_s": think,
        "median_ms": round(statistics.median(lat), 2),
        "p90_ms": round(lat[int(0.9 * (len(lat) - 1))], 2),
        "p99_ms": round(lat[int(0.99 * (len(lat) - 1))], 2),
        "max_ms": round(lat[-1], 2),
        "cpu_ms_per_press": round(ticks * 1000 / hz / presses, 2),
        "main_thread_cpu_ms_per_press": round(main_ticks * 1000 / hz / presses, 2),
        "loop_s": round(loop_s, 1),
        "bytes_per_press_median": sizes[len(sizes) // 2],
        "bytes_per_press_max": sizes[-1],
        "waits": waits,
        "answers_in_db": answer_rows(db) - before,
        "exit_code": code,
    }


def fetch_times(project_dir: Path, label: str | None, fetches: int) -> dict[str, object]:
    """The queue's background fetch (claim and lease 8 tasks) on its own, in this process."""
    from nerloop.core.annotate.queue import Queue
    from nerloop.core.project import Project
    from nerloop.core.proposers.registry import proposers_for

    project = Project.open(project_dir)
    assert project.store.path is not None
    queue = Queue(
        project.store.path,
        project.taxonomy,
        project.settings,
        "bench-fetch",
        lambda: proposers_for(project),
    )
    times = []
    held: list[object] = []
    try:
        for _ in range(fetches):
            t = time.perf_counter()
            fetch = queue.fetch(label, 8)
            times.append((time.perf_counter() - t) * 1000)
            held.extend(task.key for task in fetch.tasks)
        for key in held:
            queue.release(project.store, key)  # type: ignore[arg-type]
        plans = {
            src: project.store.claim_plan("PRICE", src).splitlines()[0] for src in ("model", "llm")
        }
    finally:
        project.close()
    times.sort()
    return {
        "fetch_ms_median": round(statistics.median(times), 1),
        "fetch_ms_max": round(times[-1], 1),
        "claim_plans": plans,
    }


class BackgroundTraining:
    """`nerloop train` on the project, as the app's retraining would run it (its own process,
    nice 5), for the length of a pass; cancelled with Ctrl-C afterwards, which leaves no model
    behind. Its steps are many more than a pass lasts, so it trains the whole time."""

    def __init__(self, project_dir: Path) -> None:
        script = Path(sys.executable).parent / "nerloop"
        argv = [str(script), "train", "-p", str(project_dir), "--max-steps", "100000"]
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.proc.stdout is not None
        # Wait for its first progress line: the worker is training from then on.
        for line in self.proc.stdout:
            if line.startswith("step"):
                break
        else:
            raise SystemExit(f"nerloop train ended before training: exit {self.proc.wait()}")
        # The rest of its output is not read; a pipe that fills would stall the parent only.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        return self.proc.wait(timeout=120)


def measure(
    project_dir: Path, presses: int, think: float, label: str | None, runs: int, train: bool
) -> dict[str, object]:
    training = BackgroundTraining(project_dir) if train else None
    out: dict[str, object] = {}
    try:
        starts = startups(project_dir, label, runs)
        out |= {
            "label_pass": (label or "all labels") + (", training" if train else ""),
            "startup_s": [round(x, 3) for x in starts],
            "startup_median_s": round(statistics.median(starts), 3),
            "startup_max_s": round(max(starts), 3),
        }
        out.update(presses_on_pty(project_dir, label, presses, think))
        out["load_during"] = round(os.getloadavg()[0], 1)
    finally:
        if training is not None:
            out["training_exit"] = training.stop()
    out.update(fetch_times(project_dir, label, 20))
    return out


def write_results(fig: dict[str, object], command: str) -> None:
    passes = fig["passes"]
    assert isinstance(passes, list)
    head = "| measure | " + " | ".join(f"{p['label_pass']} pass" for p in passes) + " | target |"
    rows = [
        ("start-up to first question, median (runs)", "startup_median_s", " s", "< 2 s"),
        ("start-up to first question, max", "startup_max_s", " s", ""),
        ("key press to next question, median", "median_ms", " ms", ""),
        ("key press to next question, p90", "p90_ms", " ms", ""),
        ("key press to next question, p99", "p99_ms", " ms", "< 50 ms"),
        ("key press to next question, max", "max_ms", " ms", ""),
        ("CPU per key press, whole process", "cpu_ms_per_press", " ms", ""),
        ("CPU per key press, event-loop thread", "main_thread_cpu_ms_per_press", " ms", ""),
        ("bytes written to the terminal per key press, median", "bytes_per_press_median", "", ""),
        ("presses that showed 'Fetching' (buffer ran dry)", "waits", "", "0"),
        ("answers committed / keys pressed", "answers_in_db", "", ""),
        ("1-minute load average after the presses", "load_during", "", ""),
        ("background fetch (claim + lease 8 tasks), median", "fetch_ms_median", " ms", ""),
        ("background fetch, max", "fetch_ms_max", " ms", ""),
    ]
    table = [head, "|---|" + "---:|" * len(passes) + "---:|"]
    for title, key, unit, target in rows:
        cells = []
        for p in passes:
            value = p.get(key, "–")
            if key == "startup_median_s":
                value = f"{value}{unit} ({len(p['startup_s'])})"
            elif key == "answers_in_db":
                value = f"{value} / {p['presses']}"
            else:
                value = f"{value}{unit}"
            cells.append(str(value))
        table.append(f"| {title} | " + " | ".join(cells) + f" | {target} |")
    first = passes[0]
    plans = "; ".join(f"{k}: `{v}`" for k, v in first["claim_plans"].items())
    lines = [
        SECTION,
        "",
        f"Command: `{command}` ({fig['date']}, {fig['cores']} cores, load average "
        f"{fig['load']} at start and {fig['load_after']} at the end, CPython "
        f"{platform.python_version()}). Figures in bench/out/tui_latency.json.",
        "",
        f"Project: {fig['texts']:,} texts, {fig['proposals']:,} proposals (PRICE: an LLM and a "
        "model proposal per text, model scores random, so the PRICE pass walks the "
        "informativeness index; COMMODITY is a rule label, proposed as the all-labels pass "
        "reaches each text). The real `nerloop annotate` runs on an 80x24 pseudo-terminal; "
        "every figure is what the terminal received: from writing a key's byte to reading back "
        "the bytes that draw the next question, or from starting the command to the first "
        f"question. {first['presses']} presses a pass (y, n, space in turn, "
        f"{first['think_s']} s after each question appeared). Model in use: "
        f"{fig.get('model_in_use', '?')} (loaded only when a text needs its proposals); no "
        "retraining in the background (`retrain_every = 0`). Python's bytecode cache on, as "
        "after any first run; the run's first start (which writes the cache when it is "
        "missing) took "
        f"{fig.get('first_start_s', '?')} s (all labels). A pass marked training ran with "
        "`nerloop train` (a separate process at nice 5, as the app's retraining) training from "
        "before its first start-up to after its last key, then cancelled.",
        "",
        *table,
        "",
        "Every answer was committed before its next question was drawn (the count of new "
        f"answer rows equals the keys pressed). Claim query plans: {plans}. CPU figures are "
        "from /proc (clock ticks summed over the presses). The machine is shared: wall-clock "
        "figures include whatever else ran (see the load averages).",
        "",
        "Earlier runs timed each key through Textual's Pilot (`await pilot.press`), which "
        "waits for the process to go idle after the key, in steps of at least 20 ms, twice: "
        "about 67 ms a key on an idle machine whatever the app does, so it could not check a "
        "50 ms target. The pseudo-terminal times the app alone, as an annotator's terminal "
        "sees it.",
        "",
    ]
    results_md.write_section(SECTION[3:], "\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--presses", type=int, default=300)
    parser.add_argument("--startups", type=int, default=5, help="start-up runs per pass")
    parser.add_argument(
        "--think", type=float, default=0.2, help="seconds between an answer and the next key"
    )
    parser.add_argument(
        "--passes",
        default="PRICE,all,PRICE+train",
        help="label passes to measure (all = all labels; +train: with `nerloop train` running)",
    )
    parser.add_argument("--dir", type=Path, default=OUT / "tui_latency")
    parser.add_argument("--no-results", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--results-only",
        action="store_true",
        help="rewrite the RESULTS.md section from bench/out/tui_latency.json, measure nothing",
    )
    args = parser.parse_args()
    project_dir = args.dir / "project"
    if args.results_only:
        fig0 = json.loads((OUT / "tui_latency.json").read_text("utf-8"))
        write_results(fig0, fig0.get("command", "python -m bench.tui_latency"))
        return
    load = round(os.getloadavg()[0], 1)
    gen = generate(project_dir, args.texts)
    model = settle_project(project_dir)
    print(f"project ready: {gen}, model in use: {model}", flush=True)
    # As an annotator's Python does: modules compiled once and read from __pycache__ after.
    # (This machine's environment sets PYTHONDONTWRITEBYTECODE, which would make every start
    # compile nerloop's own modules again: about 0.3 s.) The first start writes the cache and
    # is reported apart.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    first_start = round(startups(project_dir, None, 1)[0], 3)
    measured = []
    for name in args.passes.split(","):
        base, _, train = name.partition("+")
        label = None if base == "all" else base
        m = measure(project_dir, args.presses, args.think, label, args.startups, train == "train")
        print(json.dumps(m), flush=True)
        measured.append(m)
    command = "python -m bench.tui_latency" + "".join(
        f" {flag} {value}"
        for flag, value, default in (
            ("--texts", args.texts, 1_000_000),
            ("--presses", args.presses, 300),
            ("--think", args.think, 0.2),
            ("--passes", args.passes, "PRICE,all,PRICE+train"),
        )
        if value != default
    )
    fig: dict[str, object] = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "cores": os.cpu_count(),
        "load": load,
        "load_after": round(os.getloadavg()[0], 1),
        "texts": args.texts,
        "proposals": 2 * args.texts,
        "generate": gen,
        "model_in_use": model,
        "first_start_s": first_start,
        "passes": measured,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "tui_latency.json").write_text(json.dumps(fig, indent=2), "utf-8")
    print(json.dumps(fig, indent=2))
    if not args.no_results:
        write_results(fig, command)


if __name__ == "__main__":
    main()
