"""What every phase of the soak uses: the repository root and the list of failed checks."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        if not ok:
            self.items.append(what)
            print(f"  FAIL {what}", flush=True)
        return ok
