# ruff: noqa: E402  (BLAS threads are set before numpy is imported)
"""Benchmark of the trained ner: accuracy, speed, latency and size, and the training policy.

    .venv/bin/python -m bench.model                       # MIT Movie, both configs
    .venv/bin/python -m bench.model --train A.jsonl --test B.jsonl
    .venv/bin/python -m bench.model --policy              # also: missing vs complete policy
    .venv/bin/python -m bench.model --only project --max-steps 500   # a quick look

Full supervision: trained on all of train (10% of it held out as dev to pick the best
checkpoint, by text hash), scored on test with spaCy's exact-match entity F. Both configs get the
same schedule (--max-steps, eval every 200 steps, patience 1600):
- `default`: `spacy init config -p ner -o efficiency` (tok2vec width 96, depth 4, own component);
- `project`: core/training/ner.cfg (what `nerloop train` uses).
Speed: words per second of `nlp.pipe` over the test texts in this one process (best of 3);
latency: `nlp(text)` on one short text, 300 calls after a warm-up (median, p99); size: the
pipeline folder on disk and zip-compressed (about the size of the wheel `nerloop package` makes).

--policy: simulated y/n decisions as DESIGN.md describes them (LLM recall 0.8, 0.2 invented spans
a text, texts in random order, no model in the loop, --decisions decisions), trained with the
project config under the `missing` and the `complete` policy through nerloop's own
TextAnnotation -> Doc code, scored on test.

Writes bench/out/model.json and prints a summary. Not part of the test suite.
"""

from __future__ import annotations

import os

# One BLAS thread: a tiny model's matrix products are far too small to gain from threads, and on
# a shared machine the thread hand-offs make one-text latency 4-5x worse (measured: median
# 7.4 ms with the default threads vs 1.8 ms with one, same model, same load). Set before numpy
# is imported. `nerloop` sets the same for its training worker.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import contextlib
import io
import json
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import spacy
from spacy.tokens import Doc
from spacy.training.initialize import init_nlp
from spacy.training.loop import train as spacy_train

import nerloop.core.training.logger  # noqa: F401  (registers nerloop.progress.v1)
from nerloop.core.evaluate import predict, score_spans
from nerloop.core.records import Span
from nerloop.core.training.config import load_run_config
from nerloop.core.training.data import (
    TextAnnotation,
    annotation_doc,
    dev_bucket,
    gold_doc,
    write_docbin,
)

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "datasets" / "mit_movie"
SHORT_TEXT = "show me films with drew barrymore from the 1980s"


def read_jsonl(path: Path) -> list[tuple[str, list[Span]]]:
    out = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                out.append(
                    (rec["text"], [Span(s["start"], s["end"], s["label"]) for s in rec["spans"]])
                )
    return out


def default_config_text() -> str:
    from spacy.cli.init_config import init_config

    config = init_config(lang="en", pipeline=["ner"], optimize="efficiency", gpu=False)
    return config.to_str()


