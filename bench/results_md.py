"""bench/RESULTS.md: each benchmark owns one `## Title` section and replaces only that."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, text: str) -> None:
    """Replace the section `## title` (or append it) with `text`, which starts with its heading."""
    old = RESULTS.read_text("utf-8") if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text
    RESULTS.write_text(new.rstrip("\n") + "\n", "utf-8")
