"""The default loop run: every profile and seed in its own process, then one RESULTS section.

Each (profile, seed) is a `python -m bench.loop --profile P --seed S` child writing
bench/out/loop/P-seedS.json and its log beside it; the first seed runs every strategy, the
others the two that did best on it for that profile (or `--seed-strategies`). `--jobs`
children run at once (the trainings are single threaded, so two use the two cores).
Meanwhile this process trains the oracle curve. Then the figures are merged: a table per
profile, the seeds' mean and spread, the oracle, RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import results_md
from bench.loop.report import SECTION, markdown_tables

BENCH = Path(__file__).resolve().parents[1]
REPO = BENCH.parent


def child_argv(
    args: argparse.Namespace, profile: str, seed: int, strategies: str, out: Path
) -> list[str]:
    """The child's command line: this run's options for one profile and seed."""
    argv = [
        sys.executable, "-m", "bench.loop",
        "--profile", profile, "--seed", str(seed), "--strategies", strategies,
        "--out", str(out), "--oracle", "",
        "--train", str(args.train), "--test", str(args.test),
        "--gold-n", str(args.gold_n), "--max-steps", str(args.max_steps),
        "--chunk", str(args.chunk), "--ahead", str(args.ahead),
        "--recall", str(args.recall), "--invented", str(args.invented),
        "--surface-noise", str(args.surface_noise),
        "--reference-steps", str(args.reference_steps),
    ]  # fmt: skip
    if args.points:
        argv += ["--points", args.points]
    else:
        argv += ["--budget", str(args.budget), "--retrain-every", str(args.retrain_every)]
    if args.test_limit:
        argv += ["--test-limit", str(args.test_limit)]
    if args.per_label:
        argv.append("--per-label")
    if args.full_f:
        argv += ["--full-f", str(args.full_f)]
    return argv


def run_children(jobs: list[tuple[str, list[str], Path]], at_once: int) -> dict[str, int]:
    """Run the children, `at_once` at a time; their exit codes by name."""
    waiting = deque(jobs)
    running: list[tuple[str, subprocess.Popen[bytes], float]] = []
    codes: dict[str, int] = {}
    while waiting or running:
        while waiting and len(running) < max(1, at_once):
            name, argv, log = waiting.popleft()
            with log.open("wb") as f:
                proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
            running.append((name, proc, time.perf_counter()))
            print(f"[{name}] started (log {log})", flush=True)
        for item in list(running):
            name, proc, t0 = item
            if proc.poll() is not None:
                running.remove(item)
                codes[name] = proc.returncode
                print(
                    f"[{name}] exit {proc.returncode} after {time.perf_counter() - t0:.0f} s",
                    flush=True,
                )
        time.sleep(1.0)
    return codes


def seed_table(
    by_profile: dict[str, list[dict[str, Any]]], names: dict[str, list[str]]
) -> list[str]:
    """Mean and range of F at each effort point over the seeds, per profile and strategy."""
    rows = [
        "| LLM | strategy | effort | mean F | min-max | seeds |",
        "|---|---|---:|---:|---|---:|",
    ]
    for profile, reports in by_profile.items():
        for name in names.get(profile, []):
            at: dict[int, list[float]] = {}
            for report in reports:
                for r in report["strategies"]:
                    if r["strategy"] == name:
                        for p in r["points"]:
                            if p.get("f") is not None:
                                due = int(p.get("at", p["effort"]))
                                at.setdefault(due, []).append(float(p["f"]))
            for effort, fs in sorted(at.items()):
                rows.append(
                    f"| {profile} | {name} | {effort} | {statistics.mean(fs):.1f} "
                    f"| {min(fs):.1f}-{max(fs):.1f} | {len(fs)} |"
                )
    return rows


def cpu_minutes() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime) / 60


def section(merged: dict[str, Any]) -> str:
    first = next(iter(merged["profiles"].values()))
    cfg = first["config"]
    lines = [
        f"## {SECTION}",
        "",
        f"Command: `{merged['command']}` (at commit {merged['commit']})  ",
        f"Date: {merged['date']}; machine: {first['machine']}; total wall time "
        f"{merged['wall_s'] / 60:.1f} min, CPU time {merged['cpu_min']:.1f} min (all processes, "
        f"trainings included); {merged['jobs']} runs at once; 1-minute load average at the end "
        f"{merged['load_avg'][0]} (shared machine).",
        "",
        f"Dataset {first['dataset']}: pool {first['sizes']['pool']} texts (spans hidden), gold "
        f"split {first['sizes']['gold']} (model selection), test {first['sizes']['test']} "
        "(scored here only). The simulated annotator accepts iff span and label equal gold. "
        "Effort units: y, n, space, `a`, the flag key 1 each; a span marked in the editor 3. "
        f"Retrain and score at {', '.join(map(str, cfg['points']))} effort units, max_steps "
        f"{cfg['max_steps']} each; chunks of {cfg['chunk']} texts; the LLM proposes on "
        f"{cfg['ahead']} pool texts ahead for the silver strategies.",
        "",
    ]
    for profile, report in merged["profiles"].items():
        own = report.get("llm_on_test") or {}
        lines += [
            f"### {profile.capitalize()} LLM",
            "",
            f"Its own proposals on test: P {own.get('p')} R {own.get('r')} F {own.get('f')}. "
            "F on test (x100) against effort units:",
            "",
            markdown_tables(report),
        ]
        if report.get("findings"):
            lines += ["Findings (computed):", "", *[f"- {f}" for f in report["findings"]], ""]
        if report["png"]:
            lines += [f"![F against effort, {profile} LLM]({report['png']})", ""]
    lines += [
        "### Seeds",
        "",
        "For each LLM, the two strategies with the best mean F on the first seed, over seeds "
        f"{', '.join(map(str, merged['seeds']))} (each seed another pool order and other LLM "
        "noise): "
        + "; ".join(f"{p}: {', '.join(n)}" for p, n in merged["seed_strategies"].items())
        + ".",
        "",
        *merged["seed_rows"],
        "",
    ]
    if merged["oracle"]:
        lines += [
            "### Oracle",
            "",
            "The same training (max_steps as above, dev = the gold split) on the first N pool "
            "texts with all their gold spans: what N perfectly annotated texts buy. No strategy "
            "can beat it with N texts; at one effort unit a text at the very least (an `a` on a "
            "text whose proposals are all right), N texts cost at least N units.",
            "",
            "| texts | F |",
            "|---:|---:|",
            *[f"| {o['texts']} | {o['f']:.1f} |" for o in merged["oracle"]],
            "",
        ]
    return "\n".join(lines)


def run_many(args: argparse.Namespace, argv: list[str]) -> int:
    started = time.perf_counter()
    folder = args.out.parent / "loop"
    folder.mkdir(parents=True, exist_ok=True)
    outs: dict[tuple[str, int], Path] = {}
    all_strategies = args.strategies or ",".join(default_strategies())
    first, others = args.seed_list[0], args.seed_list[1:]

    def job(profile: str, seed: int, strategies: str) -> tuple[str, list[str], Path]:
        name = f"{profile}-seed{seed}"
        outs[(profile, seed)] = folder / f"{name}.json"
        argv = child_argv(args, profile, seed, strategies, outs[(profile, seed)])
        return name, argv, folder / f"{name}.log"

    codes: dict[str, int] = {}
    seed_names: dict[str, list[str]] = {}

    def all_runs() -> None:
        # The first seed runs every strategy; the other seeds repeat the two that did best on
        # it, for each profile (chosen from the figures, so that any dataset gets its own).
        codes.update(
            run_children([job(p, first, all_strategies) for p in args.profile_list], args.jobs)
        )
        later = []
        for profile in args.profile_list:
            out = outs[(profile, first)]
            chosen = args.seed_strategies or ",".join(best_two(out))
            seed_names[profile] = [s for s in chosen.split(",") if s]
            later += [job(profile, s, chosen) for s in others if chosen]
        codes.update(run_children(later, args.jobs))

    pool = threading.Thread(target=all_runs)
    pool.start()
    oracle: list[dict[str, Any]] = []
    if args.oracle:
        oracle = train_oracle(args, [int(x) for x in args.oracle.split(",")], folder)
    pool.join()
    profiles: dict[str, Any] = {}
    by_profile: dict[str, list[dict[str, Any]]] = {}
    for (profile, seed), out in outs.items():
        if not out.exists():
            continue
        report = json.loads(out.read_text())
        by_profile.setdefault(profile, []).append(report)
        if seed == args.seed_list[0]:
            png = out.with_suffix(".png")
            shown = f"loop-{profile}.png" if png.exists() else ""
            if shown and args.out == BENCH / "out" / "loop.json":
                shutil.copyfile(png, BENCH / shown)
            profiles[profile] = {**report, "png": shown}
    merged = {
        "command": "python -m bench.loop " + " ".join(argv),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "wall_s": round(time.perf_counter() - started, 1),
        "cpu_min": round(cpu_minutes(), 1),
        "load_avg": [round(x, 1) for x in os.getloadavg()],
        "jobs": args.jobs,
        "commit": commit(),
        "profiles": profiles,
        "seeds": args.seed_list,
        "seed_strategies": seed_names,
        "seed_rows": seed_table(by_profile, seed_names),
        "oracle": oracle,
        "exit_codes": codes,
    }
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    text = section(merged)
    print(text)
    if profiles and args.out == BENCH / "out" / "loop.json":
        results_md.write_section(SECTION, text, BENCH / "RESULTS.md")
    print(f"wrote {args.out}")
    return 1 if any(codes.values()) or len(codes) < len(outs) else 0


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "unknown"


def best_two(report_path: Path) -> list[str]:
    """The two strategies with the highest mean F over their scored points."""
    if not report_path.exists():
        return []
    report = json.loads(report_path.read_text())
    ranked = sorted(
        (
            statistics.mean(p["f"] for p in r["points"] if p.get("f") is not None),
            r["strategy"],
        )
        for r in report["strategies"]
        if any(p.get("f") is not None for p in r["points"])
    )
    return [name for _, name in ranked[-2:][::-1]]


def default_strategies() -> list[str]:
    from bench.loop.cli import DEFAULT_STRATEGIES

    return DEFAULT_STRATEGIES


def train_oracle(args: argparse.Namespace, sizes: list[int], folder: Path) -> list[dict[str, Any]]:
    from bench.loop.data import load_dataset
    from bench.loop.reference import oracle_curve

    data = load_dataset(
        args.train,
        args.test,
        gold_n=args.gold_n,
        seed=args.seed_list[0],
        test_limit=args.test_limit,
    )
    work = folder / "oracle"
    try:
        curve = oracle_curve(data, sizes, work, args.max_steps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for o in curve:
        print(f"[oracle] {o['texts']} texts: F {o['f']} ({o['train_s']} s)", flush=True)
    return curve
