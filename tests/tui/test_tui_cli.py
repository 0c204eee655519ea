"""`nerloop annotate` on the command line: help, errors, and no textual import elsewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from nerloop.core.project import Project
from nerloop.tui.cli import main
from tests.helpers.pty_app import QUESTION, PtyApp, nerloop_command, plain_text
from tests.helpers.tui_helpers import price_project


def test_annotate_help_has_an_example() -> None:
    result = CliRunner().invoke(main, ["annotate", "--help"])
    assert result.exit_code == 0
    assert "Example:" in result.output and "--annotator" in result.output


def test_annotate_on_a_folder_that_is_not_a_project_exits_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["annotate", "-p", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert "not a nerloop project" in result.output


def test_an_empty_annotator_name_is_a_usage_error(project: Project) -> None:
    result = CliRunner().invoke(main, ["annotate", "-p", str(project.path), "--annotator", " "])
    assert result.exit_code == 2


def test_other_commands_do_not_load_textual() -> None:
    code = "import sys, nerloop.tui.cli; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_unknown_label_pass_is_a_usage_error_naming_the_labels(project: Project) -> None:
    result = CliRunner().invoke(main, ["annotate", "-p", str(project.path), "--label", "NOPE"])
    assert result.exit_code == 2
    assert "NOPE" in result.output and "PRICE" in result.output


def test_annotate_on_a_terminal_starts_in_the_label_pass_given(project: Project) -> None:
    """The real command on a pseudo-terminal: --label LOCATION asks LOCATION's question first
    (the all-labels pass would start with the first text's PRICE), and ctrl+q quits with 0."""
    price_project(project)
    app = PtyApp(nerloop_command(project.path, "carol", "LOCATION"))
    try:
        app.read_until(QUESTION, timeout=120)
        # The rest of the frame may still be on its way (one read can end mid-frame).
        app.read_until(re.compile(rb"'rotterdam'"), timeout=10)
        shown = plain_text(bytes(app.out)).decode()
        assert "LOCATION" in shown and "span 1/1 of text" in shown
    finally:
        code = app.stop()
    assert code == 0
