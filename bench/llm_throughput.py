"""Benchmark of LLM proposals: throughput through the real client and proposer, and the client's
own cost per call. Prints the figures, writes bench/out/llm_throughput.json and the
"LLM throughput" section of bench/RESULTS.md.

    .venv/bin/python -m bench.llm_throughput             # 200 texts (about 40 s)
    .venv/bin/python -m bench.llm_throughput --texts 50  # a smoke run

The LLM is the loopback server of tests/helpers/fake_llm.py, run in a separate process (so that its
threads do not share the benchmark's interpreter lock), answering MIT Movie train texts from
their gold spans after a fixed latency.

1. Throughput: proposals and requests per second through `LLMProposer.run` (prompt, cache
   lookup, HTTP, JSON parsing, alignment, one SQLite commit per answer) in batch mode (all 12
   labels per call), with 100 ms server latency, at concurrency 1 and 16, each in a fresh
   project so that nothing comes from the cache. Target: 16 reaches >= 10x the rate of 1.
2. Client overhead: with a 0 ms server, sequential calls; the CPU time this process spends per
   call (`time.process_time`, so the server's work and the waiting do not count), for
   `LLMClient.chat` alone and for the whole `LLMProposer.ask`; and wall time per call.
   Target: client overhead < 2 ms per call.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from bench import results_md
from nerloop.core.config import load_settings
from nerloop.core.llm import LLMClient
from nerloop.core.project import Project
from nerloop.core.prompts import batch_prompt
from nerloop.core.proposers.llm import LLMProposer
from nerloop.core.proposers.llm_writer import commit_outcomes

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = REPO.parent / "shared" / "datasets" / "mit_movie" / "train.jsonl"
OUT = HERE / "out" / "llm_throughput.json"
SECTION = "LLM throughput"
LABELS = [
    "ACTOR",
    "CHARACTER",
    "DIRECTOR",
    "GENRE",
    "PLOT",
    "RATING",
    "RATINGS_AVERAGE",
    "REVIEW",
    "SONG",
    "TITLE",
    "TRAILER",
    "YEAR",
]


def load_records(n: int) -> list[dict[str, Any]]:
    out = []
    with DATA.open(encoding="utf-8") as f:
        for line in f:
            out.append(json.loads(line))
            if len(out) >= n:
                break
    return out


@contextmanager
def fake_server(gold_file: Path, latency: float) -> Iterator[str]:
    """tests/helpers/fake_llm.py in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.helpers.fake_llm",
            "--gold",
            str(gold_file),
            "--latency",
            str(latency),
        ],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,  # where `tests` is a package
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"the fake LLM did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_project(root: Path, name: str, records: list[dict[str, Any]], url: str, conc: int):
    folder = root / name
    folder.mkdir()
    tax = '[project]\nlang = "en"\n\n' + "\n".join(
        f'[labels.{lab}]\nkind = "ner"\ndescription = "{lab.lower()} in a movie query"\n'
        for lab in LABELS
    )
    (folder / "taxonomy.toml").write_text(tax, "utf-8")
    (folder / "nerloop.toml").write_text(
        f'llm_base_url = "{url}"\nllm_model = "fake"\nllm_concurrency = {conc}\n', "utf-8"
    )
    project = Project.init(folder)
    for r in records:
        project.store.add_text(r["text"])
    project.settings = load_settings(folder)
    return project


def throughput(
    root: Path, records: list[dict[str, Any]], url: str, conc: int, name: str = ""
) -> dict:
    project = make_project(root, name or f"c{conc}", records, url, conc)
    proposer = LLMProposer.from_project(project)
    jobs = proposer.pending(project.store.iter_texts("pool"), LABELS, batch=True, limit=0)
    t0, cpu0 = time.perf_counter(), time.process_time()
    summary = asyncio.run(proposer.run(jobs, batch=True))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    project.close()
    assert summary.errors == 0 and summary.cache_hits == 0, summary.as_dict()
    return {
        "concurrency": conc,
        "requests": summary.requests,
        "proposals": summary.placed,
        "seconds": round(elapsed, 3),
        "cpu_seconds": round(cpu, 3),
        "requests_per_s": round(summary.requests / elapsed, 2),
        "proposals_per_s": round(summary.placed / elapsed, 2),
    }


