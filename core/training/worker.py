"""The training process: `python -m nerloop.core.training.worker ...` (started by runner.py).

It builds the training data from the answers, trains spaCy from the shipped config with the
progress logger (the ner's tok2vec starting from the latest pretrained weights with
--pretrained latest, when there are usable ones: pretrain.py), scores the best model on gold,
and only then moves it into place with one rename
(<project>/models/.run-N.tmp/output/model-best -> <project>/models/run-N), so a model folder
is never half-written. A SIGTERM (cancel) or an error at any point before the rename
removes the temporary folder and records the run as cancelled or failed
(worker_process.supervise, shared with the pretraining worker).

The worker finishes its own run row, so a run completes even if the app that started it exits.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerloop.core.training.worker_process import (
    move_into_place,
    read_log,
    supervise,
    worker_parser,
)

if TYPE_CHECKING:
    from nerloop.core.store import Store
    from nerloop.core.store.runs import RunStatus


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = worker_parser("nerloop.core.training.worker")
    parser.add_argument("--max-steps", type=int, required=True)
    parser.add_argument("--policy", choices=("missing", "complete"), required=True)
    parser.add_argument("--fraction", type=float, default=1.0)
    parser.add_argument("--purpose", choices=("train", "retrain", "curve"), default="train")
    parser.add_argument("--pretrained", choices=("latest", "off"), default="off")
    parser.add_argument("--silver", choices=("auto", "on", "off"), default="off")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def record(store: Store, status: RunStatus, error: str | None, log: str) -> None:
        store.end_run(args.run, status, error=error, log=log)

    return supervise(args, lambda project: _run(project, args), record)


def _run(project: Any, args: argparse.Namespace) -> dict[str, Any]:
    from nerloop.core.evaluate import gold_set
    from nerloop.core.training.data import build_training_data
    from nerloop.core.training.logger import append_event
    from nerloop.core.training.promote import gold_f, should_promote
    from nerloop.core.training.silver import with_silver

    store = project.store
    data = build_training_data(store, project.taxonomy, args.policy, fraction=args.fraction)
    silvered = with_silver(data, store, project.taxonomy) if args.silver != "off" else data
    tok2vec, weights = _pretrained(project, args.pretrained)
    # Which data trains: `on` with silver, `off` without; `auto` both, when there is silver to
    # add and gold to decide by, and the better on gold wins (ties: without, the data people
    # checked). The choice and both scores go into the run's scores.
    variants = {"off": [data], "on": [silvered]}.get(args.silver, [data, silvered])
    silver: dict[str, Any] = {"setting": args.silver, "available": silvered.silver_texts}
    if len(variants) == 2 and not silvered.silver_texts:
        variants, silver["note"] = [data], "no silver texts: trained without silver"
    elif len(variants) == 2 and not gold_set(project)[0]:
        variants, silver["note"] = [data], "no gold to decide by: trained without silver"
    fits = []
    for i, variant in enumerate(variants):
        counts = {
            **variant.counts(),
            "fraction": args.fraction,
            "max_steps": args.max_steps,
            "tok2vec": tok2vec,
            "silver": silver,
        }
        append_event(args.progress, {"event": "data", "run": args.run, "counts": counts})
        store.update_run(args.run, counts=counts)
        fits.append((counts, *_fit(project, args, variant, weights, args.tmp / f"fit-{i}")))
    if len(fits) == 2:
        without, with_ = (gold_f(fit[2]) or 0.0 for fit in fits)
        silver.update(gold_f_without=without, gold_f_with=with_)
        silver["chosen"] = "with" if with_ > without else "without"
        counts, output, gold, config, dev_scores = fits[with_ > without]
    else:
        counts, output, gold, config, dev_scores = fits[0]
        silver["chosen"] = "with" if counts["silver_texts"] else "without"
    store.update_run(args.run, counts=counts, config=config)
    scores: dict[str, Any] = {"gold": gold, "dev": dev_scores, "silver": silver}

    keep = args.purpose != "curve"
    promoted, previous_f = should_promote(project, gold) if keep else (False, None)
    scores["previous_gold_f"] = previous_f
    model_path: str | None = None
    # From here on a cancel would leave a half-finished state: finish instead.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if keep:
        target = project.path / "models" / f"run-{args.run}"
        move_into_place(output, target)
        model_path = str(target)
    store.finish_run(
        args.run,
        "done",
        promoted=promoted,
        model_path=model_path,
        scores=scores,
        log=read_log(args.progress),
    )
    return {"model_path": model_path, "promoted": promoted, "scores": scores, "counts": counts}


def _fit(
    project: Any, args: argparse.Namespace, data: Any, weights: Path | None, folder: Path
) -> tuple[Path, dict[str, Any], str, dict[str, Any]]:
    """Train one model on `data` in `folder`: (its model-best folder, its gold scores, its
    config, its dev scores)."""
    import spacy
    from spacy.training.initialize import init_nlp
    from spacy.training.loop import train as spacy_train

    from nerloop.core.evaluate import evaluate_ner
    from nerloop.core.training.config import (
        load_run_config,
        run_overrides,
        with_pretraining_block,
    )
    from nerloop.core.training.data import annotation_doc, write_docbin
    from nerloop.core.training.logger import append_event

    folder.mkdir()
    blank = spacy.blank(project.taxonomy.lang)
    train_path, dev_path = folder / "train.spacy", folder / "dev.spacy"
    write_docbin((annotation_doc(blank, a, data.policy) for a in data.train), train_path)
    write_docbin((annotation_doc(blank, a, data.policy) for a in data.dev), dev_path)
    overrides = run_overrides(
        lang=project.taxonomy.lang,
        train=train_path,
        dev=dev_path,
        progress=args.progress,
        max_steps=args.max_steps,
        init_tok2vec=weights,
    )
    config = load_run_config(overrides)
    if weights is not None:
        with_pretraining_block(config)
    output = folder / "output"
    output.mkdir()
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        nlp = init_nlp(config)
        spacy_train(nlp, output, stdout=console, stderr=console)
    best = spacy.load(output / "model-best")
    gold = evaluate_ner(project, best)
    append_event(args.progress, {"event": "gold", "run": args.run, "scores": gold})
    return output / "model-best", gold, config.to_str(), best.meta.get("performance", {})


def _pretrained(project: Any, choice: str) -> tuple[dict[str, Any], Path | None]:
    """What the run's counts say about its tok2vec, and the weights to start from (None: from
    scratch)."""
    if choice == "off":
        return {"setting": "off", "pretrain_run": None}, None
    from nerloop.core.training.pretrain import usable_weights

    row, why_not = usable_weights(project)
    if row is None:
        return {"setting": choice, "pretrain_run": None, "note": why_not}, None
    info = {
        "setting": choice,
        "pretrain_run": row["id"],
        "weights_path": row["weights_path"],
        "texts": row["counts"].get("texts"),
        "epochs": row["counts"].get("epochs"),
    }
    return info, Path(row["weights_path"])


if __name__ == "__main__":
    sys.exit(main())
