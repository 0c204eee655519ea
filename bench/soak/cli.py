"""The reliability soak: the long versions of tests/reliability/test_reliability_*.py.

    .venv/bin/python -m bench.soak              # 1,000 kills, 16 annotators x 60 s, all bad
                                                #   inputs, 500 LLM faults (over an hour)
    .venv/bin/python -m bench.soak --quick      # a few of each (about 2 min), no RESULTS.md
    .venv/bin/python -m bench.soak --only crash,faults --merge

The defaults are the scale users reach: 16 annotators on one project, and enough kills that a
one-in-a-thousand window between a commit and the screen would show. `--merge` keeps the other
phases' figures in bench/out/soak.json and rewrites the RESULTS.md section with each phase's own
command, date and commit, so the long phases can run separately (in chunks, on a quiet machine).

Phases, one module each (the module's docstring says what it checks):
- crash (crash.py): the real Textual app on a pty killed with SIGKILL again and again, and
  `nerloop import` processes killed half-way.
- concurrency (concurrency.py): N headless annotators for S seconds on one project with
  `nerloop import` and `nerloop train` running at the same time.
- bad_inputs (bad_input.py): the bad input corpus and damaged databases through real
  `nerloop` processes.
- faults (llm_faults.py): the LLM proposer against the fake server with a seeded mix of
  faults.
report.py writes the report section; common.py holds what the phases share.

Writes bench/out/soak.json and (full runs) the "Reliability" section of bench/RESULTS.md.
Exits 1 if any check failed (the failures are listed in the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.soak.bad_input import bad_inputs_phase
from bench.soak.common import REPO
from bench.soak.concurrency import concurrency_phase
from bench.soak.crash import crash_phase
from bench.soak.llm_faults import faults_phase
from bench.soak.report import SECTION, section, write_section

OUT = Path(__file__).resolve().parents[1] / "out" / "soak.json"


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
    ap.add_argument(
        "--merge",
        action="store_true",
        help="keep the figures of phases not run from bench/out/soak.json and write RESULTS.md",
    )
    args = ap.parse_args(argv)
    if args.report:
        saved = json.loads(OUT.read_text("utf-8"))
        text = section(saved, saved.get("command", "python -m bench.soak"))
        write_section(text)
        print(text)
        return 0
    q = args.quick
    kills = args.kills or (3 if q else 1000)
    annotators = args.annotators or (2 if q else 16)
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
    command = ("python -m bench.soak " + " ".join(argv or sys.argv[1:])).strip()
    fig: dict[str, Any] = {}
    if args.merge and OUT.exists():
        fig = json.loads(OUT.read_text("utf-8"))
        for name in phases:
            # Figures saved before phases carried their own run: the file's run is theirs.
            if name in fig and "run" not in fig[name]:
                fig[name]["run"] = {
                    "command": fig.get("command", "python -m bench.soak"),
                    "date": fig.get("date", "?"),
                    "machine": fig.get("machine", "?"),
                }
    fig.update(run_info(command, q, args.seed))
    with tempfile.TemporaryDirectory(prefix="nerloop-soak-") as tmp:
        for name in args.only.split(","):
            print(f"== {name}", flush=True)
            work = Path(tmp) / name
            work.mkdir()
            try:
                fig[name] = phases[name](work)
            except Exception:
                fig[name] = {"failures": [traceback.format_exc()]}
            fig[name]["run"] = run_info(command, q, args.seed)
            print(json.dumps(fig[name], indent=1), flush=True)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=2) + "\n", "utf-8")
    text = section(fig, command)
    print(text)
    full = not q and (args.merge or args.only == ap.get_default("only"))
    if full:
        write_section(text)
        print(f"wrote {OUT.relative_to(REPO)} and the {SECTION} section of bench/RESULTS.md")
    failures = sum(len(fig.get(n, {}).get("failures", [])) for n in phases)
    return 1 if failures else 0


def run_info(command: str, quick: bool, seed: int) -> dict[str, Any]:
    """Where a phase's figures come from: each phase may be run on its own (`--merge`)."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
        f"CPython {platform.python_version()}",
        "commit": commit,
        "command": command,
        "quick": quick,
        "seed": seed,
    }


if __name__ == "__main__":
    sys.exit(main())
