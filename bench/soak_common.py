"""What every phase of the soak uses: tests/ on sys.path and the list of failed checks.

Import it before the test helpers (`import soak_common` sorts before any `from ... import`):
fake_llm and reliability_helpers live with the tests, not with nerloop.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.items.append(what)
            print(f"  FAIL {what}", flush=True)
        return ok
