"""The configs the project ships, training (ner.cfg) and tok2vec pretraining (pretrain.cfg),
and the per-run values put into them."""

from __future__ import annotations

import copy
from importlib import resources
from pathlib import Path
from typing import Any

CONFIG_TEMPLATE = "ner.cfg"
PRETRAIN_TEMPLATE = "pretrain.cfg"


def template_text(name: str = CONFIG_TEMPLATE) -> str:
    """A shipped config template (package data of nerloop.core.training)."""
    return resources.files("nerloop.core.training").joinpath(name).read_text("utf-8")


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
    init_tok2vec: Path | None = None,
) -> dict[str, Any]:
    """spaCy config overrides for one run. With `init_tok2vec` (pretrained weights), apply
    `with_pretraining_block` to the loaded config too: spaCy reads where they go from it."""
    return {
        "nlp.lang": lang,
        "paths.train": str(train),
        "paths.dev": str(dev),
        "paths.progress": str(progress) if progress is not None else None,
        "paths.init_tok2vec": str(init_tok2vec) if init_tok2vec is not None else None,
        "training.max_steps": max_steps,
        "training.eval_frequency": eval_frequency(max_steps),
        "system.seed": seed,
    }


def load_run_config(overrides: dict[str, Any], text: str | None = None) -> Any:
    """The template (or `text`) with `overrides` applied, not yet interpolated."""
    from spacy import util

    source = text if text is not None else template_text()
    return util.load_config_from_str(source, overrides=overrides, interpolate=False)


def ner_tok2vec_section(config: Any) -> dict[str, Any]:
    """The ner's tok2vec architecture in a training config (not interpolated): what pretrained
    weights must have been made with to load into it."""
    return copy.deepcopy(dict(config["components"]["ner"]["model"]["tok2vec"]))


def with_pretraining_block(config: Any) -> Any:
    """The training config declaring where [initialize] init_tok2vec loads: spaCy reads the
    component and layer from [pretraining] (pretrain.cfg's block, pointed at the ner's
    "tok2vec" layer). Changes `config` in place and returns it."""
    from spacy import util

    block = util.load_config_from_str(template_text(PRETRAIN_TEMPLATE), interpolate=False)
    pretraining = copy.deepcopy(dict(block["pretraining"]))
    pretraining.update(component="ner", layer="tok2vec")
    config["pretraining"] = pretraining
    return config


def pretrain_config(*, lang: str, raw_text: Path, epochs: int, seed: int = 0) -> Any:
    """The pretraining config of one run: pretrain.cfg with the ner's tok2vec architecture of
    ner.cfg, filled with spaCy's defaults (as `spacy init fill-config` does; `spacy pretrain`
    needs a complete config), not interpolated."""
    from spacy import util

    overrides = {
        "nlp.lang": lang,
        "paths.raw_text": str(raw_text),
        "pretraining.max_epochs": epochs,
        "system.seed": seed,
    }
    config = util.load_config_from_str(
        template_text(PRETRAIN_TEMPLATE), overrides=overrides, interpolate=False
    )
    config["components"]["tok2vec"]["model"] = ner_tok2vec_section(load_run_config({}))
    return util.load_model_from_config(config, auto_fill=True, validate=True).config
