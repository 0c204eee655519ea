"""Fixtures for every folder: a project (a real SQLite file in a temp folder) with a small taxonomy.

tests/core, tests/tui and tests/reliability each add their own in their conftest.py; helpers that
are not fixtures live in tests/helpers/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core import secrets
from nerloop.core.project import Project

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
def _forget_secrets_after_the_test() -> Iterator[None]:
    """Settings register their keys for masking for the life of the process (core/secrets.py):
    one test's key must not mask another test's text."""
    yield
    secrets.forget_all()
