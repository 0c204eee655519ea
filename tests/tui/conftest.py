"""Fixtures of the app's tests (Pilot, snapshots, the CLI)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _unfreeze_after_the_test() -> Iterator[None]:
    """The app freezes what is alive once it has started (`settle_garbage_collector`): in a
    test process that is every earlier test's leftovers too, so give them back afterwards."""
    yield
    gc.unfreeze()
