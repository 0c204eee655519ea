"""The pretraining process: `python -m nerloop.core.training.pretrain_worker ...` (started by
pretrain.py through runner.spawn_worker).

It writes the pool's raw texts from the store as JSONL ({"text": ...} a line), runs spaCy's
`pretrain` on them with the shipped pretraining config (core/training/pretrain.cfg: the
characters objective on the ner's tok2vec architecture), reports each epoch's loss as it comes,
puts the weights into the form the ner's tok2vec layer loads (`ner_weights`), and only then
moves them into place with one rename (<project>/models/.pretrain-N.tmp/result ->
<project>/models/pretrain-N). A SIGTERM (cancel) or an error before the rename removes the
temporary folder and records the run as cancelled or failed (worker_process.supervise, as
training).

Progress events (JSON lines, read by pretrain.PretrainRun):

    {"event": "texts", "run": 3, "counts": {"texts": 9732, "pool_texts": 9732, ...}}
    {"event": "epoch", "run": 3, "epoch": 1, "epochs": 10, "loss": 351842.5,
     "loss_per_word": 4.112, "words": 85560, "seconds": 6.2}
    {"event": "done", "run": 3, "weights_path": ..., "counts": ..., "losses": [...]}
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nerloop.core.training.worker_process import (
    move_into_place,
    read_log,
    supervise,
    worker_parser,
)

WEIGHTS_FILE = "tok2vec.bin"
SAMPLE_SEED = 0
"""Which texts a --max-texts sample takes: fixed, so a rerun on the same pool uses the same."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = worker_parser("nerloop.core.training.pretrain_worker")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--max-texts", type=int, default=0, help="0: every pool text")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def write_pool_texts(store: Any, path: Path, max_texts: int = 0) -> tuple[int, int]:
    """Write the pool's texts (never gold: those are the test set) as JSONL, in id order;
    with `max_texts`, a seeded uniform sample of that many. Returns (written, pool size).
    Memory stays flat for the whole pool; a sample holds its texts."""
    pool = store.count_texts("pool")
    texts = store.iter_texts("pool")
    if max_texts and pool > max_texts:
        # Reservoir sampling: one pass, the same sample for the same pool and seed.
        rng = random.Random(SAMPLE_SEED)
        sample: list[tuple[int, str]] = []
        for i, t in enumerate(texts):
            if i < max_texts:
                sample.append((t.id, t.text))
            else:
                j = rng.randrange(i + 1)
                if j < max_texts:
                    sample[j] = (t.id, t.text)
        lines = (text for _, text in sorted(sample))
    else:
        lines = (t.text for t in texts)
    written = 0
    with path.open("w", encoding="utf-8") as f:
        for text in lines:
            f.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
            written += 1
    return written, pool


