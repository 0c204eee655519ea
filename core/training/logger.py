"""A spaCy training logger that streams progress as JSON lines to a file the parent reads.

Registered as `nerloop.progress.v1` (the `[training.logger]` of core/training/ner.cfg). Each
line is one event:

    {"event": "step", "step": 120, "time": ...}                      at most every STEP_EVERY_S
    {"event": "eval", "step": 200, "epoch": 3, "losses": {"ner": 41.2}, "score": 0.71,
     "scores": {"ents_f": 0.71, "ents_p": ..., "ents_r": ..., "ents_per_type": {...}},
     "words": 12000, "seconds": 8.1, "time": ...}                    every eval_frequency steps

The worker (core/training/worker.py) appends its own events (data, gold, done, failed) to the
same file, and core/training/runner.py turns the lines back into dicts for the caller.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import spacy

if TYPE_CHECKING:
    from spacy.language import Language

STEP_EVERY_S = 0.5
"""Plain step events are throttled: the UI needs a heartbeat, not one line per batch."""


def append_event(path: Path | str, event: dict[str, Any]) -> None:
    """Append one event line (opened and closed each time, so every line is complete on disk)."""
    line = json.dumps({**event, "time": round(time.time(), 3)}, ensure_ascii=False)
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()


def _round(value: Any) -> Any:
    """Plain, short JSON numbers (spaCy hands out numpy floats too)."""
    if isinstance(value, dict):
        return {str(k): _round(v) for k, v in value.items()}
    if value is None or isinstance(value, bool | str | int):
        return value
    try:
        return round(float(value), 5)
    except (TypeError, ValueError):
        return str(value)


LogStep = Callable[[dict[str, Any] | None], None]


@spacy.registry.loggers("nerloop.progress.v1")
def progress_logger(
    path: str | None = None,
) -> Callable[[Language, IO[str], IO[str]], tuple[LogStep, Callable[[], None]]]:
    """spaCy logger factory: JSON lines to `path` (nothing is written when it is None)."""

    def setup(
        nlp: Language, stdout: IO[str] = sys.stdout, stderr: IO[str] = sys.stderr
    ) -> tuple[LogStep, Callable[[], None]]:
        step = 0
        last_beat = 0.0

        def log_step(info: dict[str, Any] | None) -> None:
            nonlocal step, last_beat
            if path is None:
                return
            if info is None:
                # spaCy calls this once a step and passes info only at evaluations.
                step += 1
                now = time.monotonic()
                if now - last_beat >= STEP_EVERY_S:
                    last_beat = now
                    append_event(path, {"event": "step", "step": step})
                return
            step = int(info.get("step", step))
            scores = info.get("other_scores") or {}
            append_event(
                path,
                {
                    "event": "eval",
                    "step": step,
                    "epoch": int(info.get("epoch", 0)),
                    "losses": _round(dict(info.get("losses") or {})),
                    "score": _round(float(info.get("score") or 0.0)),
                    "scores": _round(
                        {
                            key: scores.get(key)
                            for key in ("ents_f", "ents_p", "ents_r", "ents_per_type")
                        }
                    ),
                    "words": int(info.get("words", 0)),
                    "seconds": _round(float(info.get("seconds", 0.0))),
                },
            )

        def finalize() -> None:
            return None

        return log_step, finalize

    return setup
