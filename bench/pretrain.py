"""Benchmark: does pretraining the tok2vec on the pool's raw text (`nerloop pretrain`) pay for
the model learned from few y/n decisions?

    .venv/bin/python -m bench.pretrain                    # MIT Movie, seeds 0 and 1
    .venv/bin/python -m bench.pretrain --quick            # a smoke run (a few minutes)
    .venv/bin/python -m bench.pretrain --report-only --notes reading.txt   # re-render

1. Pretraining, through nerloop's own path: a project whose pool is the train file's texts
   (spans dropped) runs `core.training.pretrain.pretrain` (the worker process: the texts
   written from the store, spaCy's `pretrain` with the characters objective on ner.cfg's
   tok2vec) once per --epochs value; its wall and CPU time, texts and loss per epoch are kept.
2. The decisions, through the loop benchmark's simulation (bench/loop/sim.py, imported as it
   is): the llm/complete strategy, a simulated LLM on a loopback server proposing from the
   pool's hidden spans with noise, a simulated annotator answering through the real queue and
   session, texts a chunk at a time. At each checkpoint (--points, in decisions) the same
   answers train once per arm through the real training runner: from scratch
   (pretrained_tok2vec = "off") and from each pretraining ("latest", with that pretraining
   registered in the simulation's project as its latest run). Same answers, same training seed
   (the runner's, 0), same max_steps; each model is scored on the held-out test records.
3. --seeds: each seed is another pool order and other LLM noise (as bench/loop --seed), so
   the spread between seeds shows how much of a difference is chance.

Writes bench/out/pretrain.json and, for a full run, the "Pretraining" section of
bench/RESULTS.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.loop.cli import cpu_seconds
from bench.loop.data import (
    Dataset,
    LLMNoise,
    load_dataset,
    read_jsonl,
    start_fake_llm,
    taxonomy_toml,
)
from bench.loop.sim import LoopConfig, Simulation, Strategy
from bench.results_md import write_section
from nerloop.core.project import Project
from nerloop.core.store import Store
from nerloop.core.training.pretrain import pretrain

HERE = Path(__file__).resolve().parent

DATA = HERE.parent.parent / "shared" / "datasets" / "mit_movie"
SECTION = "Pretraining"
SCRATCH = "scratch"


def arm_name(epochs: int) -> str:
    return f"pretrained {epochs} ep"


# -- 1. pretraining --------------------------------------------------------------------------


def pretrain_pool(train: Path, work: Path, epochs: int, max_texts: int | None) -> dict[str, Any]:
    """Pretrain in a project whose pool is the train file's texts; returns the run's row."""
    records = read_jsonl(train)
    root = work / f"pool-{epochs}ep"
    root.mkdir(parents=True)
    (root / "taxonomy.toml").write_text(
        taxonomy_toml(sorted({s.label for r in records for s in r.spans})), "utf-8"
    )
    project = Project.init(root)
    try:
        project.store.bulk_add_texts(r.text for r in records)

        def show(event: dict[str, Any]) -> None:
            if event.get("event") == "epoch":
                print(
                    f"[pretrain {epochs} ep] epoch {event['epoch']}/{event['epochs']}: "
                    f"loss {event['loss_per_word']} a word, {event['seconds']} s",
                    flush=True,
                )

        # nice 0: measured as a run that has the machine, like the trainings below.
        row = pretrain(project, on_event=show, epochs=epochs, max_texts=max_texts, nice=0)
    finally:
        project.close()
    if row["status"] != "done":
        raise RuntimeError(f"pretraining ({epochs} epochs) {row['status']}: {row['error']}")
    return row


def adopt(store: Store, row: dict[str, Any]) -> int:
    """Record a finished pretraining (its weights stay where they are) as the latest of a
    project, so that its next training run with pretrained_tok2vec = "latest" starts from it."""
    run_id = store.create_pretrain_run(counts=row["counts"])
    if run_id is None:
        raise RuntimeError("a pretraining run is in progress in the simulation's project")
    store.finish_pretrain_run(
        run_id,
        "done",
        weights_path=row["weights_path"],
        config=row["config"],
        losses=row["losses"],
    )
    return run_id


# -- 2. the decisions, trained once per arm ----------------------------------------------------


class PairedSimulation(Simulation):
    """llm/complete; at each checkpoint the same answers are trained once per arm."""

    def __init__(
        self,
        data: Dataset,
        cfg: LoopConfig,
        workdir: Path,
        llm_url: str,
        pretrained: dict[str, dict[str, Any]],
    ) -> None:
        super().__init__(data, cfg, Strategy("llm/complete", "complete"), workdir, llm_url)
        self.pretrained = pretrained

    def checkpoint(self) -> dict[str, Any]:
        arms: dict[str, dict[str, Any]] = {}
        for arm in [SCRATCH, *self.pretrained]:
            if arm == SCRATCH:
                choice = "off"
            else:
                choice = "latest"
                adopted = adopt(self.store, self.pretrained[arm])
            self.project.settings = self.project.settings.model_copy(
                update={"pretrained_tok2vec": choice}
            )
            point = super().checkpoint()
            used = (self.store.list_runs(1)[0]["counts"].get("tok2vec") or {}).get("pretrain_run")
            expected = None if arm == SCRATCH else adopted
            if used != expected and "error" not in point:
                point["error"] = f"the run started from pretraining run {used}, not {expected}"
            arms[arm] = {
                k: point.get(k) for k in ("f", "p", "r", "gold_f", "train_s", "load_avg", "error")
            }
            shared = {k: point.get(k) for k in ("decisions", "texts", "accepted", "train_texts")}
        return {**shared, "arms": arms}


def run_seed(
    args: argparse.Namespace, seed: int, work: Path, pretrained: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    data = load_dataset(
        args.train, args.test, gold_n=args.gold_n, seed=seed, test_limit=args.test_limit
    )
    noise = LLMNoise(seed=seed)
    points = tuple(sorted(int(x) for x in args.points.split(",")))
    cfg = LoopConfig(points[-1], points[-1], args.max_steps, args.chunk, True, points)
    fake = start_fake_llm(data.pool, noise, len(data.labels), cfg.batch)
    started = time.perf_counter()
    try:
        sim = PairedSimulation(data, cfg, work / f"seed{seed}", fake.url, pretrained)

        def show(_name: str, p: dict[str, Any]) -> None:
            figures = ", ".join(f"{a} F {r['f']}" for a, r in p["arms"].items())
            print(f"[seed {seed}] {p['decisions']} decisions ({p['texts']} texts): {figures}")

        result = sim.run(show)
    finally:
        fake.stop()
    return {
        "seed": seed,
        "sizes": {"pool": len(data.pool), "gold": len(data.gold), "test": len(data.test)},
        "points": result.points,
        "counts": result.counts,
        "wall_s": round(time.perf_counter() - started, 1),
        "train_s": round(result.train_s, 1),
        "error": result.error,
    }


# -- 3. the report ---------------------------------------------------------------------------


def summary(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Per decision count: each arm's F per seed and mean, and the mean gain over scratch."""
    by_decisions: dict[int, dict[str, dict[str, float]]] = {}
    for run in report["seeds"]:
        for point in run["points"]:
            row = by_decisions.setdefault(point["decisions"], {})
            for arm, figures in point["arms"].items():
                if figures.get("f") is not None and not figures.get("error"):
                    # String keys: the same after a JSON round trip (--report-only).
                    row.setdefault(arm, {})[str(run["seed"])] = figures["f"]
    out = []
    for decisions in sorted(by_decisions):
        arms = by_decisions[decisions]
        line: dict[str, Any] = {"decisions": decisions, "arms": {}}
        base = arms.get(SCRATCH, {})
        for arm, per_seed in arms.items():
            entry: dict[str, Any] = {
                "per_seed": per_seed,
                "mean": round(statistics.mean(per_seed.values()), 2),
            }
            common = [s for s in per_seed if s in base]
            if arm != SCRATCH and common:
                gains = [per_seed[s] - base[s] for s in common]
                entry["gain"] = round(statistics.mean(gains), 2)
                entry["gain_min"] = round(min(gains), 2)
                entry["gain_max"] = round(max(gains), 2)
            line["arms"][arm] = entry
        out.append(line)
    return out