class EpochWatcher(threading.Thread):
    """Turns the lines spaCy's pretrain appends to its log.jsonl (one an epoch, written after
    the epoch's weights file) into epoch events as they come, and removes the previous epoch's
    weights file then (only the last is kept; on a large pool each is a few MB)."""

    def __init__(self, output: Path, progress: Path, run_id: int, epochs: int) -> None:
        super().__init__(name="nerloop-pretrain-epochs", daemon=True)
        self.output = output
        self.progress = progress
        self.run_id = run_id
        self.epochs = epochs
        self.losses: list[float] = []
        self.words_per_epoch = 0
        self._offset = 0
        self._words = 0
        self._t0 = time.monotonic()
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._halt.wait(0.5):
            self.poll()

    def finish(self) -> list[float]:
        """Stop watching and report what is left; returns the loss of each epoch."""
        self._halt.set()
        self.join()
        self.poll()
        return self.losses

    def poll(self) -> None:
        from nerloop.core.training.logger import append_event

        with self._lock:
            log = self.output / "log.jsonl"
            if not log.exists():
                return
            with log.open("rb") as f:
                f.seek(self._offset)
                chunk = f.read()
            # Only whole lines: spaCy may be writing the next one.
            complete = chunk[: chunk.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                entry = json.loads(line)
                epoch = int(entry["epoch"])
                if epoch >= self.epochs:  # spaCy's closing "model-last" line repeats the last
                    continue
                words = int(entry["nr_word"]) - self._words
                self._words = int(entry["nr_word"])
                self.words_per_epoch = words
                loss = float(entry["epoch_loss"])
                self.losses.append(round(loss, 3))
                event = {
                    "event": "epoch",
                    "run": self.run_id,
                    "epoch": epoch + 1,
                    "epochs": self.epochs,
                    "loss": round(loss, 3),
                    "loss_per_word": round(loss / words, 4) if words else None,
                    "words": words,
                    "seconds": round(time.monotonic() - self._t0, 1),
                }
                append_event(self.progress, event)
                (self.output / f"model{epoch - 1}.bin").unlink(missing_ok=True)


def ner_weights(training_config: Any, tok2vec_bytes: bytes) -> bytes:
    """The pretrained tok2vec (spaCy's pretrain output, a Tok2Vec model's bytes) in the form of
    the ner's "tok2vec" layer, which [initialize] init_tok2vec loads with component "ner" and
    layer "tok2vec".

    That layer is the Tok2Vec followed by a projection to the parser's hidden width
    (spacy.TransitionBasedParser.v2). The projection was not pretrained: its weights and sizes
    are left out, so from_bytes sets only the Tok2Vec's and the projection keeps the random
    initialisation of the training run (from the run's seed), as without pretraining."""
    import srsly
    from spacy import util

    nlp = util.load_model_from_config(training_config, auto_fill=True)
    ner: Any = nlp.get_pipe("ner")
    layer = ner.model.get_ref("tok2vec")
    inner = layer.layers[0]
    inner.from_bytes(tok2vec_bytes)  # raises if the architectures differ
    pretrained = {node.id for node in inner.walk()}
    msg = srsly.msgpack_loads(layer.to_bytes())
    for i, node in enumerate(layer.walk()):
        if node.id not in pretrained:
            msg["params"][i] = {}
            msg["nodes"][i]["dims"] = {}
    return bytes(srsly.msgpack_dumps(msg))


def _run(project: Any, args: argparse.Namespace) -> dict[str, Any]:
    from spacy.training.pretrain import pretrain as spacy_pretrain

    from nerloop.core.training.config import (
        load_run_config,
        ner_tok2vec_section,
        pretrain_config,
    )
    from nerloop.core.training.data import TrainingDataError
    from nerloop.core.training.logger import append_event
    from nerloop.core.training.pretrain import NO_POOL_TEXTS

    store = project.store
    lang = project.taxonomy.lang
    texts_path = args.tmp / "texts.jsonl"
    written, pool = write_pool_texts(store, texts_path, args.max_texts)
    if written == 0:  # start_pretraining checks too, but the pool may have changed since
        raise TrainingDataError(NO_POOL_TEXTS)
    training_config = load_run_config({"nlp.lang": lang})
    counts: dict[str, Any] = {
        "texts": written,
        "pool_texts": pool,
        "max_texts": args.max_texts or None,
        "epochs": args.epochs,
        "lang": lang,
        "tok2vec": ner_tok2vec_section(training_config),
    }
    append_event(args.progress, {"event": "texts", "run": args.run, "counts": counts})
    config = pretrain_config(lang=lang, raw_text=texts_path, epochs=args.epochs, seed=args.seed)
    store.update_pretrain_run(args.run, counts=counts, config=config.to_str())

    output = args.tmp / "output"
    output.mkdir()
    watcher = EpochWatcher(output, args.progress, args.run, args.epochs)
    watcher.start()
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        # skip_last: no extra "model-last" copy; the last epoch's file is the result.
        spacy_pretrain(config.interpolate(), output, silent=True, skip_last=True)
    finally:
        losses = watcher.finish()
    counts.update(
        words_per_epoch=watcher.words_per_epoch,
        seconds=round(time.perf_counter() - wall, 1),
        cpu_seconds=round(time.process_time() - cpu, 1),
    )
    weights = ner_weights(training_config, (output / f"model{args.epochs - 1}.bin").read_bytes())
    result = args.tmp / "result"
    result.mkdir()
    (result / WEIGHTS_FILE).write_bytes(weights)
    config.to_disk(result / "config.cfg")
    shutil.copyfile(output / "log.jsonl", result / "log.jsonl")

    # From here on a cancel would leave a half-finished state: finish instead.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    target = project.path / "models" / f"pretrain-{args.run}"
    move_into_place(result, target)
    weights_path = str(target / WEIGHTS_FILE)
    store.finish_pretrain_run(
        args.run,
        "done",
        weights_path=weights_path,
        counts=counts,
        losses=losses,
        log=read_log(args.progress),
    )
    return {"weights_path": weights_path, "counts": counts, "losses": losses}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def record(store: Any, status: Any, error: str | None, log: str) -> None:
        store.finish_pretrain_run(args.run, status, error=error, log=log)

    return supervise(args, lambda project: _run(project, args), record)


if __name__ == "__main__":
    sys.exit(main())
