"""Benchmark of few-shot retrieval: search latency, embedding speed, neighbour quality, prompt
tokens. Prints the figures, writes bench/out/retrieval.json and the "Retrieval" section of
bench/RESULTS.md.

    .venv/bin/python -m bench.retrieval            # everything (about 2 minutes on 2 cores)
    .venv/bin/python -m bench.retrieval --quick    # smaller sizes, for a smoke run

1. Search latency of brute-force cosine top-k (`top_k`: one float32 matrix-vector product and
   an argpartition) over random unit vectors at 10k, 100k and 1M rows; and of the whole
   `Retriever.examples_for` at 100k texts in a real SQLite project (candidates read and cached,
   vectors read incrementally, the example texts fetched), warm and after a new answer.
2. Throughput of the local hashed n-gram embedder on MIT Movie's train texts.
3. Neighbour quality on MIT Movie (train as the pool, test texts as queries): how often a
   retrieved neighbour has exactly the query's set of labels (precision@5), against random
   texts; and the similarity of random pairs, which the default margin is set above.
4. Prompt tokens per per-label prompt without and with retrieved examples, rendered by the
   prompt builder (core/prompts.py) and counted by the 4-characters-a-token estimate; and the
   same for batch prompts (all labels of a text in one call), whose examples are complete texts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import results_md
from nerloop.core.config import Settings
from nerloop.core.embed import HashingEmbedder
from nerloop.core.project import Project
from nerloop.core.prompts import batch_prompt, per_label_prompt
from nerloop.core.records import Span
from nerloop.core.retrieval import (
    FewShotProvider,
    Retriever,
    best_of,
    complete_texts,
    embed_missing,
    local_embedder,
    prompt_tokens,
    top_k,
)
from nerloop.core.store.ingest import ImportState, IngestItem

REPO = Path(__file__).resolve().parent.parent
MIT = REPO.parent / "shared" / "datasets" / "mit_movie"
OUT = REPO / "bench" / "out" / "retrieval.json"
SECTION = "Retrieval"
K = 3
MARGIN = Settings().fewshot_min_similarity


def load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def tmp_root() -> str | None:
    # /dev/shm keeps the fsyncs of the bulk set-up off the shared disk.
    return "/dev/shm" if os.path.isdir("/dev/shm") else None


# -- 1. search latency ---------------------------------------------------------------------


def random_unit(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = np.empty((n, dim), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        block = rng.standard_normal((min(step, n - i), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        m[i : i + step] = block
    return m


def bench_search(sizes: list[tuple[int, int]]) -> list[dict[str, Any]]:
    out = []
    for n, dim in sizes:
        m = random_unit(n, dim, seed=n)
        queries = random_unit(200 if n <= 100_000 else 50, dim, seed=1)
        top_k(m, queries[0], K + 5)  # warm the caches once
        wall, cpu, blas = [], [], []
        for q in queries:
            t, c = time.perf_counter(), time.process_time()
            top_k(m, q, K + 5)
            wall.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            # The same search with numpy's BLAS product (multi-threaded), for comparison.
            t = time.perf_counter()
            best_of(m @ q, K + 5)
            blas.append((time.perf_counter() - t) * 1000)
        row = {
            "vectors": n,
            "dim": dim,
            "matrix_mb": round(m.nbytes / 2**20),
            "queries": len(queries),
            "median_ms": round(statistics.median(wall), 2),
            "p99_ms": round(pct(wall, 99), 2),
            "cpu_median_ms": round(statistics.median(cpu), 2),
            "blas_median_ms": round(statistics.median(blas), 2),
            "load_average": round(os.getloadavg()[0], 1),
        }
        print(
            f"search  {n:>9,} x {dim}: median {row['median_ms']} ms, p99 {row['p99_ms']} ms, "
            f"CPU {row['cpu_median_ms']} ms (BLAS product: {row['blas_median_ms']} ms), "
            f"load {row['load_average']}"
        )
        out.append(row)
        del m
    return out


def bench_retriever(n: int, dim: int, accepted_share: float) -> dict[str, Any]:
    """examples_for at `n` texts in a real project, `accepted_share` of them with an accepted
    span of the label (vectors are random: this measures the machinery, not quality)."""
    with tempfile.TemporaryDirectory(dir=tmp_root()) as tmp:
        tax = Path(tmp) / "taxonomy.toml"
        tax.write_text('[project]\nlang = "en"\n[labels.PRICE]\nkind = "ner"\n', "utf-8")
        project = Project.init(Path(tmp) / "p", tax)
        s = project.store
        rng = np.random.default_rng(7)
        t0 = time.perf_counter()
        n_acc = int(n * accepted_share)
        state = ImportState()
        with s.write():
            for start in range(0, n, 5000):
                items = []
                for i in range(start, min(n, start + 5000)):
                    text = f"text {i} heard wheat bid {i % 997} usd/t fob port {i % 89}"
                    spans = [Span(4, 4 + len(str(i)), "PRICE", 1, 1)] if i < n_acc else []
                    items.append(
                        IngestItem(text, {}, "pool", spans, "accept" if spans else None, "b")
                    )
                s.ingest_batch(items, source="bench", state=state)
        embedder = HashingEmbedder(dim)
        ids = [t.id for t in s.iter_texts("pool")]
        s.save_embeddings(embedder.name, ids, random_unit(len(ids), dim, seed=3))
        setup_s = time.perf_counter() - t0
        r = Retriever(s, embedder, k=K, min_similarity=-1.0, max_tokens=10_000)
        queries = [s.get_text(ids[int(i)]) for i in rng.integers(0, len(ids), 100)]
        t = time.perf_counter()
        r.examples_for(queries[0], "PRICE")
        first_ms = (time.perf_counter() - t) * 1000
        warm = []
        for q in queries:
            t = time.perf_counter()
            got = r.examples_for(q, "PRICE")
            warm.append((time.perf_counter() - t) * 1000)
            assert len(got) == K
        # A new answer makes the next call re-read the accepted examples of the label.
        cold = []
        p = s.proposals_for(ids[0], "PRICE")[0]
        for q in queries[:10]:
            s.add_answer(p.id, "accept", "bench")
            t = time.perf_counter()
            r.examples_for(q, "PRICE")
            cold.append((time.perf_counter() - t) * 1000)
        project.close()
    row = {
        "texts": n,
        "accepted_texts": n_acc,
        "dim": dim,
        "setup_s": round(setup_s, 1),
        "first_call_ms": round(first_ms, 1),
        "warm_median_ms": round(statistics.median(warm), 2),
        "warm_p99_ms": round(pct(warm, 99), 2),
        "after_new_answer_median_ms": round(statistics.median(cold), 1),
    }
    print(
        f"retriever {n:,} texts ({n_acc:,} accepted): first call {row['first_call_ms']} ms, "
        f"warm median {row['warm_median_ms']} ms (p99 {row['warm_p99_ms']}), after a new "
        f"answer {row['after_new_answer_median_ms']} ms"
    )
    return row


# -- 2. embedding throughput ---------------------------------------------------------------


def bench_embed(texts: list[str]) -> dict[str, Any]:
    e = local_embedder()
    t = time.perf_counter()
    m = e.embed(texts)
    cold = time.perf_counter() - t
    t = time.perf_counter()
    e.embed(texts)
    warm = time.perf_counter() - t
    with tempfile.TemporaryDirectory(dir=tmp_root()) as tmp:
        tax = Path(tmp) / "taxonomy.toml"
        tax.write_text('[project]\nlang = "en"\n[labels.X]\nkind = "ner"\n', "utf-8")
        project = Project.init(Path(tmp) / "p", tax)
        with project.store.write():
            project.store.ingest_batch(
                [IngestItem(x, {}, "pool") for x in texts], source="b", state=ImportState()
            )
        t = time.perf_counter()
        n = embed_missing(project.store, local_embedder())
        stored = time.perf_counter() - t
        t = time.perf_counter()
        vm = project.store.vector_matrix(e.name)
        load_s = time.perf_counter() - t
        assert vm is not None and len(vm) == n
        project.close()
    row = {
        "embedder": e.name,
        "texts": len(texts),
        "mean_chars": round(float(np.mean([len(x) for x in texts])), 1),
        "texts_per_s_cold": round(len(texts) / cold),
        "texts_per_s_warm": round(len(texts) / warm),
        "embed_missing_texts_per_s": round(n / stored),
        "load_matrix_ms": round(load_s * 1000, 1),
        "zero_vectors": int((np.linalg.norm(m, axis=1) == 0).sum()),
    }
    print(
        f"embed   {row['texts']:,} MIT Movie texts: {row['texts_per_s_cold']:,}/s cold, "
        f"{row['texts_per_s_warm']:,}/s warm (word cache), {row['embed_missing_texts_per_s']:,}/s "
        f"into SQLite; matrix load {row['load_matrix_ms']} ms"
    )
    return row


# -- 3. neighbour quality ------------------------------------------------------------------


def bench_quality(train: list[dict], test: list[dict], dims: list[int]) -> dict[str, Any]:
    def labels(r: dict) -> frozenset[str]:
        return frozenset(s["label"] for s in r["spans"])

    pool_sets = [labels(r) for r in train]
    query_sets = [labels(r) for r in test]
    rng = np.random.default_rng(0)
    rand_idx = rng.integers(0, len(train), (len(test), 5))
    random_p = float(
        np.mean([[pool_sets[j] == query_sets[i] for j in row] for i, row in enumerate(rand_idx)])
    )
    out: dict[str, Any] = {
        "pool": len(train),
        "queries": len(test),
        "k": 5,
        "random_precision": round(random_p, 3),
        "embedders": [],
    }
    print(f"quality MIT Movie: random texts share the label set {random_p:.3f} of the time")
    for dim in dims:
        e = HashingEmbedder(dim)
        pool = e.embed([r["text"] for r in train])
        queries = e.embed([r["text"] for r in test])
        sims = queries @ pool.T
        top = np.argpartition(-sims, 5, axis=1)[:, :5]
        hits = np.array([[pool_sets[j] == query_sets[i] for j in row] for i, row in enumerate(top)])
        top_sims = np.take_along_axis(sims, top, 1)
        rand_pairs = sims[np.arange(len(test))[:, None], rand_idx]
        kept = top_sims >= MARGIN
        row = {
            "embedder": e.name,
            "precision_at_5": round(float(hits.mean()), 3),
            "top1_similarity_median": round(float(np.median(top_sims.max(axis=1))), 3),
            "random_pair_similarity_p99": round(pct(list(rand_pairs.ravel()), 99), 3),
            "share_of_neighbours_above_margin": round(float(kept.mean()), 3),
            "precision_of_neighbours_below_margin": (
                round(float(hits[~kept].mean()), 3) if (~kept).any() else None
            ),
        }
        out["embedders"].append(row)
        print(
            f"quality {e.name}: P@5 {row['precision_at_5']} (random {random_p:.3f}); top-1 sim "
            f"median {row['top1_similarity_median']}, random pairs p99 "
            f"{row['random_pair_similarity_p99']}"
        )
    return out


# -- 4. prompt tokens ----------------------------------------------------------------------


def token_figures(
    without: list[int], with_ex: list[int], n_examples: list[int], per_prompt_ms: float
) -> dict[str, Any]:
    """Prompt tokens without and with examples, and how many examples the prompts got."""
    return {
        "tokens_without_mean": round(float(np.mean(without)), 1),
        "tokens_with_mean": round(float(np.mean(with_ex)), 1),
        "tokens_with_p90": round(pct([float(x) for x in with_ex], 90)),
        "tokens_with_max": int(max(with_ex)),
        "examples_mean": round(float(np.mean(n_examples)), 2),
        "prompts_with_no_example": round(float(np.mean([n == 0 for n in n_examples])), 3),
        "retrieve_and_render_ms_per_prompt": round(per_prompt_ms, 2),
    }


def bench_prompt_tokens(train: list[dict], test: list[dict]) -> dict[str, Any]:
    """Pool: `train` with every gold span stored as an accepted answer (as if the LLM had
    proposed it and the annotator said yes). Per-label prompts for `test` texts."""
    names = sorted({s["label"] for r in train for s in r["spans"]})
    with tempfile.TemporaryDirectory(dir=tmp_root()) as tmp:
        tax = Path(tmp) / "taxonomy.toml"
        body = "".join(
            f'[labels.{n}]\nkind = "ner"\ndescription = "A {n.lower()} of a film."\n' for n in names
        )
        tax.write_text('[project]\nlang = "en"\n' + body, "utf-8")
        project = Project.init(Path(tmp) / "p", tax)
        nlp = project.nlp
        items = []
        for r in train:
            doc = nlp.make_doc(r["text"])
            spans = []
            for s in r["spans"]:
                sp = doc.char_span(s["start"], s["end"], alignment_mode="expand")
                if sp is not None:
                    spans.append(Span(s["start"], s["end"], s["label"], sp.start, sp.end - 1))
            items.append(IngestItem(r["text"], {}, "pool", spans, "accept" if spans else None))
        with project.store.write():
            project.store.ingest_batch(items, source="bench", state=ImportState())
        queries = []
        for r in test:
            tid, _ = project.store.add_text(r["text"])
            queries.append(project.store.get_text(tid))
        provider = FewShotProvider(lambda: project.store, project.taxonomy, project.settings)
        settings = project.settings
        without: list[int] = []
        with_ex: list[int] = []
        n_examples: list[int] = []
        t = time.perf_counter()
        for q in queries:
            for label in project.taxonomy.labels:
                examples = provider(q, [label.name])
                without.append(prompt_tokens(per_label_prompt(q.text, label).messages))
                with_ex.append(prompt_tokens(per_label_prompt(q.text, label, examples).messages))
                n_examples.append(len(examples))
        per_prompt_ms = (time.perf_counter() - t) * 1000 / len(without)
        batch = bench_batch_prompt_tokens(project, provider, queries)
        project.close()
    row = {
        "labels": len(names),
        "pool_texts": len(train),
        "queries": len(test),
        "prompts": len(without),
        "k": settings.fewshot_k,
        "min_similarity": settings.fewshot_min_similarity,
        "max_example_tokens": settings.fewshot_max_tokens,
        **token_figures(without, with_ex, n_examples, per_prompt_ms),
        "counted_by": "core.retrieval.prompt_tokens (4 chars a token + 4 per message)",
        "per_text_without_mean": round(float(np.mean(without)) * len(names), 1),
        "per_text_with_mean": round(float(np.mean(with_ex)) * len(names), 1),
        "batch": batch,
    }
    print(
        f"prompt  per-label prompts: {row['tokens_without_mean']} tokens without examples, "
        f"{row['tokens_with_mean']} with (p90 {row['tokens_with_p90']}, max "
        f"{row['tokens_with_max']}); {row['examples_mean']} examples a prompt"
    )
    return row


def bench_batch_prompt_tokens(
    project: Project, provider: FewShotProvider, queries: list[Any]
) -> dict[str, Any]:
    """Batch prompts for the queries of bench_prompt_tokens. Every answered pool text is made
    complete: a coverage row says the LLM was run over it for every label (and proposed the
    gold spans, which were accepted), as after per-label passes over the whole pool."""
    s = project.store
    labels = list(project.taxonomy.ner_labels)
    names = [label.name for label in labels]
    answered = [r["id"] for r in s.query("SELECT id FROM texts WHERE split = 'pool'")]
    for name in names:
        s.mark_covered(name, "llm", answered)
    t = time.perf_counter()
    complete = complete_texts(s, project.taxonomy)
    read_ms = (time.perf_counter() - t) * 1000
    without: list[int] = []
    with_ex: list[int] = []
    n_examples: list[int] = []
    t = time.perf_counter()
    for q in queries:
        shots = provider.shots(q, names, batch=True)
        without.append(prompt_tokens(batch_prompt(q.text, labels).messages))
        with_ex.append(prompt_tokens(batch_prompt(q.text, labels, shots).messages))
        n_examples.append(len(shots))
    per_prompt_ms = (time.perf_counter() - t) * 1000 / len(queries)
    row = {
        "complete_texts": len(complete),
        "read_complete_texts_ms": round(read_ms, 1),
        "prompts": len(without),
        **token_figures(without, with_ex, n_examples, per_prompt_ms),
    }
    print(
        f"prompt  batch prompts: {row['tokens_without_mean']} tokens without examples, "
        f"{row['tokens_with_mean']} with (p90 {row['tokens_with_p90']}, max "
        f"{row['tokens_with_max']}); {row['examples_mean']} examples a prompt; "
        f"{row['complete_texts']:,} complete texts read in {row['read_complete_texts_ms']} ms"
    )
    return row


# -- report --------------------------------------------------------------------------------


def section(fig: dict[str, Any]) -> str:
    lines = [
        f"## {SECTION}",
        "",
        f"Command: `{fig['command']}` ({fig['date']}, {fig['machine']}). "
        "Figures in bench/out/retrieval.json.",
        "",
        "Search latency, brute-force cosine top-k over random unit float32 vectors "
        "(`core.retrieval.top_k`):",
        "",
        "| vectors | dim | matrix MB | median ms | p99 ms | CPU ms (median) | BLAS ms (median) "
        "| load average |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in fig["search"]:
        lines.append(
            f"| {r['vectors']:,} | {r['dim']} | {r['matrix_mb']} | {r['median_ms']} | "
            f"{r['p99_ms']} | {r['cpu_median_ms']} | {r['blas_median_ms']} | "
            f"{r['load_average']} |"
        )
    lines += [
        "",
        "Median and p99 are wall-clock times of `top_k` (single-threaded einsum product and "
        "argpartition); CPU is the process time of the same calls; BLAS is the same search with "
        "numpy's multi-threaded `matrix @ query`. The load average (of 2 cores) is the "
        "machine's, which other jobs shared: the search is bound by memory bandwidth, which "
        "they share too.",
    ]
    rr = fig["retriever"]
    lines += [
        "",
        f"Whole `Retriever.examples_for` in a real project of {rr['texts']:,} texts "
        f"({rr['accepted_texts']:,} with accepted answers of the label): first call "
        f"{rr['first_call_ms']} ms (reads {rr['texts']:,} vectors), then median "
        f"{rr['warm_median_ms']} ms (p99 {rr['warm_p99_ms']} ms); right after a new answer "
        f"{rr['after_new_answer_median_ms']} ms (the label's accepted examples are read again).",
    ]
    e = fig["embed"]
    lines += [
        "",
        f"Local embedder `{e['embedder']}` on {e['texts']:,} MIT Movie texts "
        f"({e['mean_chars']} chars on average): {e['texts_per_s_cold']:,} texts/s cold, "
        f"{e['texts_per_s_warm']:,} texts/s with its word cache warm, "
        f"{e['embed_missing_texts_per_s']:,} texts/s through `nerloop embed`'s path into SQLite; "
        f"loading the matrix back takes {e['load_matrix_ms']} ms.",
        "",
        "Neighbour quality on MIT Movie (pool: train, queries: "
        f"{fig['quality']['queries']:,} test texts): share of the 5 nearest neighbours whose label "
        "set equals the query's.",
        "",
        "| embedder | P@5 | random texts | top-1 sim (median) | random pairs sim p99 |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in fig["quality"]["embedders"]:
        lines.append(
            f"| {r['embedder']} | {r['precision_at_5']} | {fig['quality']['random_precision']} | "
            f"{r['top1_similarity_median']} | {r['random_pair_similarity_p99']} |"
        )
    p = fig["prompt"]
    lines += [
        "",
        f"Prompt tokens, per-label prompts of the prompt builder for {p['queries']} MIT Movie "
        f"test texts x {p['labels']} labels, pool of {p['pool_texts']:,} train texts with their "
        f"spans as accepted answers; k={p['k']}, margin {p['min_similarity']}, example budget "
        f"{p['max_example_tokens']} tokens; counted by {p['counted_by']}:",
        "",
        "| | mean tokens | p90 | max |",
        "|---|---:|---:|---:|",
        f"| without examples | {p['tokens_without_mean']} | | |",
        f"| with retrieved examples | {p['tokens_with_mean']} | {p['tokens_with_p90']} | "
        f"{p['tokens_with_max']} |",
        "",
        f"{p['examples_mean']} examples a prompt on average; {p['prompts_with_no_example']:.1%} "
        f"of prompts got none (no accepted text of the label above the margin). Retrieval and "
        f"rendering cost {p['retrieve_and_render_ms_per_prompt']} ms a prompt.",
    ]
    b = p.get("batch")
    if b:
        lines += [
            "",
            f"Batch prompts (all {p['labels']} labels of a text in one call, ner-batch/v2) for the "
            f"same {p['queries']} texts, same k, margin and budget; their examples are complete "
            "texts (reviewed for every label). Here every answered pool text was made complete "
            "(a coverage row per label: as if the LLM had been run over it for each label and "
            f"its spans accepted), {b['complete_texts']:,} texts:",
            "",
            "| | batch prompt, mean tokens | p90 | max | per text, per-label prompts |",
            "|---|---:|---:|---:|---:|",
            f"| without examples | {b['tokens_without_mean']} | | | {p['per_text_without_mean']} |",
            f"| with retrieved examples | {b['tokens_with_mean']} | {b['tokens_with_p90']} | "
            f"{b['tokens_with_max']} | {p['per_text_with_mean']} |",
            "",
            f"{b['examples_mean']} examples a batch prompt on average (a batch example repeats "
            f"the {p['labels']} label lines, so fewer fit in the budget); "
            f"{b['prompts_with_no_example']:.1%} got none. The last column is the "
            f"{p['labels']} per-label prompts a text needs otherwise (mean x {p['labels']}). "
            f"Finding which texts are complete (core.training.data.collect_annotations over every "
            f"answered text) took {b['read_complete_texts_ms']} ms: the LLM proposer has it done "
            "in a thread, at most every 5 s while answers or proposals change. Retrieval and "
            "rendering cost "
            f"{b['retrieve_and_render_ms_per_prompt']} ms a batch prompt (the first one reads the "
            "complete texts).",
        ]
    if fig.get("notes"):
        lines += ["", *fig["notes"]]
    return "\n".join(lines) + "\n"


NOTES = [
    "Why hashed n-grams for the local embedder (see core/embed.py): no network, no download,",
    "deterministic, no fitted state. A packaged static embedding model was measured once for",
    "comparison: `wordllama` 0.4.0.post1 (256-d weights inside its wheel) gave P@5 0.257 with",
    "the same protocol against 0.304 for the hashed 256-d vectors, at a similar speed; its",
    "loader also tried to download, from a model hub, a tokenizer file that its wheel ships",
    "under another folder name. (A one-off run in a scratch venv; not a dependency.)",
]


def write_section(text: str) -> None:
    results_md.write_section(SECTION, text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    ap.add_argument("--dim", type=int, default=Settings().embed_dim, help="the local default")
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()
    train, test = load(MIT / "train.jsonl"), load(MIT / "test.jsonl")
    sizes = [(10_000, args.dim), (100_000, args.dim), (100_000, 256)]
    if not args.quick:
        sizes.append((1_000_000, args.dim))
    fig: dict[str, Any] = {
        "command": "python -m bench.retrieval" + (" --quick" if args.quick else ""),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}",
    }
    fig["search"] = bench_search(sizes)
    fig["retriever"] = bench_retriever(20_000 if args.quick else 100_000, args.dim, 0.2)
    fig["embed"] = bench_embed([r["text"] for r in train])
    fig["quality"] = bench_quality(train, test[:1000], [args.dim, 256, 512, 1024])
    fig["prompt"] = bench_prompt_tokens(
        train[:2000] if args.quick else train, test[:50] if args.quick else test[:200]
    )
    fig["notes"] = NOTES
    OUT.parent.mkdir(parents=True, exist_ok=True)
    if not args.no_write:
        OUT.write_text(json.dumps(fig, indent=2) + "\n", "utf-8")
        write_section(section(fig))
        print(f"wrote {OUT.relative_to(REPO)} and the {SECTION} section of bench/RESULTS.md")


if __name__ == "__main__":
    main()