def _f(value: Any) -> str:
    return "—" if value is None else f"{value:.1f}"


def _signed(value: Any) -> str:
    return "—" if value is None else f"{value:+.1f}"


def tables(report: dict[str, Any]) -> str:
    arms = [SCRATCH, *(arm_name(e) for e in report["config"]["epochs"])]
    seeds = [r["seed"] for r in report["seeds"]]
    head = ["decisions", "texts (seed 0)"]
    for arm in arms:
        head += [f"{arm} F (seeds {', '.join(map(str, seeds))})", f"{arm} mean"]
        if arm != SCRATCH:
            head += [f"{arm} gain (min..max)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    texts = {p["decisions"]: p["texts"] for p in report["seeds"][0]["points"]}
    for line in report["summary"]:
        cells = [f"{line['decisions']:,}", str(texts.get(line["decisions"], "—"))]
        for arm in arms:
            entry = line["arms"].get(arm)
            if entry is None:
                cells += ["—", "—"] + ([] if arm == SCRATCH else ["—"])
                continue
            cells += [
                " / ".join(_f(entry["per_seed"].get(str(s))) for s in seeds),
                _f(entry["mean"]),
            ]
            if arm != SCRATCH:
                cells.append(
                    f"{_signed(entry.get('gain'))} "
                    f"({_signed(entry.get('gain_min'))}..{_signed(entry.get('gain_max'))})"
                )
        lines.append("| " + " | ".join(cells) + " |")
    pre = [
        "| pretraining | texts | words an epoch | epochs | wall s | CPU s | loss a word, "
        "first -> last epoch |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for epochs, row in report["pretraining"].items():
        c = row["counts"]
        words = c["words_per_epoch"]
        first, last = row["losses"][0] / words, row["losses"][-1] / words
        pre.append(
            f"| {arm_name(int(epochs))} | {c['texts']:,} | {words:,} | {c['epochs']} | "
            f"{c['seconds']} | {c['cpu_seconds']} | {first:.3f} -> {last:.3f} |"
        )
    return "\n".join(pre) + "\n\n" + "\n".join(lines)


def train_seconds(report: dict[str, Any]) -> dict[str, float]:
    """Mean training wall time of each arm (the same answers: any difference is the load)."""
    spent: dict[str, list[float]] = {}
    for run in report["seeds"]:
        for point in run["points"]:
            for arm, figures in point["arms"].items():
                if figures.get("train_s") is not None:
                    spent.setdefault(arm, []).append(figures["train_s"])
    return {arm: round(statistics.mean(v), 1) for arm, v in spent.items()}


def findings(report: dict[str, Any]) -> list[str]:
    out = []
    for epochs in report["config"]["epochs"]:
        arm = arm_name(epochs)
        gains = [
            f"{line['decisions']:,}: {_signed(line['arms'][arm].get('gain'))}"
            for line in report["summary"]
            if arm in line["arms"]
        ]
        row = report["pretraining"][str(epochs)]
        out.append(
            f"{arm}: mean F gain over scratch at each checkpoint ({'; '.join(gains)}), for "
            f"{row['counts']['seconds']} s wall / {row['counts']['cpu_seconds']} s CPU of "
            f"pretraining on {row['counts']['texts']:,} texts, once per project"
        )
    seconds = train_seconds(report)
    out.append(
        "mean training wall time a checkpoint: "
        + ", ".join(f"{arm} {s} s" for arm, s in seconds.items())
    )
    return out


def results_section(report: dict[str, Any]) -> str:
    cfg = report["config"]
    sizes = report["seeds"][0]["sizes"]
    lines = [
        f"## {SECTION}",
        "",
        f"Command: `{report['command']}`  ",
        f"Date: {report['date']}; machine: {report['machine']}; total wall time "
        f"{report['wall_s'] / 60:.1f} min, CPU time {report['cpu_s'] / 60:.1f} min (this process "
        f"and its workers); 1-minute load average {report['load'][0]}-{report['load'][1]} while "
        "it ran (shared machine).",
        "",
        f"Dataset {report['dataset']}: pool {sizes['pool']} texts (the train file's texts, spans "
        f"hidden), gold split {sizes['gold']} (model selection), test {sizes['test']} (scored "
        "here only). Pretraining through `nerloop pretrain`'s code (its worker process: spaCy "
        "`pretrain`, characters objective, ner.cfg's tok2vec) on every pool text. Decisions "
        "through bench/loop/sim.py's llm/complete strategy (simulated LLM: recall 0.8, 0.2 "
        "invented spans a text, 10% surface noise, one request a text; the annotator accepts "
        "iff span and label equal gold; chunks of "
        f"{cfg['chunk']} texts). At each checkpoint the same answers trained once per arm "
        f"through the real runner (max_steps {cfg['max_steps']}, training seed 0), "
        f"pretrained_tok2vec off (scratch) or latest. Seeds {cfg['seeds']}: pool order and LLM "
        "noise.",
        "",
        tables(report),
        "",
        "F on test (x100); gain = pretrained minus scratch on the same seed's answers, mean "
        "over seeds (min..max).",
        "",
        "Findings:",
        "",
        *[f"- {f}" for f in report["findings"]],
        "",
    ]
    for other in report.get("with") or []:
        c = other["config"]
        lines += [
            f"Also `{other['command']}` ({other['date']}; max_steps {c['max_steps']}, seeds "
            f"{c['seeds']}, load {other['load'][0]}-{other['load'][1]}; figures in "
            f"{other['file']}):",
            "",
            tables(other),
            "",
            *[f"- {f}" for f in other["findings"]],
            "",
        ]
    if report.get("notes"):
        lines += ["Reading (written by hand from these figures):", ""]
        lines += [*[f"- {n}" for n in report["notes"]], ""]
    return "\n".join(lines)


def publish(args: argparse.Namespace, report: dict[str, Any]) -> int:
    report["summary"] = summary(report)
    report["findings"] = findings(report)
    report["with"] = []
    for path in args.with_:
        other = json.loads(path.read_text("utf-8"))
        other.update(summary=summary(other), file=str(path.resolve().relative_to(HERE.parent)))
        other["findings"] = findings(other)
        report["with"].append(other)
    if args.notes:
        report["notes"] = [
            line.strip() for line in args.notes.read_text("utf-8").split("\n\n") if line.strip()
        ]
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(tables(report))
    for f in report["findings"]:
        print("-", f)
    if not report["config"]["quick"] and args.out == HERE / "out" / "pretrain.json":
        write_section(SECTION, results_section(report))
        print(f"wrote {args.out} and the {SECTION} section of bench/RESULTS.md")
    else:
        print(f"wrote {args.out}")
    return 1 if any(r["error"] for r in report["seeds"]) else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", type=Path, default=DATA / "train.jsonl", help="pool (JSONL)")
    p.add_argument("--test", type=Path, default=DATA / "test.jsonl", help="gold + test (JSONL)")
    p.add_argument("--gold-n", type=int, default=300, help="test records imported as gold")
    p.add_argument("--test-limit", type=int, help="score on at most this many test records")
    p.add_argument("--points", default="150,300,750,1500,3000", help="decisions to train at")
    p.add_argument("--seeds", default="0,1", help="comma-separated simulation seeds")
    p.add_argument("--epochs", default="10", help="comma-separated: one pretraining each")
    p.add_argument("--max-texts", type=int, default=None, help="pretrain on this many at most")
    p.add_argument("--max-steps", type=int, default=300, help="optimiser steps per training")
    p.add_argument("--chunk", type=int, default=32, help="pool texts taken at a time")
    p.add_argument("--quick", action="store_true", help="a small run (a few minutes)")
    p.add_argument("--out", type=Path, default=HERE / "out" / "pretrain.json")
    p.add_argument("--keep-projects", action="store_true", help="keep the projects")
    p.add_argument("--report-only", action="store_true", help="re-render --out's figures")
    p.add_argument("--notes", type=Path, help="a hand-written reading: paragraphs, one bullet each")
    p.add_argument(
        "--with",
        dest="with_",
        type=Path,
        action="append",
        default=[],
        metavar="JSON",
        help="with --report-only: add another run's figures (another --out) to the section",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.points, args.seeds, args.epochs = "60,300", "0", "2"
        args.max_steps, args.chunk = 100, 16
        args.test_limit = args.test_limit or 400
        args.gold_n = min(args.gold_n, 100)
        args.max_texts = args.max_texts or 2000
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        return publish(args, json.loads(args.out.read_text()))
    started = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs_list = [int(e) for e in args.epochs.split(",")]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="nerloop-pretrain-", dir=args.out.parent))
    load = [os.getloadavg()[0]]
    report: dict[str, Any] = {
        "command": " ".join(["bench/pretrain.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, no GPU, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "dataset": f"{args.train.parent.name}/{args.train.name} + {args.test.name}",
        "config": {
            "points": args.points,
            "seeds": seeds,
            "epochs": epochs_list,
            "max_texts": args.max_texts,
            "max_steps": args.max_steps,
            "chunk": args.chunk,
            "gold_n": args.gold_n,
            "test_limit": args.test_limit,
            "quick": args.quick,
        },
        "pretraining": {},
        "seeds": [],
    }
    try:
        pretrained: dict[str, dict[str, Any]] = {}
        for epochs in epochs_list:
            row = pretrain_pool(args.train, work, epochs, args.max_texts)
            keep = ("id", "weights_path", "counts", "losses", "config")
            report["pretraining"][str(epochs)] = {k: row[k] for k in keep if k != "config"}
            pretrained[arm_name(epochs)] = {k: row[k] for k in keep}
            load.append(os.getloadavg()[0])
        for seed in seeds:
            report["seeds"].append(run_seed(args, seed, work, pretrained))
            load.append(os.getloadavg()[0])
            # Written after every seed: a crash later loses nothing measured so far.
            args.out.write_text(json.dumps(report, indent=2) + "\n")
    finally:
        if not args.keep_projects:
            shutil.rmtree(work, ignore_errors=True)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["cpu_s"] = round(cpu_seconds(), 1)
    report["load"] = [round(min(load), 1), round(max(load), 1)]
    for row in report["pretraining"].values():  # the folders are gone with the work dir
        row["weights_path"] = None if not args.keep_projects else row["weights_path"]
    return publish(args, report)


if __name__ == "__main__":
    sys.exit(main())
