"""The app on terminals with few colours or none: a 16-colour terminal (TERM=xterm) and NO_COLOR.

The real `nerloop annotate` on a pseudo-terminal; the SGR codes it writes are read back. The span
must stand out without colour (reverse and bold), and the app must not send colours the
terminal cannot show (256-colour or truecolour codes on a 16-colour terminal, any colour at
all under NO_COLOR, where the terminal's own foreground and background are used).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from textual.pilot import Pilot

from nerloop.core.project import Project
from tests.helpers.pty_app import QUESTION, PtyApp, nerloop_command
from tests.helpers.tui_helpers import app_for, price_project, wait_for_question

SGR = re.compile(rb"\x1b\[([0-9;]*)m")
# 38;5 / 48;5: 256 colours; 38;2 / 48;2: truecolour.
MANY_COLOURS = re.compile(rb"(?:^|;)[34]8;[25](?:;|$)")


def screen_bytes(project: Project, env: dict[str, str]) -> bytes:
    app = PtyApp(nerloop_command(project.path, "carol", "PRICE"), env=env)
    try:
        app.read_until(QUESTION, timeout=120)
        app.drain(0.3)
        return bytes(app.out)
    finally:
        app.stop()


def span_style(raw: bytes, span: bytes) -> set[str]:
    """The SGR parameters in force where `span` is drawn."""
    m = re.search(rb"\x1b\[([0-9;]*)m" + re.escape(span), raw)
    assert m is not None, f"{span!r} not drawn with its own style"
    return set(m.group(1).decode().split(";"))


def test_a_16_colour_terminal_gets_16_colour_codes_and_a_reversed_span(project: Project) -> None:
    price_project(project)
    raw = screen_bytes(project, {"TERM": "xterm", "COLORTERM": ""})
    params = {m.group(1) for m in SGR.finditer(raw)}
    assert params, "no styles at all"
    assert not [p for p in params if MANY_COLOURS.search(p)], sorted(params)
    assert {"1", "7"} <= span_style(raw, b"250 usd/t")


def test_no_color_sends_no_colour_at_all(project: Project) -> None:
    price_project(project)
    raw = screen_bytes(project, {"NO_COLOR": "1"})
    for m in SGR.finditer(raw):
        for p in m.group(1).decode().split(";"):
            # Attributes (bold, dim, italic, underline, reverse...) and the terminal's default
            # colours (39, 49) only.
            assert p in {"", "0", "1", "2", "3", "4", "7", "9", "21", "22", "39", "49"}, m.group(0)
    assert {"1", "7"} <= span_style(raw, b"250 usd/t")


def test_no_color_snapshot(snap_compare: Any, project: Project, monkeypatch: Any) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    price_project(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await wait_for_question(pilot)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


@pytest.mark.parametrize("term", ["xterm-256color"])
def test_the_default_terminal_still_gets_its_colours(project: Project, term: str) -> None:
    price_project(project)
    raw = screen_bytes(project, {"TERM": term})
    assert MANY_COLOURS.search(b";".join(m.group(1) for m in SGR.finditer(raw)))
