"""References for the loop: full supervision when bench/model.py's figure is not there (the
project config trained on every pool text with all its gold spans, uncovered tokens O, dev =
the gold split, scored on the same test records as the loop), and the oracle curve: the same
config trained on the first N pool texts with all their gold spans, as if N texts had been
annotated perfectly, which bounds what any strategy can reach with N texts."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Any

from bench.loop.data import Dataset


def full_supervision(data: Dataset, work: Path, max_steps: int) -> dict[str, Any]:
    result = train_on_gold(data, len(data.pool), work / "reference", max_steps)
    result["source"] = f"own reference: all {len(data.pool)} pool texts, {max_steps} steps"
    return result


def oracle_curve(
    data: Dataset, sizes: list[int], work: Path, max_steps: int
) -> list[dict[str, Any]]:
    """F on test of the first N pool texts, perfectly annotated, for each N in `sizes`."""
    return [
        {"texts": n, **train_on_gold(data, n, work / f"oracle-{n}", max_steps)}
        for n in sizes
        if n <= len(data.pool)
    ]


def train_on_gold(data: Dataset, n: int, folder: Path, max_steps: int) -> dict[str, Any]:
    import spacy
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train

    import nerloop.core.training.logger  # noqa: F401  (registers the progress logger)
    from nerloop.core.evaluate import predict, score_spans
    from nerloop.core.training.config import load_run_config, run_overrides
    from nerloop.core.training.data import gold_doc, write_docbin

    started = time.perf_counter()
    (folder / "output").mkdir(parents=True, exist_ok=True)
    blank = spacy.blank("en")
    labels = set(data.labels)
    train_path, dev_path = folder / "train.spacy", folder / "dev.spacy"
    write_docbin((gold_doc(blank, r.text, r.spans, labels) for r in data.pool[:n]), train_path)
    write_docbin((gold_doc(blank, r.text, r.spans, labels) for r in data.gold), dev_path)
    overrides = run_overrides(
        lang="en",
        train=train_path,
        dev=dev_path,
        progress=folder / "progress.jsonl",
        max_steps=max_steps,
    )
    config = load_run_config(overrides)
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        nlp = init_nlp(config)
        spacy_train(nlp, folder / "output", stdout=console, stderr=console)
    best = spacy.load(folder / "output" / "model-best")
    texts = {i: r.text for i, r in enumerate(data.test)}
    gold = {i: list(r.spans) for i, r in enumerate(data.test)}
    scores = score_spans(gold, predict(best, texts), data.labels, texts.keys())
    return {
        "f": round(100 * scores["overall"]["f"], 2),
        "max_steps": max_steps,
        "train_s": round(time.perf_counter() - started, 1),
    }
