"""The training config the project ships (ner.cfg) and the per-run values put into it."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_TEMPLATE = "ner.cfg"


def template_text() -> str:
    """The shipped config template (package data of nerloop.core.training)."""
    return resources.files("nerloop.core.training").joinpath(CONFIG_TEMPLATE).read_text("utf-8")


def eval_frequency(max_steps: int) -> int:
    """Evaluate on dev about ten times a run (more often makes short runs slow; less often makes
    the progress chart sparse), every 200 steps at most, as spaCy's default."""
    if max_steps <= 0:
        return 200
    return max(5, min(200, max_steps // 10))


def run_overrides(
    *,
    lang: str,
    train: Path,
    dev: Path,
    progress: Path | None,
    max_steps: int,
    seed: int = 0,
) -> dict[str, Any]:
    """spaCy config overrides for one run."""
    return {
        "nlp.lang": lang,
        "paths.train": str(train),
        "paths.dev": str(dev),
        "paths.progress": str(progress) if progress is not None else None,
        "training.max_steps": max_steps,
        "training.eval_frequency": eval_frequency(max_steps),
        "system.seed": seed,
    }


def load_run_config(overrides: dict[str, Any], text: str | None = None) -> Any:
    """The template (or `text`) with `overrides` applied, not yet interpolated."""
    from spacy import util

    source = text if text is not None else template_text()
    return util.load_config_from_str(source, overrides=overrides, interpolate=False)
