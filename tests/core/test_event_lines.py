"""The one wording of training progress events, shared by `nerloop train` and the Train tab."""

from __future__ import annotations

from typing import Any

import pytest

from nerloop.core.training.event_lines import event_line

DATA: dict[str, Any] = {
    "event": "data",
    "run": 1,
    "counts": {
        "train_texts": 60,
        "complete_texts": 55,
        "dev_texts": 6,
        "policy": "complete",
        "entities": {"PRICE": 60, "LOCATION": 58},
        "max_steps": 40,
    },
}
EVAL: dict[str, Any] = {
    "event": "eval",
    "step": 200,
    "epoch": 3,
    "losses": {"ner": 41.2, "tok2vec": 1.0},
    "scores": {"ents_f": 0.71},
}
GOLD: dict[str, Any] = {"event": "gold", "scores": {"texts": 20, "overall": {"f": 0.8}}}


@pytest.mark.parametrize("aligned", [False, True])
def test_data(aligned: bool) -> None:
    assert event_line(DATA, aligned=aligned) == (
        "data: 60 train texts (55 complete), 6 dev; policy complete; "
        "entities: PRICE 60, LOCATION 58"
    )


def test_data_without_entities() -> None:
    event = {**DATA, "counts": {**DATA["counts"], "entities": {}}}
    assert event_line(event) is not None
    assert str(event_line(event)).endswith("; entities: none")


def test_eval_compact_and_aligned() -> None:
    assert event_line(EVAL) == "step 200 epoch 3: loss 42.20, dev F 71.0"
    assert event_line(EVAL, aligned=True) == "step    200 epoch   3: loss      42.20, dev F  71.0"


def test_aligned_eval_lines_line_up() -> None:
    early = {**EVAL, "step": 5, "epoch": 0, "losses": {"ner": 1234.5}, "scores": {"ents_f": 0.0}}
    late = {**EVAL, "step": 12000, "epoch": 120, "losses": {"ner": 0.5}, "scores": {"ents_f": 1.0}}
    lines = [str(event_line(e, aligned=True)) for e in (early, late)]
    assert len(lines[0]) == len(lines[1])
    for word in ("epoch", "loss", "dev F"):
        assert lines[0].index(word) == lines[1].index(word)


def test_eval_with_missing_scores() -> None:
    no_f = {**EVAL, "scores": {"ents_p": 0.5}}
    assert event_line(no_f) == "step 200 epoch 3: loss 42.20, dev F -"
    assert event_line(no_f, aligned=True) == "step    200 epoch   3: loss      42.20, dev F     -"
    bare = {"event": "eval", "step": 1, "epoch": 0}
    assert event_line(bare) == "step 1 epoch 0: loss 0.00, dev F -"


@pytest.mark.parametrize(
    ("aligned", "line"),
    [(False, "gold: F 80.0 on 20 gold texts"), (True, "gold: F  80.0 on 20 gold texts")],
)
def test_gold(aligned: bool, line: str) -> None:
    assert event_line(GOLD, aligned=aligned) == line


@pytest.mark.parametrize("scores", [{"texts": 0, "overall": {"f": 0.0}, "labels": {}}, {}, None])
def test_gold_without_gold_texts(scores: dict[str, Any] | None) -> None:
    assert event_line({"event": "gold", "scores": scores}) == (
        "gold: no finished gold texts, the model is not scored"
    )


def test_gold_with_a_missing_overall_f() -> None:
    assert event_line({"event": "gold", "scores": {"texts": 3, "overall": {"f": None}}}) == (
        "gold: F - on 3 gold texts"
    )


def test_done() -> None:
    done = {"event": "done", "run": 2, "model_path": "p/models/run-2", "promoted": True}
    assert event_line(done) == "done: p/models/run-2, now in use"
    assert event_line({**done, "promoted": False}) == (
        "done: p/models/run-2, not used: the model in use scores better on gold"
    )
    # A learning-curve run keeps no model.
    assert event_line({**done, "model_path": None, "promoted": False}) == (
        "done: the model was not kept"
    )


def test_failed_and_cancelled() -> None:
    assert event_line({"event": "failed", "error": "at least 2 texts"}) == (
        "failed: at least 2 texts"
    )
    assert event_line({"event": "failed", "error": None}) == "failed: no reason given"
    assert event_line({"event": "failed"}) == "failed: no reason given"
    assert event_line({"event": "cancelled", "run": 4}) == "cancelled: nothing was kept"


@pytest.mark.parametrize("event", [{"event": "step", "step": 120}, {"event": "other"}, {}])
def test_heartbeats_and_unknown_events_have_no_line(event: dict[str, Any]) -> None:
    assert event_line(event) is None
    assert event_line(event, aligned=True) is None


def test_data_says_where_the_tok2vec_started() -> None:
    used = {"setting": "latest", "pretrain_run": 3, "texts": 900}
    event = {**DATA, "counts": {**DATA["counts"], "tok2vec": used}}
    assert str(event_line(event)).endswith("; tok2vec from pretraining run 3")
    none_yet = {"setting": "latest", "pretrain_run": None, "note": "no pretrained tok2vec yet"}
    event = {**DATA, "counts": {**DATA["counts"], "tok2vec": none_yet}}
    assert str(event_line(event)).endswith("; tok2vec from scratch: no pretrained tok2vec yet")
    off = {"setting": "off", "pretrain_run": None}
    event = {**DATA, "counts": {**DATA["counts"], "tok2vec": off}}
    assert event_line(event) == event_line(DATA)


def test_pretraining_events() -> None:
    texts = {"event": "texts", "counts": {"texts": 2000, "pool_texts": 9732, "epochs": 10}}
    assert event_line(texts) == "texts: 2,000 of the pool's 9,732, 10 epochs"
    epoch = {
        "event": "epoch",
        "epoch": 2,
        "epochs": 10,
        "loss_per_word": 3.17812,
        "words": 99591,
        "seconds": 32.71,
    }
    assert event_line(epoch) == "epoch 2/10: loss 3.178 a word, 99,591 words, 32.7 s"
    assert event_line(epoch, aligned=True) == (
        "epoch   2/10: loss   3.178 a word,    99,591 words,    32.7 s"
    )
    done = {"event": "done", "weights_path": "p/models/pretrain-1/tok2vec.bin", "losses": [1.0]}
    assert event_line(done) == "done: p/models/pretrain-1/tok2vec.bin"
