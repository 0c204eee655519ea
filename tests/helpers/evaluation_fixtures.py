"""A project with gold texts, LLM proposals on some of them, and a promoted "model": a saved
spaCy pipeline whose entity ruler finds some of the places (it stands in for a trained NER,
which would take a training run). For the tests of core/evaluation_report.py and its views."""

from __future__ import annotations

from pathlib import Path

import pytest
import spacy
from spacy.language import Language

from nerloop.core import evaluate
from nerloop.core.project import Project
from tests.helpers.queue_helpers import propose
from tests.helpers.training_fixtures import add_gold, samples

MODEL_PLACES = ("rouen", "paris", "hamburg", "santos", "odessa", "chicago")
"""The places the stand-in model finds (of training_fixtures.PLACES)."""


def save_model(path: Path) -> Path:
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [{"label": "LOCATION", "pattern": [{"LOWER": place}]} for place in MODEL_PLACES]
    )
    nlp.to_disk(path)
    return path


def promote(project: Project, model: Path) -> int:
    """Record a finished run whose model is `model` and put it in use, as training does."""
    run_id = project.store.create_run(config="", counts={})
    assert run_id is not None
    project.store.finish_run(run_id, "done", promoted=True, model_path=str(model))
    return run_id


def evaluated_project(project: Project, tmp_path: Path) -> int:
    """12 gold texts; the LLM found the price in the first 8 of them; a promoted model.
    Returns the promoted run's id."""
    add_gold(project, samples(12, seed=5))
    for text_id, text, spans in project.store.gold_examples()[:8]:
        price = next(s for s in spans if s.label == "PRICE")
        propose(project, text_id, "PRICE", text[price.start : price.end], "llm")
    return promote(project, save_model(tmp_path / "model"))


def record_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths core/evaluate.load_model loads a model from, from now on in the test (the
    real loader runs)."""
    seen: list[str] = []
    real = evaluate.load_model

    def load_model(path: str) -> Language:
        seen.append(path)
        return real(path)

    monkeypatch.setattr(evaluate, "load_model", load_model)
    return seen
