"""Issue 14.1: once a model is promoted it proposes in both passes, even where `nerloop
propose` stored LLM proposals first and below the last text answered."""

from __future__ import annotations

from pathlib import Path

import pytest

from nerloop.core.annotate.queue import Queue
from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.records import NewProposal
from nerloop.core.tokens import token_span
from nerloop.core.training.runner import train
from tests.helpers.training_fixtures import add_answered, add_gold, new_project, samples


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Answered texts, gold, then LLM proposals stored for every other text (as `propose --all`
    leaves them), one late text answered, and a promoted model; no LLM configured."""
    root = tmp_path_factory.mktemp("loop")
    project = new_project(root)
    data = samples(90, 1)
    add_answered(project, data[:30])
    add_gold(project, data[30:40])
    store = project.store
    late: list[int] = []
    for sample in data[40:]:
        text_id, _ = store.add_text(sample.text)
        late.append(text_id)
        doc = project.nlp.make_doc(sample.text)
        for span in sample.spans:
            bounds = token_span(doc, span.start, span.end)
            assert bounds is not None
            store.add_proposals([NewProposal(text_id, span.label, *bounds, "llm")])
        for label in ("PRICE", "LOCATION"):
            store.mark_covered(label, "llm", [text_id])
    # The last text answered is far down the pool, as after a one-label pass.
    for p in store.open_proposals(late[30], "PRICE", None):
        store.add_answer(p.id, "accept", "ann")
    row = train(project, max_steps=20)
    assert row["promoted"]
    return root / "proj"


def sources(queue: Queue, label_pass: str | None) -> list[str]:
    for _ in range(10):  # no tasks and no `empty`: still working, call again (as the app does)
        fetch = queue.fetch(label_pass, 8)
        if fetch.tasks or fetch.empty:
            break
    return [p.source for t in fetch.tasks for q in t.questions for p in q.proposals]


@pytest.mark.parametrize("label_pass", [None, "PRICE"])
def test_the_first_questions_include_the_model(trained: Path, label_pass: str | None) -> None:
    project = Project.open(trained)
    assert not project.settings.llm_configured
    queue = Queue(
        project.store.path,  # type: ignore[arg-type]
        project.taxonomy,
        project.settings,
        f"ann-{label_pass}",
        proposers=proposers_for(project),
    )
    assert "model" in sources(queue, label_pass)
    stored = project.store.db.execute(
        "select count(*) from proposals where source = 'model'"
    ).fetchone()[0]
    assert stored > 0
