"""Fixtures of the reliability tests: projects seeded as the soak seeds them (bench/soak)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.reliability_helpers import seed_project


@pytest.fixture
def seeded_project(tmp_path: Path) -> Path:
    """A project folder seeded with texts, answers and a taxonomy (closed again)."""
    return seed_project(tmp_path / "proj")
