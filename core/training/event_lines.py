"""One line of text per training progress event, for people: `nerloop train` prints them and the
Train tab's log shows them, in the same words.

    event_line({"event": "eval", "step": 200, "epoch": 3, "losses": {"ner": 41.2},
                "scores": {"ents_f": 0.71}})
    -> "step 200 epoch 3: loss 41.20, dev F 71.0"
    event_line(..., aligned=True)
    -> "step    200 epoch   3: loss      41.20, dev F  71.0"

The aligned form has the same words with numbers padded to fixed widths, so that successive
lines of a terminal line up in columns. Events are those of logger.py and worker.py, and of
pretrain_worker.py (texts, epoch, and a done event with weights_path) for `nerloop pretrain`;
plain step events are heartbeats and have no line.
"""

from __future__ import annotations

from typing import Any


def _pct(value: Any, aligned: bool) -> str:
    """A 0-1 score as a percentage with one decimal ("-" when it is missing)."""
    text = "-" if value is None else f"{float(value) * 100:.1f}"
    return text.rjust(5) if aligned else text


def _data(counts: dict[str, Any]) -> str:
    ents = ", ".join(f"{k} {v}" for k, v in counts["entities"].items()) or "none"
    line = (
        f"data: {counts['train_texts']} train texts ({counts['complete_texts']} complete), "
        f"{counts['dev_texts']} dev; policy {counts['policy']}; entities: {ents}"
    )
    if counts.get("silver_texts"):
        line += f"; {counts['silver_texts']} silver texts"
    silver_note = (counts.get("silver") or {}).get("note")
    if silver_note:  # silver = auto could not compare: why
        line += f"; {silver_note}"
    tok2vec = counts.get("tok2vec") or {}
    if tok2vec.get("pretrain_run") is not None:
        line += f"; tok2vec from pretraining run {tok2vec['pretrain_run']}"
    elif tok2vec.get("note"):  # asked for pretrained weights, but there are none to use
        line += f"; tok2vec from scratch: {tok2vec['note']}"
    return line


def _texts(counts: dict[str, Any]) -> str:
    return (
        f"texts: {counts['texts']:,} of the pool's {counts['pool_texts']:,}, "
        f"{counts['epochs']} epochs"
    )


def _epoch(event: dict[str, Any], aligned: bool) -> str:
    per_word = event.get("loss_per_word")
    per = "-" if per_word is None else f"{per_word:.3f}"
    if aligned:
        return (
            f"epoch {event['epoch']:>3}/{event['epochs']}: loss {per:>7} a word, "
            f"{event['words']:>9,} words, {event['seconds']:>7.1f} s"
        )
    return (
        f"epoch {event['epoch']}/{event['epochs']}: loss {per} a word, "
        f"{event['words']:,} words, {event['seconds']:.1f} s"
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
    if "weights_path" in event:  # a pretraining run
        return f"done: {event['weights_path']}"
    path = event.get("model_path")
    if path is None:  # a learning-curve run keeps no model
        return "done: the model was not kept"
    if event.get("promoted"):
        return f"done: {path}, now in use"
    return f"done: {path}, not used: the model in use scores better on gold"


def event_line(event: dict[str, Any], *, aligned: bool = False) -> str | None:
    """The line for a progress event (data, eval, gold, texts, epoch, done, failed,
    cancelled), or None for heartbeats and events of other kinds. `aligned` pads step, epoch,
    loss and F to fixed widths.
    """
    kind = event.get("event")
    if kind == "data":
        return _data(event["counts"])
    if kind == "eval":
        return _eval(event, aligned)
    if kind == "texts":
        return _texts(event["counts"])
    if kind == "epoch":
        return _epoch(event, aligned)
    if kind == "gold":
        return _gold(event.get("scores") or {}, aligned)
    if kind == "done":
        return _done(event)
    if kind == "failed":
        return f"failed: {event.get('error') or 'no reason given'}"
    if kind == "cancelled":
        return "cancelled: nothing was kept"
    return None
