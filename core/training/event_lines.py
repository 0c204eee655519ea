"""One line of text per training progress event, for people: `nerloop train` prints them and the
Train tab's log shows them, in the same words.

    event_line({"event": "eval", "step": 200, "epoch": 3, "losses": {"ner": 41.2},
                "scores": {"ents_f": 0.71}})
    -> "step 200 epoch 3: loss 41.20, dev F 71.0"
    event_line(..., aligned=True)
    -> "step    200 epoch   3: loss      41.20, dev F  71.0"

The aligned form has the same words with numbers padded to fixed widths, so that successive
lines of a terminal line up in columns. Events are those of logger.py and worker.py; plain step
events are heartbeats and have no line.
"""

from __future__ import annotations

from typing import Any


def _pct(value: Any, aligned: bool) -> str:
    """A 0-1 score as a percentage with one decimal ("-" when it is missing)."""
    text = "-" if value is None else f"{float(value) * 100:.1f}"
    return text.rjust(5) if aligned else text


def _data(counts: dict[str, Any]) -> str:
    ents = ", ".join(f"{k} {v}" for k, v in counts["entities"].items()) or "none"
    return (
        f"data: {counts['train_texts']} train texts ({counts['complete_texts']} complete), "
        f"{counts['dev_texts']} dev; policy {counts['policy']}; entities: {ents}"
    )


def _eval(event: dict[str, Any], aligned: bool) -> str:
    loss = sum((event.get("losses") or {}).values())
    dev_f = _pct((event.get("scores") or {}).get("ents_f"), aligned)
    if aligned:
        return (
            f"step {event['step']:>6} epoch {event['epoch']:>3}: loss {loss:10.2f}, dev F {dev_f}"
        )
    return f"step {event['step']} epoch {event['epoch']}: loss {loss:.2f}, dev F {dev_f}"


def _gold(scores: dict[str, Any], aligned: bool) -> str:
    if not scores.get("texts"):
        return "gold: no finished gold texts, the model is not scored"
    f = _pct((scores.get("overall") or {}).get("f"), aligned)
    return f"gold: F {f} on {scores['texts']} gold texts"


def _done(event: dict[str, Any]) -> str:
    path = event.get("model_path")
    if path is None:  # a learning-curve run keeps no model
        return "done: the model was not kept"
    if event.get("promoted"):
        return f"done: {path}, now in use"
    return f"done: {path}, not used: the model in use scores better on gold"


def event_line(event: dict[str, Any], *, aligned: bool = False) -> str | None:
    """The line for a progress event (data, eval, gold, done, failed, cancelled), or None for
    heartbeats and events of other kinds. `aligned` pads step, epoch, loss and F to fixed widths.
    """
    kind = event.get("event")
    if kind == "data":
        return _data(event["counts"])
    if kind == "eval":
        return _eval(event, aligned)
    if kind == "gold":
        return _gold(event.get("scores") or {}, aligned)
    if kind == "done":
        return _done(event)
    if kind == "failed":
        return f"failed: {event.get('error') or 'no reason given'}"
    if kind == "cancelled":
        return "cancelled: nothing was kept"
    return None
