"""A learning curve: gold F of models trained on growing shares of the answers.

It trains (core/training/runner.py), and training scores on gold (core/evaluate.py), so it sits
with the training, above the scoring: core/evaluate.py imports nothing of core/training.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from nerloop.core.training.runner import start_training

if TYPE_CHECKING:
    from nerloop.core.project import Project

CURVE_FRACTIONS = (0.25, 0.5, 0.75, 1.0)


def learning_curve(
    project: Project,
    fractions: Sequence[float] = CURVE_FRACTIONS,
    *,
    max_steps: int | None = None,
    on_event: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train on the first 25/50/75/100% of the answered texts (in annotation order; the dev set
    stays whole) and score each model on gold. Each point is a stored run (purpose `curve`)
    whose model is not kept. Runs one after another: the machine is shared."""
    points: list[dict[str, Any]] = []
    for fraction in fractions:
        run = start_training(project, max_steps=max_steps, fraction=fraction, purpose="curve")
        try:
            for event in run.events():
                if on_event is not None:
                    on_event({**event, "fraction": fraction})
        except BaseException:
            run.cancel()
            raise
        finally:
            run.close()
        row = run.result()
        if row["status"] != "done":
            raise RuntimeError(
                f"learning curve: the run on {fraction:.0%} of the answers {row['status']}: "
                f"{row['scores'].get('error', '')}"
            )
        gold = row["scores"]["gold"]
        points.append(
            {
                "fraction": fraction,
                "run": row["id"],
                "train_texts": row["counts"].get("train_texts", 0),
                "f": gold["overall"]["f"],
                "labels": {k: v["f"] for k, v in gold["labels"].items()},
            }
        )
    return points
