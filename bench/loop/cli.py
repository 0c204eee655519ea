"""The loop benchmark: what an annotator's y/n decisions buy, end to end through nerloop's code.

    .venv/bin/python -m bench.loop                 # MIT Movie, realistic LLM, default strategies
    .venv/bin/python -m bench.loop --quick         # a small run (< 3 min), as the test runs it
    .venv/bin/python -m bench.loop --train A.jsonl --test B.jsonl --budget 3000

A simulated LLM (the loopback OpenAI-compatible server of tests/helpers/fake_llm.py, answering
from the pool's hidden gold spans with noise) proposes, a simulated annotator answers through the
real queue and session (accepting a question iff it equals a gold span with that label), and the
real training runner retrains every --retrain-every decisions; each model is scored on held-out test
records that nothing in the loop sees. See bench/loop/sim.py for how one strategy runs.

Writes bench/out/loop.json (every point), the chart (bench/out/loop.png; for a full run also
bench/loop.png, or bench/loop-PROFILE.png for each of several --profiles) and, for a full run,
the "Loop" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import results_md
from bench.loop.data import LLMNoise, llm_scores, load_dataset, start_fake_llm
from bench.loop.reference import full_supervision
from bench.loop.report import (
    SECTION,
    markdown_tables,
    milestones,
    results_section,
    text_chart,
    write_chart,
)
from bench.loop.sim import LoopConfig, Simulation, Strategy, StrategyResult

HERE = Path(__file__).resolve().parents[1]  # bench/

DATA = HERE.parent.parent / "shared" / "datasets" / "mit_movie"

STRATEGIES = {
    s.name: s
    for s in (
        Strategy("llm/missing", "missing"),
        Strategy("llm/complete", "complete"),
        Strategy("llm+model/complete", "complete", model=True),
        Strategy("llm+model/missing", "missing", model=True),
        # The model's proposals only when it gives them at least even odds.
        Strategy("llm+model@0.5/complete", "complete", model=True, model_min_score=0.5),
        Strategy("llm+fewshot/complete", "complete", fewshot=True),
        # The annotator presses the accept-text key on texts that are all right and complete.
        Strategy("llm+accept-text/complete", "complete", accept_text=True),
        Strategy("llm+model+accept-text/complete", "complete", model=True, accept_text=True),
        # Effort, not only decisions (issue 13): the annotator marks or flags what is missing.
        Strategy("llm+fix/complete", "complete", missing="fix"),
        Strategy("llm+flag/complete", "complete", missing="flag"),
        # silver as a project has it by default ("auto": trains with and without, keeps the
        # better on gold), and always on.
        Strategy("llm+silver/complete", "complete", silver="auto"),
        Strategy("llm+fix+silver/complete", "complete", missing="fix", silver="auto"),
        Strategy("llm+silver@on/complete", "complete", silver="on"),
        Strategy("llm+fix+silver@on/complete", "complete", missing="fix", silver="on"),
        Strategy("llm+model+fix/complete", "complete", model=True, missing="fix"),
        # As above, and each label's LLM switched off once the model beats it on gold (the
        # A/B comparison's advice): later texts cost only the model's proposals.
        Strategy(
            "llm+model+fix+accept-text+switch/complete",
            "complete",
            model=True,
            missing="fix",
            accept_text=True,
            switch_llm_off=True,
        ),
        # The model in the loop with the best of the above: fix, and the accept-text key.
        Strategy(
            "llm+model+fix+accept-text/complete",
            "complete",
            model=True,
            missing="fix",
            accept_text=True,
        ),
        # What a project does with its default settings: the model proposes once promoted,
        # silver "auto", and a careful annotator (fix, accept-text).
        Strategy(
            "llm+model+fix+accept-text+silver/complete",
            "complete",
            model=True,
            missing="fix",
            accept_text=True,
            silver="auto",
        ),
    )
}
# The others run on request (--strategies): the default run must stay under 45 minutes.
DEFAULT_STRATEGIES = [
    "llm/complete",
    "llm+fix/complete",
    "llm+flag/complete",
    "llm+silver/complete",
    "llm+fix+silver/complete",
    "llm+model+fix+accept-text/complete",
    "llm+model+fix+accept-text+switch/complete",
    "llm+model+fix+accept-text+silver/complete",
]
DEFAULT_POINTS = "1000,2000,3000,4000"
QUICK_STRATEGIES = ["llm/complete", "llm+fix/complete"]


def model_proposer_available() -> bool:
    try:
        from nerloop.core.proposers.model import ModelProposer  # noqa: F401
    except ImportError:
        return False
    return True


def silver_available() -> bool:
    from nerloop.core.config import Settings

    return "silver" in Settings.model_fields


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", type=Path, default=DATA / "train.jsonl", help="pool (JSONL)")
    p.add_argument("--test", type=Path, default=DATA / "test.jsonl", help="gold + test (JSONL)")
    p.add_argument("--gold-n", type=int, default=300, help="test records imported as gold")
    p.add_argument("--test-limit", type=int, help="score on at most this many test records")
    p.add_argument(
        "--budget",
        type=int,
        default=4000,
        help="effort units per strategy (y, n, space, a, flag: 1; a marked span: 3)",
    )
    p.add_argument(
        "--retrain-every",
        type=int,
        help=f"effort units between retrains (default: retrain at {DEFAULT_POINTS})",
    )
    p.add_argument(
        "--points",
        help="comma-separated effort units to retrain at (instead of every --retrain-every)",
    )
    # 1,000 and not the app's 2,000 (train_max_steps): on a few thousand texts the best
    # checkpoint comes early, and half the time per run keeps the default run under 45 min;
    # RESULTS.md, Loop, compares the two on the oracle curve.
    p.add_argument("--max-steps", type=int, default=1000, help="optimiser steps per retrain")
    p.add_argument("--chunk", type=int, default=32, help="pool texts taken at a time")
    p.add_argument("--per-label", action="store_true", help="one LLM request per text and label")
    p.add_argument(
        "--profile",
        choices=("strong", "realistic"),
        help="one simulated LLM instead of --profiles: realistic (tests/helpers/llm_profiles.py, "
        "proposal F about 50 on MIT Movie test) or strong (--recall, --invented, --surface-noise)",
    )
    p.add_argument(
        "--ahead",
        type=int,
        default=4000,
        help="pool texts the LLM proposes on up front for the silver strategies",
    )
    p.add_argument("--recall", type=float, default=0.8, help="simulated LLM recall (strong)")
    p.add_argument("--invented", type=float, default=0.2, help="wrong spans per text")
    p.add_argument("--surface-noise", type=float, default=0.1, help="share of garbled spans")
    p.add_argument(
        "--profiles",
        default="realistic,strong",
        help="simulated LLMs to run, each in its own process (see --jobs)",
    )
    p.add_argument("--seed", type=int, help="one seed instead of --seeds")
    p.add_argument(
        "--seeds",
        default="0,1,2",
        help="seeds: the first runs every strategy, the others --seed-strategies only",
    )
    p.add_argument(
        "--seed-strategies",
        help="strategies the seeds after the first run (default: for each profile the two with "
        "the best mean F on the first seed)",
    )
    p.add_argument("--jobs", type=int, default=2, help="runs at once (one process each)")
    p.add_argument(
        "--oracle",
        default="1000,2000,3000,4000",
        help="also train on the first N pool texts with all their gold spans, for each N "
        "('' for none): what perfectly annotated texts buy with the same training",
    )
    p.add_argument(
        "--strategies",
        default=None,
        help=(
            f"comma-separated, of: {', '.join(STRATEGIES)} (default: "
            f"{', '.join(DEFAULT_STRATEGIES)}; --quick: {', '.join(QUICK_STRATEGIES)})"
        ),
    )
    p.add_argument("--full-f", type=float, help="full-supervision F (x100) to measure against")
    p.add_argument(
        "--reference-steps",
        type=int,
        default=0,
        help="without bench/out/model.json or --full-f: train a full-supervision reference "
        "with this many steps (0: report it as missing)",
    )
    p.add_argument("--quick", action="store_true", help="a small run (< 3 minutes)")
    p.add_argument("--out", type=Path, default=HERE / "out" / "loop.json")
    p.add_argument(
        "--keep-projects", action="store_true", help="keep the projects (in --out's dir)"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="re-render the figures of an earlier run from --out (e.g. once bench/out/model.json "
        "has the full-supervision F)",
    )
    args = p.parse_args(argv)
    args.profile_list = [args.profile] if args.profile else args.profiles.split(",")
    args.seed_list = (
        [args.seed] if args.seed is not None else [int(x) for x in args.seeds.split(",")]
    )
    if args.quick:
        args.profile_list, args.seed_list, args.oracle = args.profile_list[:1], [0], ""
    args.profile, args.seed = args.profile_list[0], args.seed_list[0]
    if args.points is None and args.retrain_every is None and not args.quick:
        args.points = DEFAULT_POINTS if args.budget == 4000 else None
    args.retrain_every = args.retrain_every or max(1, args.budget // 5)
    if args.quick:
        # Two scored points far apart, so that "F rises with decisions" is a clear signal and
        # not the noise of a small dev set: about 30 texts against about 190.
        args.points = args.points or "60,360"
        args.max_steps = 150
        args.chunk = 16
        args.test_limit = args.test_limit or 400
        args.ahead = min(args.ahead, 300)
        args.gold_n = min(args.gold_n, 100)
    return args


def full_supervision_f(args: argparse.Namespace, data: Any, work: Path) -> dict[str, Any]:
    if args.full_f:
        return {"f": args.full_f, "source": "--full-f"}
    model_json = HERE / "out" / "model.json"
    if model_json.exists() and args.train == DATA / "train.jsonl":
        try:
            model = json.loads(model_json.read_text())
            for key in ("project", "default"):
                f = (model.get(key) or {}).get("f")
                if f:
                    f = float(f) * (100 if float(f) <= 1 else 1)
                    where = (
                        f"bench/model.py, {key} config: {model.get('train_texts')} train texts, "
                        f"max_steps {model.get('max_steps')}, scored on all "
                        f"{model.get('test_texts')} test texts"
                    )
                    return {"f": round(f, 2), "source": where}
        except (ValueError, AttributeError):
            pass
    if args.reference_steps and data is not None:
        return full_supervision(data, work, args.reference_steps)
    return {"f": None, "source": "missing (no bench/out/model.json; see --reference-steps)"}


def f_pairs(result: dict[str, Any], base: dict[str, Any]) -> str:
    """'300: F vs F; 750: ...' for the retrains two strategies have in common."""
    return "; ".join(
        f"{p['effort']}: {p['f']:.1f} vs {q['f']:.1f}"
        for p, q in zip(result["points"], base["points"], strict=False)
        if p["effort"] == q["effort"]
    )


def accept_text_finding(name: str, by: dict[str, dict[str, Any]]) -> str | None:
    """What the accept-text key saved, against the same strategy answering y/n one by one."""
    base_name = name.replace("+accept-text", "")
    if base_name not in by:
        return None
    result, base = by[name], by[base_name]
    c, b = result["counts"], base["counts"]
    presses, accepted = c.get("text_key_presses", 0), c.get("text_key_accepts", 0)
    saved = accepted - presses
    # Against what the same answers take one by one: the decisions spent plus those saved.
    one_by_one = c["decisions"] + saved
    return (
        f"{name} against {base_name}, F at each retrain ({f_pairs(result, base)}). The key "
        f"was pressed {presses} times for {accepted} questions: {saved} decisions saved "
        f"({saved / max(1, one_by_one):.0%} of the {one_by_one} the same answers take one by "
        f"one), so the same decisions covered {c['texts']} texts instead of {b['texts']} and "
        f"accepted {c['accept']} spans instead of {b['accept']}"
    )


def findings(report: dict[str, Any]) -> list[str]:
    """Plain statements of which strategy won, from the figures."""
    by = {r["strategy"]: r for r in report["strategies"] if r["points"]}
    out = []

    def final(name: str) -> float | None:
        return by[name]["milestones"]["final_f"] if name in by else None

    for a, b in (("llm/missing", "llm/complete"), ("llm+model/missing", "llm+model/complete")):
        fa, fb = final(a), final(b)
        if fa is not None and fb is not None:
            win = b if fb > fa else a
            out.append(f"policy: {win} wins at the budget ({fb:.1f} complete vs {fa:.1f} missing)")
    model_runs = [n for n in by if n.startswith("llm+model") and "accept-text" not in n]
    for name in [n for n in model_runs if n.endswith("/complete")]:
        base, mod = by.get("llm/complete"), by[name]
        if base is None:
            continue
        c = mod["counts"]
        recovered = c["accept"] - (mod["llm"].get("accepted_spans") or 0)
        out.append(
            f"{name} against llm/complete, F at each retrain ({f_pairs(mod, base)}). For the same "
            f"decisions it covered {c['texts']} texts instead of {base['counts']['texts']}: "
            f"{c['model_proposals']} model proposals, {recovered} accepted spans the LLM had "
            f"missed, {c['reject']} rejections instead of {base['counts']['reject']}"
        )
    for name in [n for n in by if "+accept-text" in n]:
        line = accept_text_finding(name, by)
        if line is not None:
            out.append(line)
    proto = {"llm/missing": 40.3, "llm/complete": 64.9}
    at = {
        n: next((p["f"] for p in by[n]["points"] if p["decisions"] == 1500), None)
        for n in proto
        if n in by
    }
    if report["dataset"].startswith("mit_movie") and all(v is not None for v in at.values()):
        out.append(
            "at 1,500 decisions, against the throwaway prototype in DESIGN.md (missing 40.3, "
            "complete 64.9): " + ", ".join(f"{n} {v:.1f}" for n, v in at.items())
        )
    fa, fb = final("llm/complete"), final("llm+fewshot/complete")
    if fa is not None and fb is not None:
        ta = by["llm/complete"]["llm"].get("tokens_in") or 0
        tb = by["llm+fewshot/complete"]["llm"].get("tokens_in") or 0
        out.append(
            f"few-shot retrieval: F {fb:.1f} vs {fa:.1f}, prompt tokens {tb} vs {ta} "
            "(the simulated LLM does not learn from examples: this measures cost only)"
        )
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if len(args.profile_list) > 1 or len(args.seed_list) > 1:
        from bench.loop.many import run_many

        return run_many(args, argv if argv is not None else sys.argv[1:])
    if args.report_only:
        earlier = json.loads(args.out.read_text())
        if args.full_f or (earlier.get("full_supervision") or {}).get("f") is None:
            earlier["full_supervision"] = full_supervision_f(args, None, args.out.parent)
        return publish(args, earlier)
    started = time.perf_counter()
    names = args.strategies.split(",") if args.strategies else None
    default = QUICK_STRATEGIES if args.quick else DEFAULT_STRATEGIES
    pending: list[str] = []
    chosen: list[Strategy] = []
    for name in names or default:
        if name not in STRATEGIES:
            raise SystemExit(f"unknown strategy {name!r}; one of {', '.join(STRATEGIES)}")
        s = STRATEGIES[name]
        if s.model and not model_proposer_available():
            pending.append(f"{name} (core/proposers/model.py is not there yet)")
            continue
        if s.silver != "off" and not silver_available():
            pending.append(f"{name} (training has no silver setting yet: core/config.py)")
            continue
        chosen.append(s)
    data = load_dataset(
        args.train, args.test, gold_n=args.gold_n, seed=args.seed, test_limit=args.test_limit
    )
    noise = LLMNoise(args.recall, args.invented, args.surface_noise, args.seed, args.profile)
    points = tuple(sorted(int(x) for x in args.points.split(","))) if args.points else ()
    if points:
        args.budget = points[-1]
    cfg = LoopConfig(
        args.budget,
        args.retrain_every,
        args.max_steps,
        args.chunk,
        not args.per_label,
        points,
        ahead=args.ahead,
        llm_gold_f=llm_scores(data.gold, noise, data.labels)["labels"],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nerloop-loop-", dir=args.out.parent))
    print(
        f"pool {len(data.pool)}, gold {len(data.gold)}, test {len(data.test)}, "
        f"labels {len(data.labels)}; strategies {[s.name for s in chosen]}",
        flush=True,
    )
    report: dict[str, Any] = {
        "command": " ".join(["bench/loop", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, no GPU, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "dataset": f"{args.train.parent.name}/{args.train.name} + {args.test.name}",
        "sizes": {"pool": len(data.pool), "gold": len(data.gold), "test": len(data.test)},
        "config": {**asdict(cfg), "quick": args.quick},
        "llm_noise": asdict(noise),
        "llm_on_test": llm_scores(data.test, noise, data.labels),
        "pending": pending,
        "strategies": [],
    }
    try:
        report["full_supervision"] = full_supervision_f(args, data, work)
        fake = start_fake_llm(data.pool, noise, len(data.labels), cfg.batch)
        try:
            for strategy in chosen:
                t0 = time.perf_counter()
                try:
                    sim = Simulation(data, cfg, strategy, work, fake.url)
                except Exception as exc:  # keep the other strategies' figures
                    failed = StrategyResult(strategy, error=f"{type(exc).__name__}: {exc}")
                    report["strategies"].append({**failed.as_dict(), "milestones": {}})
                    print(f"[{strategy.name}] could not start: {failed.error}", flush=True)
                    continue
                result = sim.run(
                    lambda name, p: print(
                        f"[{name}] {p['decisions']} decisions: F {p.get('f')} "
                        f"({p.get('texts')} texts, train {p['train_s']} s)"
                        + (f" ERROR {p['error']}" if "error" in p else ""),
                        flush=True,
                    )
                ).as_dict()
                report["strategies"].append(result)
                # Written after every strategy: a crash later loses nothing measured so far.
                args.out.write_text(json.dumps(report, indent=2) + "\n")
                print(
                    f"[{strategy.name}] done in {time.perf_counter() - t0:.0f} s"
                    + (f"; ERROR {result['error']}" if result["error"] else ""),
                    flush=True,
                )
        finally:
            fake.stop()
    finally:
        if not args.keep_projects:
            shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["cpu_s"] = round(cpu_seconds(), 1)
    report["load_avg"] = [round(x, 1) for x in os.getloadavg()]
    return publish(args, report)


def cpu_seconds() -> float:
    """CPU time of this process and of the training processes it waited for: the run's cost on
    an idle machine, whatever else shared the CPU while it ran."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def publish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    """Milestones, findings, JSON, chart, console table and (full runs) RESULTS.md."""
    full_f = (report.get("full_supervision") or {}).get("f")
    for result in report["strategies"]:
        result["milestones"] = milestones(result, full_f)
    report["findings"] = findings(report)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    png = args.out.with_suffix(".png")
    charted = write_chart(report, png)
    print(markdown_tables(report))
    print(text_chart(report))
    for f in report["findings"]:
        print("-", f)
    full_run = not report["config"]["quick"] and args.out == HERE / "out" / "loop.json"
    if full_run:
        if charted:
            shutil.copyfile(png, HERE / "loop.png")
        results_md.write_section(SECTION, results_section(report), HERE / "RESULTS.md")
    print(f"wrote {args.out}" + (f" and {png}" if charted else " (no matplotlib: no PNG)"))
    failed = [r["strategy"] for r in report["strategies"] if r["error"]]
    return 1 if failed or not report["strategies"] else 0


if __name__ == "__main__":
    sys.exit(main())
