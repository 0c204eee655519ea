"""Benchmark of `nerloop import` and `nerloop export`: speed and memory on large files.
Prints the figures and writes bench/out/import_export.json.

    .venv/bin/python -m bench.import_export                 # 1,000,000 lines (a few minutes)
    .venv/bin/python -m bench.import_export --lines 100000  # a smoke run

Each step runs the real command line in a child process, so the peak resident memory
(ru_maxrss of the child) is that of a user's `nerloop import`, interpreter and spaCy included.

1. Plain JSONL, `--lines` unique texts of ~80 characters with a small meta: the streaming path.
   Target: peak memory does not grow with the file (compare --lines 100000 and 1000000).
2. JSONL with spans, a tenth as many lines, every record with two spans: the path that
   tokenizes each text and stores proposals and accepted answers.
3. Re-importing file 1: every line a duplicate.
4. Export of project 2 as Prodigy JSONL and as spaCy DocBin.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "import_export.json"
NERLOOP = [str(Path(sys.executable).parent / "nerloop")]

TAXONOMY = """\
[project]
lang = "en"

[labels.PRICE]
kind = "ner"
description = "A price."

[labels.LOCATION]
kind = "ner"
description = "A place."
"""

GOODS = ["wheat", "corn", "soybeans", "brent", "diesel", "coal", "copper", "urea", "barley"]
PLACES = ["rouen", "rotterdam", "santos", "qingdao", "houston", "constanta", "novo", "paranagua"]
SIDES = ["bid", "offered", "trades", "heard", "paid", "indicated"]


def text_of(rng: random.Random, i: int) -> tuple[str, list[dict[str, Any]]]:
    good, side, place = rng.choice(GOODS), rng.choice(SIDES), rng.choice(PLACES)
    head = f"#{i} {good} {side} "
    price = f"{rng.randint(100, 999)}.{rng.randint(0, 99):02d} usd/t"
    text = f"{head}{price} fob {place} for {rng.choice(['march', 'april', 'may'])} loading"
    p0 = len(head)
    l0 = text.index(f" {place} ") + 1
    spans = [
        {"start": p0, "end": p0 + len(price), "label": "PRICE"},
        {"start": l0, "end": l0 + len(place), "label": "LOCATION"},
    ]
    return text, spans


def write_file(path: Path, n: int, *, spans: bool) -> None:
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            text, sp = text_of(rng, i)
            record: dict[str, Any] = {"text": text, "meta": {"row": i}}
            if spans:
                record["spans"] = sp
            fh.write(json.dumps(record) + "\n")


def run(args: list[str]) -> dict[str, Any]:
    """Run one nerloop command in a child; its wall time and its own peak RSS (os.wait4)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([*NERLOOP, *args], stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"nerloop {' '.join(args)} failed:\n{err.read()}")
        return {
            "seconds": round(wall, 2),
            # The machine is shared: CPU time says more about the code than wall time does.
            "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
            "stdout": out.read().strip(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.lines
    results: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "python": platform.python_version(),
        "lines": n,
    }
    with tempfile.TemporaryDirectory(prefix="nerloop-bench-io-") as tmp:
        d = Path(tmp)
        (d / "taxonomy.toml").write_text(TAXONOMY, "utf-8")
        plain, spanned = d / "plain.jsonl", d / "spans.jsonl"
        write_file(plain, n, spans=False)
        write_file(spanned, max(n // 10, 1), spans=True)
        for name in ("p1", "p2"):
            subprocess.run(
                [*NERLOOP, "init", "-p", str(d / name), "--taxonomy", str(d / "taxonomy.toml")],
                check=True,
                capture_output=True,
            )
        steps = {
            "plain": ["import", str(plain), "-p", str(d / "p1")],
            "spans": ["import", str(spanned), "-p", str(d / "p2")],
            "plain_again": ["import", str(plain), "-p", str(d / "p1")],
            "export_prodigy": [
                "export",
                str(d / "out.jsonl"),
                "-p",
                str(d / "p2"),
                "--format",
                "prodigy",
            ],
            "export_spacy": ["export", str(d / "corpus"), "-p", str(d / "p2"), "--format", "spacy"],
        }
        sizes = {"plain": plain.stat().st_size, "spans": spanned.stat().st_size}
        lines = {"plain": n, "spans": max(n // 10, 1), "plain_again": n}
        for name, cmd in steps.items():
            r = run(cmd)
            if name in lines:
                r["lines"] = lines[name]
                r["lines_per_second"] = round(lines[name] / r["seconds"])
                r["lines_per_cpu_second"] = round(lines[name] / max(r["cpu_seconds"], 1e-9))
            if name in sizes:
                r["file_mb"] = round(sizes[name] / 1e6, 1)
            results[name] = r
            print(f"{name:15} {r}", flush=True)
        results["db_mb"] = {
            p: round((d / p / "nerloop.db").stat().st_size / 1e6, 1) for p in ("p1", "p2")
        }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
