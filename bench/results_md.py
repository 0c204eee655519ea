"""bench/RESULTS.md: each benchmark owns one `## Title` section and replaces only that."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, text: str, path: Path = RESULTS) -> None:
    """Replace the section `## title` (or append it) with `text`, which starts with its heading.

    `path` is another RESULTS.md, for a run from a worktree of an older commit."""
    old = path.read_text("utf-8") if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text.rstrip("\n") + "\n\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    path.write_text(new.rstrip("\n") + "\n", "utf-8")