def overhead(root: Path, records: list[dict[str, Any]], url: str, calls: int, run: int = 0) -> dict:
    project = make_project(root, f"overhead-{run}", records, url, 1)
    taxonomy = [project.taxonomy.get(lab) for lab in LABELS]
    prompts = [batch_prompt(r["text"], taxonomy) for r in records]

    async def client_only(conc: int) -> tuple[float, float]:
        settings = project.settings.model_copy(update={"llm_concurrency": conc})
        async with LLMClient(settings) as client:
            # Open every lane's connection first, so connecting is not counted.
            await asyncio.gather(*(client.chat(p.messages, p.schema) for p in prompts[:conc]))
            sem = asyncio.Semaphore(conc)

            async def one(i: int) -> None:
                async with sem:
                    p = prompts[i % len(prompts)]
                    await client.chat(p.messages, p.schema)

            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(calls)))
            return time.process_time() - cpu0, time.perf_counter() - wall0

    async def bare_httpx() -> float:
        # The floor: the same request bodies posted by a plain httpx client, nothing else.
        url = f"{project.settings.llm_base_url}/chat/completions"
        shaper = LLMClient(project.settings)
        bodies = [shaper._body(p.messages, p.schema) for p in prompts]
        await shaper.aclose()
        async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
            (await http.post(url, json=bodies[0])).json()
            cpu0 = time.process_time()
            for i in range(calls):
                (await http.post(url, json=bodies[i % len(bodies)])).json()
            return time.process_time() - cpu0

    cpu, wall = asyncio.run(client_only(1))
    cpu16, wall16 = asyncio.run(client_only(16))
    bare = asyncio.run(bare_httpx())

    proposer = LLMProposer.from_project(project)
    texts = list(project.store.iter_texts("pool"))
    store = project.store

    async def pipeline() -> tuple[float, float, int]:
        async with LLMClient(project.settings) as client:
            commit_outcomes(store, [await proposer.ask(client, texts[0], LABELS, batch=True)])
            cpu0, wall0 = time.process_time(), time.perf_counter()
            n = 0
            for t in texts[1 : calls + 1]:
                commit_outcomes(store, [await proposer.ask(client, t, LABELS, batch=True)])
                n += 1
            return time.process_time() - cpu0, time.perf_counter() - wall0, n

    pcpu, pwall, n = asyncio.run(pipeline())
    project.close()
    return {
        "calls": calls,
        "client_cpu_ms_per_call": round(cpu / calls * 1000, 3),
        "client_wall_ms_per_call": round(wall / calls * 1000, 3),
        "client_cpu_ms_per_call_c16": round(cpu16 / calls * 1000, 3),
        "bare_httpx_cpu_ms_per_call": round(bare / calls * 1000, 3),
        "client_wall_ms_per_call_c16": round(wall16 / calls * 1000, 3),
        "pipeline_calls": n,
        "pipeline_cpu_ms_per_call": round(pcpu / n * 1000, 3),
        "pipeline_wall_ms_per_call": round(pwall / n * 1000, 3),
    }


NOTES = [
    "Six full runs on 2026-11-30 at load averages 7-11 (2 cores shared with other jobs) gave",
    "5.5x to 10.5x at concurrency 16 (the last three: 9.9x, 10.5x, 9.6x) and 2.3 to 3.5 ms of",
    "client CPU a call, the same as bare httpx's: the figures move with the load, since the",
    "process is CPU-bound on the share it gets.",
    "",
    "What profiling this benchmark changed (before: 3.3x at 16, ~4 ms client CPU a call):",
    "- httpcore imports `sniffio` on every request; it was not installed, so each request paid",
    "  four failed imports (a sys.path scan each, ~1 ms). sniffio is now a dependency.",
    "- One httpx connection pool shared by 16 requests rescans all its connections on every",
    "  request event (O(requests x connections), more CPU than the rest of a call at 16). The",
    "  client now keeps one single-connection httpx client (a lane) per request in flight; the",
    "  lanes also bound the concurrency.",
    "- Each httpx client built its own TLS context (10-100 ms); the lanes share one.",
    "- Commits (an fsync each, synchronous=FULL) ran on the event loop and stalled it; a writer",
    "  thread with its own connection now commits, batching what arrived meanwhile.",
    "- The fake server wrote headers and body separately: Nagle's algorithm and delayed ACKs",
    "  added ~40 ms to each answer. It now sends one write.",
]


def python_speed_ms() -> float:
    """Best of 5 of sum(range(10**6)), in ms: how fast this machine runs Python right now
    (about 15-20 ms on an idle recent x86 core), to scale the other figures by."""
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - t)
    return round(best * 1000, 1)


def write_section(text: str) -> None:
    results_md.write_section(SECTION, text)


