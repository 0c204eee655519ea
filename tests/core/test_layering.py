"""The core must work without a screen: nothing under core/ imports textual."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "core"


def test_no_core_module_imports_textual() -> None:
    offenders = []
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text("utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            else:
                continue
            offenders += [f"{path}:{node.lineno}" for n in names if n.split(".")[0] == "textual"]
    assert offenders == []


def test_importing_all_of_core_loads_no_textual() -> None:
    # Also catches indirect imports (core -> some module -> textual).
    code = (
        "import importlib, pkgutil, sys, nerloop.core as c\n"
        "for m in pkgutil.walk_packages(c.__path__, 'nerloop.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "print('textual' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_importing_the_app_loads_no_spacy() -> None:
    # spaCy's import is about a second of CPU: the app must show its first proposal without it
    # (rules, the model and training import it in their own threads and processes).
    code = "import sys, nerloop.tui.app\nprint('spacy' in sys.modules)\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
