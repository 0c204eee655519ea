"""The `nerloop` command line: a thin layer over nerloop.core.

Each command group lives in its own module and registers itself on `main` when imported;
`main` imports a command's module only when that command runs (see `COMMAND_MODULES` in
base.py), so each command loads what it needs and no more. Textual is imported only by
`nerloop annotate`, so the other commands start fast and run without a terminal.
"""

from __future__ import annotations

from nerloop.tui.cli.base import COMMAND_MODULES, main

__all__ = ["COMMAND_MODULES", "main"]