def section(fig: dict[str, Any], command: str) -> str:
    c1, c16 = fig["throughput"]
    o = fig["overhead"]
    ideal = round(16 / 0.1 * c16["requests"] / (16 * -(-c16["requests"] // 16)), 0)
    share = round(100 * c16["cpu_seconds"] / c16["seconds"])
    cpu_per_req = round(1000 * c16["cpu_seconds"] / c16["requests"], 1)
    ceiling = round(c16["requests"] / c16["cpu_seconds"])
    ok_speed = "met" if fig["speedup"] >= 10 else "NOT met"
    ok_over = "met" if o["client_cpu_ms_per_call"] < 2 else "NOT met"
    return "\n".join(
        [
            f"## {SECTION}",
            "",
            f"`{command}` on {fig['date']} ({fig['machine']}; load average "
            f"{fig['load_average'][0]} on a shared machine; `sum(range(10**6))` took "
            f"{fig['python_speed_ms']} ms, against about 15-20 ms on an idle recent x86 core, so "
            "CPU figures here are inflated by roughly that ratio).",
            "",
            f"Real client and `LLMProposer.run` (batch mode, {len(LABELS)} MIT Movie labels a "
            "call)",
            "against tests/helpers/fake_llm.py in its own process, 100 ms latency, a fresh project "
            "per run",
            "(no cache hits); answers committed by the writer thread as they arrive. Concurrency",
            f"16: the median of {fig['repeat']} runs.",
            "",
            "| concurrency | requests | proposals | seconds | requests/s | proposals/s |",
            "|---:|---:|---:|---:|---:|---:|",
            *(
                f"| {r['concurrency']} | {r['requests']} | {r['proposals']} | {r['seconds']} "
                f"| {r['requests_per_s']} | {r['proposals_per_s']} |"
                for r in (c1, c16)
            ),
            "",
            f"Concurrency 16 vs 1: **{fig['speedup']}x** (target >= 10x: {ok_speed}).",
            f"The ideal at 16 ({-(-c16['requests'] // 16)} rounds of 0.1 s) is {ideal:.0f} "
            "requests/s. The process used "
            f"{c16['cpu_seconds']} s of CPU in {c16['seconds']} s ({share}% of one core, the rest",
            "of the machine being busy with other jobs), about "
            f"{cpu_per_req} ms of CPU a request (HTTP, prompt, alignment, commit): it is bound by",
            "the CPU share it gets, not by waiting: that CPU cost alone would allow about",
            f"{ceiling} requests/s on one free core.",
            "",
            f"Overhead with a 0 ms server, {o['calls']} calls, CPU time of the client process per",
            f"call (the server's work and the waiting excluded), each figure the median of "
            f"{fig['repeat']} runs:",
            f"- `LLMClient.chat` alone, one call at a time: **{o['client_cpu_ms_per_call']} ms** "
            f"(target < 2 ms: {ok_over}); wall {o['client_wall_ms_per_call']} ms a call "
            "including the server;",
            f"- a bare `httpx.AsyncClient.post` of the same requests (the HTTP library's floor, "
            f"nothing of nerloop): {o['bare_httpx_cpu_ms_per_call']} ms CPU a call;",
            f"- `LLMClient.chat` alone, 16 in flight: {o['client_cpu_ms_per_call_c16']} ms CPU "
            f"a call ({o['client_wall_ms_per_call_c16']} ms wall a call);",
            f"- whole `LLMProposer.ask` (prompt, cache lookup, chat, parse, align, commit): "
            f"{o['pipeline_cpu_ms_per_call']} ms CPU, {o['pipeline_wall_ms_per_call']} ms wall.",
            "",
            *NOTES,
        ]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--texts", type=int, default=200)
    ap.add_argument("--calls", type=int, default=300, help="calls for the overhead figure")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the short measurements")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    records = load_records(max(args.texts, args.calls + 1))
    command = "python -m bench.llm_throughput" + "".join(
        f" {a}" for a in sys.argv[1:] if a != "--no-write"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gold = root / "gold.jsonl"
        gold.write_text("".join(json.dumps(r) + "\n" for r in records), "utf-8")
        with fake_server(gold, 0.1) as url:
            seq = throughput(root, records[: args.texts], url, 1)
            print(json.dumps(seq))
            # The shared machine's load changes from second to second: the short concurrent
            # run is repeated and its median run reported (the sequential one is long enough).
            par_runs = []
            for i in range(args.repeat):
                par_runs.append(throughput(root, records[: args.texts], url, 16, f"c16-{i}"))
                print(json.dumps(par_runs[-1]))
            par = sorted(par_runs, key=lambda r: r["requests_per_s"])[len(par_runs) // 2]
            runs = [seq, par]
        with fake_server(gold, 0.0) as url:
            overs = []
            for i in range(args.repeat):
                overs.append(overhead(root, records[: args.calls + 1], url, args.calls, i))
                print(json.dumps(overs[-1]))
            over = {
                k: (sorted(o[k] for o in overs)[len(overs) // 2] if k.endswith("call") else v)
                for k, v in overs[0].items()
            }
    fig = {
        "date": dt.date.today().isoformat(),
        "python_speed_ms": python_speed_ms(),
        "load_average": [round(x, 1) for x in os.getloadavg()],
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus, Python "
        f"{platform.python_version()}",
        "throughput": runs,
        "speedup": round(runs[1]["proposals_per_s"] / runs[0]["proposals_per_s"], 1),
        "overhead": over,
        "repeat": args.repeat,
    }
    print(f"speedup 16 vs 1: {fig['speedup']}x")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fig, indent=2) + "\n", "utf-8")
    if not args.no_write:
        write_section(section(fig, command))
        print(f"wrote {OUT.relative_to(REPO)} and the {SECTION} section of bench/RESULTS.md")


if __name__ == "__main__":
    main()
