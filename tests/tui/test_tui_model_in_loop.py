"""Once a model is trained and promoted it proposes in the app, in both passes, also while
stored LLM proposals are waiting and with no LLM configured (issue 14 item 1): train for real
(tiny data, few steps), promote, open the app headless, answer, and see model questions."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from nerloop.core.project import Project
from nerloop.core.records import NewProposal
from nerloop.core.tokens import token_span
from nerloop.core.training.runner import train
from tests.helpers.training_fixtures import add_answered, add_gold, new_project, samples
from tests.helpers.tui_helpers import app_for, wait_for_question, wait_until


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose model was trained on 60 answered texts and promoted, with 40 more pool
    texts that carry stored, unanswered LLM proposals (as `nerloop propose` leaves them)."""
    project = new_project(tmp_path_factory.mktemp("model-loop"))
    data = samples(120, seed=7)
    add_answered(project, data[:60])
    add_gold(project, data[60:70])
    nlp = project.nlp
    for sample in data[70:110]:
        text_id, _ = project.store.add_text(sample.text)
        span = sample.spans[0]
        bounds = token_span(nlp.make_doc(sample.text), span.start, span.end)
        assert bounds is not None
        project.store.add_proposals(
            [NewProposal(text_id, span.label, bounds[0], bounds[1], bounds[2], bounds[3], "llm")]
        )
        project.store.mark_covered(span.label, "llm", [text_id])
    row = train(project, max_steps=150)
    assert row["status"] == "done" and row["promoted"], row
    project.close()
    return project.path


@pytest.mark.parametrize("label_pass", ["PRICE", None], ids=["PRICE pass", "all labels"])
async def test_the_promoted_model_asks_questions_in_the_app(
    trained: Path, tmp_path: Path, label_pass: str | None
) -> None:
    path = tmp_path / "proj"
    shutil.copytree(trained, path)
    # The models folder moved with the copy: point the promoted run at it.
    project = Project.open(path)
    run = project.store.promoted_run()
    assert run is not None
    project.store.update_run(
        run["id"], model_path=str(path / "models" / Path(run["model_path"]).name)
    )
    assert not project.settings.llm_configured  # no LLM: the model alone proposes
    app = app_for(project, label_pass=label_pass)
    seen: Counter[str] = Counter()
    first_model: int | None = None
    async with app.run_test(size=(80, 24)) as pilot:
        for i in range(30):
            await wait_for_question(pilot)
            shown = app.session.current()
            assert shown is not None
            seen.update(q.source for q in shown.question.proposals)
            if first_model is None and any(q.source == "model" for q in shown.question.proposals):
                first_model = i
            await pilot.press("n")

            def moved_on(before: object = shown) -> bool:
                return app.session.current() is not before or app.session.empty is not None

            await wait_until(pilot, moved_on, "the next question")
            if app.session.empty is not None:
                break
    model_rows = project.store.query("SELECT count(*) AS n FROM proposals WHERE source = 'model'")
    assert model_rows[0]["n"] > 0, "the model proposed nothing"
    assert seen["model"] > 0, f"no model question among {sum(seen.values())}: {dict(seen)}"
    # Ordered as source_order says (model before llm): the model's questions come while stored
    # LLM proposals are still open, after the first batch at most, not once they are all done.
    assert first_model is not None and first_model <= 16, (first_model, dict(seen))