def train_model(
    config_text: str,
    train_docs: list[Doc],
    dev_docs: list[Doc],
    workdir: Path,
    max_steps: int,
) -> tuple[Any, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    write_docbin(train_docs, workdir / "train.spacy")
    write_docbin(dev_docs, workdir / "dev.spacy")
    overrides: dict[str, Any] = {
        "paths.train": str(workdir / "train.spacy"),
        "paths.dev": str(workdir / "dev.spacy"),
        "training.max_steps": max_steps,
        "training.eval_frequency": 200,
    }
    if "nerloop.progress.v1" in config_text:
        overrides["paths.progress"] = None  # the project's logger writes nothing without a path
    config = load_run_config(overrides, config_text)
    out = workdir / "output"
    out.mkdir(exist_ok=True)
    console = io.StringIO()
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        nlp = init_nlp(config)
        spacy_train(nlp, out, stdout=console, stderr=console)
    seconds = time.perf_counter() - t0
    return spacy.load(out / "model-best"), seconds


def accuracy(nlp: Any, test: list[tuple[str, list[Span]]]) -> dict[str, float]:
    texts = [t for t, _ in test]
    labels = sorted({s.label for _, spans in test for s in spans})
    gold = {i: spans for i, (_, spans) in enumerate(test)}
    pred = predict(nlp, dict(enumerate(texts)))
    overall = score_spans(gold, pred, labels, gold.keys())["overall"]
    return {
        "f": round(overall["f"] * 100, 2),
        "p": round(overall["p"] * 100, 2),
        "r": round(overall["r"] * 100, 2),
    }


def disk_size(model_dir: Path) -> dict[str, float]:
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(model_dir.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(model_dir))
    return {"size_mb": round(size / 1e6, 2), "zipped_mb": round(len(zbuf.getvalue()) / 1e6, 2)}


def speed(models: dict[str, Any], texts: list[str], rounds: int = 5) -> dict[str, dict[str, Any]]:
    """Words/s and one-text latency of each model, measured in alternation (round-robin, best
    of `rounds`) so that load from other processes on a shared machine hits all models alike.

    Wall-clock figures are what a user sees on this machine as loaded as it was; the CPU
    figures (process time of the same calls) are what the model itself costs, which is what
    stays comparable when other jobs share the cores (the bench runs on 2 shared cores)."""
    words = sum(len(t.split()) for t in texts)
    best = dict.fromkeys(models, float("inf"))
    best_cpu = dict.fromkeys(models, float("inf"))
    lat: dict[str, list[float]] = {name: [] for name in models}
    lat_cpu: dict[str, list[float]] = {name: [] for name in models}
    for nlp in models.values():
        for _ in range(20):
            nlp(SHORT_TEXT)
    for _ in range(rounds):
        for name, nlp in models.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _doc in nlp.pipe(texts, batch_size=1000):
                pass
            best[name] = min(best[name], time.perf_counter() - t0)
            best_cpu[name] = min(best_cpu[name], time.process_time() - c0)
            for _ in range(100):
                t1, c1 = time.perf_counter(), time.process_time()
                nlp(SHORT_TEXT)
                lat[name].append((time.perf_counter() - t1) * 1000)
                lat_cpu[name].append((time.process_time() - c1) * 1000)
    out = {}
    for name in models:
        ms, cms = sorted(lat[name]), sorted(lat_cpu[name])
        p99 = max(0, int(len(ms) * 0.99) - 1)
        out[name] = {
            "words_per_s": round(words / best[name]),
            "latency_ms_median": round(statistics.median(ms), 3),
            "latency_ms_p99": round(ms[p99], 3),
            "cpu_words_per_s": round(words / best_cpu[name]),
            "cpu_latency_ms_median": round(statistics.median(cms), 3),
            "cpu_latency_ms_p99": round(cms[p99], 3),
            "load_average": round(os.getloadavg()[0], 1),
        }
    return out


def speed_only(configs: dict[str, str], train: list, test: list, work: Path) -> dict[str, Any]:
    """Speed of each architecture without training: initialised on a small sample of train.
    Inference cost depends on the architecture, not on the learnt weights (save the number of
    entities found, a small share of it), so this compares configs in minutes, not hours."""
    nlp0 = spacy.blank("en")
    labels = {s.label for _, spans in train for s in spans}
    sample = [gold_doc(nlp0, t, sp, labels) for t, sp in train[:300]]
    write_docbin(sample, work / "sample.spacy")
    models = {}
    for name, text in configs.items():
        overrides: dict[str, Any] = {
            "paths.train": str(work / "sample.spacy"),
            "paths.dev": str(work / "sample.spacy"),
        }
        if "nerloop.progress.v1" in text:
            overrides["paths.progress"] = None
        console = io.StringIO()
        with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
            models[name] = init_nlp(load_run_config(overrides, text))
    return speed(models, [t for t, _ in test])


def full_supervision(
    name: str, config_text: str, train: list, test: list, work: Path, max_steps: int
) -> tuple[Any, dict[str, Any]]:
    nlp0 = spacy.blank("en")
    labels = {s.label for _, spans in train for s in spans}
    train_docs, dev_docs = [], []
    for text, spans in train:
        doc = gold_doc(nlp0, text, spans, labels)
        h = hash_text(text)
        (dev_docs if dev_bucket(h) < 10 else train_docs).append(doc)
    print(
        f"[{name}] training on {len(train_docs)} texts (dev {len(dev_docs)}), "
        f"max {max_steps} steps ...",
        flush=True,
    )
    nlp, seconds = train_model(config_text, train_docs, dev_docs, work / name, max_steps)
    model_dir = work / name / "output" / "model-best"
    figures: dict[str, Any] = {**accuracy(nlp, test), **disk_size(model_dir)}
    figures["train_seconds"] = round(seconds, 1)
    print(f"[{name}] {figures}", flush=True)
    return nlp, figures


def hash_text(text: str) -> int:
    from nerloop.core.records import input_hash

    return input_hash(text)


def simulate_decisions(
    train: list, decisions: int, seed: int = 0, recall: float = 0.8, invented: float = 0.2
) -> list[TextAnnotation]:
    """LLM proposals with the given recall and invented spans per text, answered correctly, texts
    in random order, until `decisions` answers have been given. Every text counts as reviewed
    for every label (the LLM was asked for all labels of the text)."""
    rng = random.Random(seed)
    order = list(range(len(train)))
    rng.shuffle(order)
    labels = sorted({s.label for _, spans in train for s in spans})
    nlp = spacy.blank("en")
    out: list[TextAnnotation] = []
    made = 0
    for i in order:
        if made >= decisions:
            break
        text, spans = train[i]
        ann = TextAnnotation(i, hash_text(text), text, complete=True, first_answer=len(out))
        ann.reviewed = set(labels)
        for s in spans:
            if rng.random() < recall:
                ann.entities.append(s)
                made += 1
        n_invented = int(invented) + (1 if rng.random() < invented % 1 else 0)
        doc = nlp.make_doc(text)
        for _ in range(n_invented):
            tok = doc[rng.randrange(len(doc))]
            span = Span(tok.idx, tok.idx + len(tok), rng.choice(labels))
            if any(
                s.start == span.start and s.end == span.end and s.label == span.label for s in spans
            ):
                continue
            ann.incorrect.append(span)
            made += 1
        out.append(ann)
    return out


def policy_experiment(
    train: list, test: list, work: Path, decisions: int, max_steps: int
) -> dict[str, Any]:
    from nerloop.core.training.config import template_text

    anns = simulate_decisions(train, decisions)
    nlp0 = spacy.blank("en")
    dev = [a for a in anns if dev_bucket(a.input_hash) < 20]
    tr = [a for a in anns if dev_bucket(a.input_hash) >= 20]
    results: dict[str, Any] = {
        "decisions": decisions,
        "texts": len(anns),
        "train_texts": len(tr),
        "dev_texts": len(dev),
    }
    for policy in ("missing", "complete"):
        print(f"[policy {policy}] {len(tr)} texts ...", flush=True)
        train_docs = [annotation_doc(nlp0, a, policy) for a in tr]
        dev_docs = [annotation_doc(nlp0, a, policy) for a in dev]
        nlp, seconds = train_model(
            template_text(), train_docs, dev_docs, work / f"policy-{policy}", max_steps
        )
        figures = accuracy(nlp, test)
        results[policy] = {
            "f": figures["f"],
            "p": figures["p"],
            "r": figures["r"],
            "train_seconds": round(seconds, 1),
        }
        print(f"[policy {policy}] {results[policy]}", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=DATA / "train.jsonl")
    parser.add_argument("--test", type=Path, default=DATA / "test.jsonl")
    parser.add_argument("--max-steps", type=int, default=2000)
    parser.add_argument("--only", choices=("default", "project", "none"), default=None)
    parser.add_argument("--policy", action="store_true", help="run the policy experiment too")
    parser.add_argument("--decisions", type=int, default=1500)
    parser.add_argument(
        "--speed-only",
        action="store_true",
        help="only compare the configs' speed, untrained (no accuracy)",
    )
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="NAME=FILE",
        help="also train and measure this config (a variant to compare)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out" / "model.json")
    args = parser.parse_args()
    from nerloop.core.training.config import template_text

    train = read_jsonl(args.train)
    test = read_jsonl(args.test)
    work = Path(tempfile.mkdtemp(prefix="nerloop-bench-model-"))
    result: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.python_version()}, spaCy {spacy.__version__}",
        "cpus": __import__("os").cpu_count(),
        "train": str(args.train),
        "test": str(args.test),
        "train_texts": len(train),
        "test_texts": len(test),
        "max_steps": args.max_steps,
        "command": " ".join(["bench/model.py", *sys.argv[1:]]),
    }
    try:
        configs = {"default": default_config_text(), "project": template_text()}
        for spec in args.config:
            name, _, path = spec.partition("=")
            configs[name] = Path(path).read_text("utf-8")
        if args.speed_only:
            result["speed_only"] = speed_only(configs, train, test, work)
            base = result["speed_only"]["default"]["cpu_words_per_s"]
            for name, figures in result["speed_only"].items():
                figures["cpu_speedup"] = round(figures["cpu_words_per_s"] / base, 2)
                print(f"[{name}] {figures}", flush=True)
            configs = {}
        models: dict[str, Any] = {}
        for name, text in configs.items():
            if args.only in (None, name) or name not in ("default", "project"):
                models[name], result[name] = full_supervision(
                    name, text, train, test, work, args.max_steps
                )
        if models:
            print("measuring speed ...", flush=True)
            for name, figures in speed(models, [t for t, _ in test]).items():
                result[name].update(figures)
                print(f"[{name}] {result[name]}", flush=True)
        if "default" in result and "project" in result:
            d, p = result["default"], result["project"]
            result["speedup"] = round(p["words_per_s"] / d["words_per_s"], 2)
            result["cpu_speedup"] = round(p["cpu_words_per_s"] / d["cpu_words_per_s"], 2)
            result["f_delta"] = round(p["f"] - d["f"], 2)
            result["targets"] = {
                "speed_2x": result["cpu_speedup"] >= 2.0,
                "f_within_1": result["f_delta"] >= -1.0,
                "p99_under_5ms": p["cpu_latency_ms_p99"] < 5.0,
                "package_under_6mb": p["zipped_mb"] <= 6.0,
            }
        if args.policy:
            result["policy"] = policy_experiment(train, test, work, args.decisions, args.max_steps)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    previous: dict[str, Any] = {}
    if args.out.exists():
        with contextlib.suppress(json.JSONDecodeError):
            previous = json.loads(args.out.read_text())
    # A partial run (--only) keeps the other figures of the last full one.
    merged = {**previous, **result}
    args.out.write_text(json.dumps(merged, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
