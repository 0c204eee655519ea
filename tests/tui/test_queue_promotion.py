"""A model promoted while the queue runs (by `nerloop train` in another process, or the Train
tab) is picked up at the next fetch, on the queue's own thread, without a restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import spacy
from spacy.training import Example
from textual.widgets import OptionList

from nerloop.core.annotate.queue import Fetch, Queue
from nerloop.core.project import Project
from nerloop.core.proposers import Proposer
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.store import Store
from nerloop.tui.widgets.modals import PassPicker
from tests.helpers.queue_helpers import add_texts, make_queue
from tests.helpers.tui_helpers import TEXTS, app_for, wait_for_empty, wait_until

PRICES = ["250 usd/t", "4.10 usd/bu", "80 usd/bbl"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real spaCy ner (beam parse and all) trained for a second on the three texts' prices."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("ner")
    examples = []
    for text, price in zip(TEXTS, PRICES, strict=True):
        start = text.index(price)
        doc = nlp.make_doc(text)
        examples.append(
            Example.from_dict(doc, {"entities": [(start, start + len(price), "PRICE")]})
        )
    nlp.initialize(lambda: examples)
    for _ in range(30):
        nlp.update(examples, drop=0.0)
    path = tmp_path_factory.mktemp("tiny") / "model"
    nlp.to_disk(path)
    return path


PROMOTE = """
import sys
from nerloop.core.store import Store
store = Store(sys.argv[1])
run = store.create_run(config="", counts={})
store.finish_run(run, "done", promoted=True, model_path=sys.argv[2] + f"/run-{run}")
print(run)
"""


def promote_elsewhere(project: Project, model: Path) -> int:
    """Promote a copy of `model` as a new run from another process, as `nerloop train` does."""
    models = project.path / "models"
    run_ids = [r["id"] for r in project.store.list_runs()]
    next_id = max(run_ids, default=0) + 1
    shutil.copytree(model, models / f"run-{next_id}")
    out = subprocess.run(
        [sys.executable, "-c", PROMOTE, str(project.store.path), str(models)],
        capture_output=True,
        text=True,
        check=True,
    )
    run = int(out.stdout)
    assert run == next_id
    return run


class QueueThread:
    """A queue whose proposers are made and run on one thread of its own, as in the app."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.pool = ThreadPoolExecutor(1)
        self.store: Store | None = None
        self.models_made_on: list[int] = []
        self.queue: Queue = make_queue(
            project, "ann", proposers=self.proposers, make_model=self.make_model
        )

    def here(self) -> Project:
        p = self.project
        if self.store is None:
            self.store = Store(p.store.path)
        return Project(p.path, self.store, p.taxonomy, p.settings)

    def proposers(self) -> list[Proposer]:
        return proposers_for(self.here())

    def make_model(self) -> Proposer | None:
        self.models_made_on.append(threading.get_ident())
        return ModelProposer.from_project(self.here())

    def fetch(self, label_pass: str | None = "PRICE") -> Fetch:
        return self.pool.submit(self.queue.fetch, label_pass).result()

    def thread_id(self) -> int:
        return self.pool.submit(threading.get_ident).result()

    def close(self) -> None:
        if self.store is not None:
            self.pool.submit(self.store.close).result()
        self.pool.shutdown()


@pytest.fixture
def running(project: Project) -> Iterator[QueueThread]:
    q = QueueThread(project)
    yield q
    q.close()


def model_sources(fetch: Fetch) -> list[str]:
    return [p.source_detail or "" for t in fetch.tasks for q in t.questions for p in q.proposals]


def test_a_model_promoted_by_another_process_proposes_at_the_next_fetch(
    project: Project, running: QueueThread, tiny_model: Path
) -> None:
    ids = add_texts(project, TEXTS)
    before = running.fetch()
    assert before.tasks == [] and before.empty is not None
    assert before.empty.reason == "no_source"  # no LLM, no model: nothing proposes PRICE
    run = promote_elsewhere(project, tiny_model)
    after = running.fetch()
    assert after.tasks, after.empty
    assert sorted(t.text.id for t in after.tasks) == ids  # most uncertain first
    assert set(model_sources(after)) == {f"run-{run}"}
    spans = {t.text.text[q.start : q.end] for t in after.tasks for q in t.questions}
    assert set(PRICES) <= spans
    # Made once, on the queue's thread (its pipeline and connection belong there).
    assert running.models_made_on == [running.thread_id()]


def test_the_model_is_loaded_again_only_when_another_run_is_promoted(
    project: Project, running: QueueThread, tiny_model: Path
) -> None:
    add_texts(project, TEXTS)
    first = promote_elsewhere(project, tiny_model)
    # The proposers are made with the model promoted when the queue started: no swap needed.
    assert model_sources(running.fetch())
    (rules,) = [p for p in running.queue.active_proposers() if p.source == "rule"]
    for _ in range(3):
        running.fetch()
    assert running.models_made_on == []
    second = promote_elsewhere(project, tiny_model)
    running.fetch()
    running.fetch()
    assert len(running.models_made_on) == 1
    (model,) = [p for p in running.queue.active_proposers() if p.source == "model"]
    assert isinstance(model, ModelProposer) and model.detail == f"run-{second}" != f"run-{first}"
    # Only the model proposer was replaced: the rules are the same object.
    assert running.queue.active_proposers() == [rules, model]


def test_a_model_folder_that_cannot_be_loaded_keeps_the_queue_running(
    project: Project, running: QueueThread, tmp_path: Path
) -> None:
    add_texts(project, TEXTS)
    running.fetch()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.cfg").write_text("not a config", "utf-8")
    promote_elsewhere(project, broken)
    fetch = running.fetch()
    assert fetch.tasks == [] and fetch.empty is not None
    assert fetch.empty.reason == "source_failed" and "model failed" in fetch.empty.message
    assert running.fetch("COMMODITY").tasks  # the other sources still work


async def test_the_app_proposes_from_a_model_promoted_while_it_runs(
    project: Project, tiny_model: Path
) -> None:
    add_texts(project, TEXTS)
    app = app_for(project, label_pass="PRICE")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_empty(pilot)
        assert app.session.empty is not None and app.session.empty.reason == "no_source"
        run = promote_elsewhere(project, tiny_model)
        # Any next fetch will do; choosing the pass again is one the annotator can ask for.
        await pilot.press("l")
        assert isinstance(app.screen, PassPicker)
        app.screen.query_one(OptionList).highlighted = 1 + project.taxonomy.names.index("PRICE")
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.session.current() is not None, "a model question")
        shown = app.session.current()
        assert shown is not None and shown.question.sources == ("model",)
        assert shown.question.first.source_detail == f"run-{run}"
