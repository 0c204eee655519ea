"""What the Evaluate tab and `nerloop evaluate` show: the scores on gold of the model, the rules
and the LLM (core/evaluate.py) and, per ner label, whether the LLM is still needed
(core/abtest.py), from one load of the model and one pass of it over the gold texts.

The report is plain JSON-able data (`nerloop evaluate --json` prints it as it is); each front
end renders it its own way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nerloop.core.abtest import project_recommendations, recommendation_dict
from nerloop.core.evaluate import evaluate_project, model_on_gold

if TYPE_CHECKING:
    from nerloop.core.project import Project


def evaluation_report(
    project: Project, model_path: str | None = None, **options: Any
) -> dict[str, Any]:
    """`evaluate_project`'s scores of the model in use (or the pipeline at `model_path`), plus
    `recommendations`: one `recommendation_dict` per ner label, none while there is no finished
    gold text (nothing to compare on). `options` go to `core.abtest.ab_report`."""
    model = model_on_gold(project, model_path)
    report = evaluate_project(project, model=model)
    advice = (
        project_recommendations(project, model=model, **options) if report["gold_texts"] else []
    )
    report["recommendations"] = [recommendation_dict(rec) for rec in advice]
    return report
