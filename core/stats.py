"""Project figures for `nerloop stats` and the Data pane, assembled from the store."""

from __future__ import annotations

from typing import Any

from nerloop.core.project import Project


def project_stats(project: Project) -> dict[str, Any]:
    """Counts of texts, gold, proposals and answers, with one entry per taxonomy label."""
    figures = project.store.base_stats()
    labels: dict[str, dict[str, Any]] = {}
    stored = figures["labels"]
    for label in project.taxonomy.labels:
        row = {"proposals": 0, "accept": 0, "reject": 0, "ignore": 0}
        row.update(stored.get(label.name, {}))
        labels[label.name] = {"kind": label.kind, **row}
    # Labels that have data but left the taxonomy are still reported, so nothing is hidden.
    for name, row in stored.items():
        labels.setdefault(name, {"kind": "", **row})
    figures["labels"] = labels
    figures["taxonomy_version"] = project.store.taxonomy_version()
    settings = project.settings
    figures["llm"] = project.store.llm_stats(
        settings.llm_price_in_per_1k, settings.llm_price_out_per_1k
    )
    return figures
