"""Shared fixtures: real SQLite files in temp folders, and a project with a small taxonomy."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core import secrets
from nerloop.core.project import Project
from nerloop.core.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data" / "commodities"
MIT_MOVIE = REPO.parent / "shared" / "datasets" / "mit_movie"

TAXONOMY = """\
[project]
lang = "en"

[labels.COMMODITY]
kind = "rule"
description = "A traded commodity."
terms = ["wheat", "corn", "brent", "soybeans"]

[labels.INCOTERM]
kind = "rule"
description = "Delivery terms."
terms = ["fob", "cif"]
patterns = [[{LOWER = "ex"}, {LOWER = "works"}]]

[labels.PRICE]
kind = "ner"
description = "A price with its currency and unit."
examples = ["250 usd/t"]

[labels.LOCATION]
kind = "ner"
description = "A port, city or delivery location."
examples = ["rouen"]
"""


@pytest.fixture
def store() -> Iterator[Store]:
    """An in-memory store, migrated."""
    s = Store(None)
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nerloop.db"


@pytest.fixture
def taxonomy_file(tmp_path: Path) -> Path:
    path = tmp_path / "taxonomy-src.toml"
    path.write_text(TAXONOMY, "utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, taxonomy_file: Path) -> Iterator[Project]:
    """A project in a temp folder (a real SQLite file) with the small taxonomy above."""
    p = Project.init(tmp_path / "proj", taxonomy_file)
    yield p
    p.close()


@pytest.fixture(autouse=True)
def _unfreeze_after_the_test() -> Iterator[None]:
    """The app freezes what is alive once it has started (`settle_garbage_collector`): in a
    test process that is every earlier test's leftovers too, so give them back afterwards."""
    yield
    gc.unfreeze()


@pytest.fixture(autouse=True)
def _forget_secrets_after_the_test() -> Iterator[None]:
    """Settings register their keys for masking for the life of the process (core/secrets.py):
    one test's key must not mask another test's text."""
    yield
    secrets.forget_all()
