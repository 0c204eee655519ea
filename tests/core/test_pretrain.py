"""tok2vec pretraining for real (a few dozen short texts, 1-2 epochs): it makes weights and
records them, training with pretrained_tok2vec = "latest" loads them through init_tok2vec and
says so in its run, a cancelled or failed run leaves nothing, and `nerloop pretrain` works."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import spacy
import srsly
from click.testing import CliRunner

from nerloop.core.evaluate import predict, score_spans
from nerloop.core.package import build_pipeline
from nerloop.core.project import Project
from nerloop.core.store import Store
from nerloop.core.training.data import TrainingDataError, gold_doc, write_docbin
from nerloop.core.training.pretrain import (
    PretrainBusyError,
    pretrain,
    pretrain_tmp_dir,
    reap_stale_pretrain_runs,
    start_pretraining,
    usable_weights,
)
from nerloop.core.training.pretrain_worker import write_pool_texts
from nerloop.core.training.runner import train
from nerloop.tui.cli import main
from tests.helpers.training_fixtures import (
    Sample,
    add_answered,
    add_gold,
    leftovers,
    new_project,
    samples,
)

STEPS = 60


@pytest.fixture(scope="module")
def pretrained(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Project, dict[str, Any], list[dict[str, Any]], list[Sample]]]:
    """A project whose pool (answered texts and unanswered ones) was pretrained on, once."""
    project = new_project(tmp_path_factory.mktemp("pretrained"))
    data = samples(150, seed=11)
    add_answered(project, data[:80])
    add_gold(project, data[80:100])
    for sample in data[100:130]:  # unanswered pool texts: raw text is all pretraining needs
        project.store.add_text(sample.text)
    events: list[dict[str, Any]] = []
    row = pretrain(project, on_event=events.append, epochs=2, max_texts=None)
    yield project, row, events, data[130:]
    project.close()


def test_pretraining_makes_weights_and_records_them(pretrained: Any) -> None:
    project, row, _, _ = pretrained
    assert row["status"] == "done", row["error"]
    weights = Path(row["weights_path"])
    assert weights == project.path / "models" / f"pretrain-{row['id']}" / "tok2vec.bin"
    assert weights.stat().st_size > 100_000  # the hash embedding tables and the encoder
    # Every pool text and no gold text; a loss per epoch; the config is spaCy's pretraining.
    assert row["counts"]["texts"] == row["counts"]["pool_texts"] == 110
    assert row["counts"]["epochs"] == 2 and len(row["losses"]) == 2
    assert all(loss > 0 for loss in row["losses"])
    assert row["counts"]["words_per_epoch"] > 110
    assert "spacy.PretrainCharacters.v1" in row["config"]
    assert row["counts"]["cpu_seconds"] >= 0 and row["counts"]["seconds"] > 0
    # Only the finished folder is left: no temporary folder, no per-epoch weights files.
    assert leftovers(project) == [f"pretrain-{row['id']}"]
    assert sorted(p.name for p in weights.parent.iterdir()) == [
        "config.cfg",
        "log.jsonl",
        "tok2vec.bin",
    ]
    assert project.store.latest_pretrain_run()["id"] == row["id"]


def test_progress_reaches_the_caller(pretrained: Any) -> None:
    _, row, events, _ = pretrained
    kinds = [e["event"] for e in events]
    assert kinds == ["texts", "epoch", "epoch", "done"], kinds
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and {e["epochs"] for e in epochs} == {2}
    assert [e["loss"] for e in epochs] == row["losses"]
    assert events[-1]["weights_path"] == row["weights_path"]


def test_weights_load_into_the_ner_through_init_tok2vec(pretrained: Any, tmp_path: Path) -> None:
    """spaCy's own initialisation puts the pretrained weights into the ner's tok2vec; the
    projection after it, which was not pretrained, keeps its own initialisation."""
    from spacy.training.initialize import init_nlp

    import nerloop.core.training.logger  # noqa: F401  (registers nerloop.progress.v1)
    from nerloop.core.training.config import (
        load_run_config,
        run_overrides,
        with_pretraining_block,
    )

    _, row, _, heldout = pretrained
    nlp0 = spacy.blank("en")
    docs = [gold_doc(nlp0, s.text, s.spans, {"PRICE", "LOCATION"}) for s in heldout]
    write_docbin(docs, tmp_path / "d.spacy")
    overrides = run_overrides(
        lang="en",
        train=tmp_path / "d.spacy",
        dev=tmp_path / "d.spacy",
        progress=None,
        max_steps=1,
        init_tok2vec=Path(row["weights_path"]),
    )
    nlp = init_nlp(with_pretraining_block(load_run_config(overrides)))
    layer = nlp.get_pipe("ner").model.get_ref("tok2vec")  # type: ignore[attr-defined]
    saved = srsly.msgpack_loads(Path(row["weights_path"]).read_bytes())
    loaded = compared = 0
    for i, node in enumerate(layer.walk()):
        for name, value in saved["params"][i].items():
            assert (node.get_param(name) == value).all(), (node.name, name)
            loaded += 1
        if node.name == "linear":  # the projection: not in the file, initialised for training
            assert not saved["params"][i] and node.has_param("W")
            compared += 1
    assert loaded >= 4 and compared == 1


def test_training_with_the_setting_on_starts_from_the_weights(pretrained: Any) -> None:
    project, prow, _, heldout = pretrained
    row = train(project, max_steps=STEPS)  # the default setting: latest
    assert project.settings.pretrained_tok2vec == "latest"
    assert row["status"] == "done", row["scores"]
    tok2vec = row["counts"]["tok2vec"]
    assert tok2vec["setting"] == "latest" and tok2vec["pretrain_run"] == prow["id"]
    assert tok2vec["weights_path"] == prow["weights_path"] and tok2vec["texts"] == 110
    assert f'init_tok2vec = "{prow["weights_path"]}"' in row["config"]
    assert 'layer = "tok2vec"' in row["config"]
    nlp = spacy.load(row["model_path"])
    texts = {i: s.text for i, s in enumerate(heldout)}
    gold = {i: s.spans for i, s in enumerate(heldout)}
    scores = score_spans(gold, predict(nlp, texts), ["PRICE", "LOCATION"], texts.keys())
    assert scores["overall"]["f"] >= 0.8, scores
    # The packaged pipeline does not point at the project's weights file.
    packaged = build_pipeline(project, row["model_path"])
    assert packaged.config["paths"]["init_tok2vec"] is None
    assert packaged.config["initialize"]["init_tok2vec"] is None

    off = train(project, max_steps=5, pretrained="off", purpose="curve")
    assert off["status"] == "done"
    assert off["counts"]["tok2vec"] == {"setting": "off", "pretrain_run": None}
    assert "init_tok2vec = null" in off["config"]


def test_weights_that_no_longer_fit_are_not_used(pretrained: Any, tmp_path: Path) -> None:
    project, prow, _, _ = pretrained
    assert usable_weights(project)[0]["id"] == prow["id"]  # type: ignore[index]
    other = new_project(tmp_path)
    assert usable_weights(other) == (None, "no pretrained tok2vec yet (nerloop pretrain makes one)")
    # A finished run whose architecture is not ner.cfg's any more (the file changed since).
    counts = {**prow["counts"], "tok2vec": {**prow["counts"]["tok2vec"], "depth": 9}}
    run_id = other.store.create_pretrain_run(counts=counts)
    assert run_id is not None
    other.store.finish_pretrain_run(run_id, "done", weights_path=prow["weights_path"])
    row, why = usable_weights(other)
    assert row is None and "another tok2vec architecture" in str(why)
    other.close()


def test_write_pool_texts_samples_the_pool_only(tmp_path: Path) -> None:
    store = Store(None)
    for i in range(50):
        store.add_text(f"pool text number {i}")
    store.add_text("a gold text", split="gold")
    out = tmp_path / "t.jsonl"
    assert write_pool_texts(store, out) == (50, 50)
    every = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert every == [f"pool text number {i}" for i in range(50)]
    assert write_pool_texts(store, out, max_texts=10) == (10, 50)
    sample = [json.loads(line)["text"] for line in out.read_text().splitlines()]
    assert len(set(sample)) == 10 and set(sample) < set(every)
    assert sample == [t for t in every if t in sample]  # in pool order
    write_pool_texts(store, out, max_texts=10)
    assert [json.loads(line)["text"] for line in out.read_text().splitlines()] == sample
    store.close()


def test_cancelled_run_leaves_nothing(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    for sample in samples(40, seed=12):
        project.store.add_text(sample.text)
    run = start_pretraining(project, epochs=1_000_000)
    with pytest.raises(PretrainBusyError):
        start_pretraining(project, epochs=1)
    try:
        for event in run.events():
            if event["event"] == "epoch":
                break
        run.cancel()
    finally:
        run.close()
    row = run.result()
    assert row["status"] == "cancelled" and row["weights_path"] is None
    assert leftovers(project) == []
    assert project.store.latest_pretrain_run() is None
    project.close()


def test_an_empty_pool_is_refused_at_once(project: Project) -> None:
    project.store.add_text("a gold text is not pretrained on", split="gold")
    with pytest.raises(TrainingDataError, match="the pool has no texts"):
        start_pretraining(project, epochs=1)
    assert project.store.running_pretrain_runs() == [] and leftovers(project) == []


def test_a_failed_run_is_recorded_and_leaves_nothing(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The parent's check passes (as if a text was there when the run started), so the
    # worker itself finds no text and fails.
    monkeypatch.setattr(Store, "has_texts", lambda self, split: True)
    events: list[dict[str, Any]] = []
    row = pretrain(project, on_event=events.append, epochs=1)
    assert row["status"] == "failed" and "the pool has no texts" in row["error"]
    assert events[-1]["event"] == "failed" and "the pool has no texts" in events[-1]["error"]
    assert row["weights_path"] is None and leftovers(project) == []
    assert project.store.latest_pretrain_run() is None


def test_a_run_whose_process_died_is_reaped(project: Project) -> None:
    run_id = project.store.create_pretrain_run(counts={})
    assert run_id is not None
    assert project.store.create_pretrain_run(counts={}) is None  # one at a time
    assert project.store.create_run(config="", counts={}) is not None  # training is not blocked
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    project.store.update_pretrain_run(run_id, pid=gone.pid)
    leftover = pretrain_tmp_dir(project.path, run_id)
    leftover.mkdir(parents=True)
    assert reap_stale_pretrain_runs(project.store, project.path) == [run_id]
    row = project.store.get_pretrain_run(run_id)
    assert row["status"] == "failed" and "died" in row["error"]
    assert not leftover.exists()


def test_cli_pretrain_prints_progress_and_the_result(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    for sample in samples(30, seed=13):
        project.store.add_text(sample.text)
    project.close()
    result = CliRunner().invoke(
        main, ["pretrain", "-p", str(project.path), "--epochs", "1", "--max-texts", "20"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "texts: 20 of the pool's 30, 1 epochs"
    assert lines[1].startswith("epoch   1/1: loss ")
    assert "pretraining run 1 done: " in result.output
    assert "training starts from these weights (pretrained_tok2vec = latest)" in result.output


def test_cli_pretrain_help_and_bad_input(tmp_path: Path, project: Project) -> None:
    runner = CliRunner()
    helped = runner.invoke(main, ["pretrain", "--help"])
    assert helped.exit_code == 0
    assert "Example:" in helped.output and "nerloop pretrain -p heards" in helped.output
    assert (
        runner.invoke(main, ["pretrain", "-p", str(project.path), "--epochs", "0"]).exit_code == 2
    )
    empty = runner.invoke(main, ["pretrain", "-p", str(project.path), "--epochs", "1"])
    assert empty.exit_code == 1
    assert "the pool has no texts" in empty.output and "Traceback" not in empty.output
    missing = runner.invoke(main, ["pretrain", "-p", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "not a nerloop project" in missing.output
