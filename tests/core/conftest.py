"""Fixtures of the core tests: bare stores, without a project around them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core.store import Store


@pytest.fixture
def store() -> Iterator[Store]:
    """An in-memory store, migrated."""
    s = Store(None)
    yield s
    s.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "nerloop.db"
