"""The `nerloop` command line: a thin layer over nerloop.core.

Each command group lives in its own module and registers itself on `main`. Textual is imported
only by `nerloop annotate`, so the other commands start fast and run without a terminal.
"""

from __future__ import annotations

from nerloop.tui.cli import (
    abtest_cmds,  # noqa: F401  (registers llm-switch)
    annotate_cmds,  # noqa: F401  (registers annotate)
    io_cmds,  # noqa: F401  (registers import, export)
    llm_cmds,  # noqa: F401  (registers propose)
    project_cmds,  # noqa: F401  (registers init, stats, taxonomy)
    retrieval_cmds,  # noqa: F401  (registers embed)
    train_cmds,  # noqa: F401  (registers train, evaluate, package)
)
from nerloop.tui.cli.base import main

__all__ = ["main"]
