"""Which model is in use: a new model replaces the promoted one only if it is no worse on gold."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nerloop.core.project import Project


def gold_f(gold: dict[str, Any] | None) -> float | None:
    """The overall F of gold scores (None when there was no gold to score on)."""
    if not gold or not gold.get("texts"):
        return None
    return float(gold["overall"]["f"])


def should_promote(project: Project, new_gold: dict[str, Any]) -> tuple[bool, float | None]:
    """Whether the new model (scored `new_gold`) should replace the one in use, and the F of the
    one in use on today's gold (None when there is none or no gold).

    - no model in use yet (or its folder is gone): promote;
    - no gold to judge by: promote, since a model trained on more answers is the better bet
      without evidence either way;
    - otherwise the model in use is scored again on the same gold now (the gold set may have
      grown since it was trained), and the new model is promoted if its overall F is no lower
      (ties go to the new model, which has seen more answers).
    """
    from nerloop.core.evaluate import evaluate_ner, load_model

    current = project.store.promoted_run()
    if current is None or not Path(current["model_path"]).exists():
        return True, None
    new_f = gold_f(new_gold)
    if new_f is None:
        return True, None
    old_f = gold_f(evaluate_ner(project, load_model(current["model_path"])))
    if old_f is None:
        return True, None
    return new_f >= old_f, old_f
