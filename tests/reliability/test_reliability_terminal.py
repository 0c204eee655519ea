"""Terminal injection, end to end: texts that carry escape sequences, shown by the real app on a
pseudo-terminal, never send those sequences to the terminal.

The bytes the app writes to the pty are searched for the data's own sequences: OSC 52 (writes
the clipboard), OSC 0 (sets the window title), OSC 8 (hyperlinks), the 8-bit CSI and a device
status query (which makes the terminal type an answer into the app). Each text must still be
shown, with its control characters as visible stand-ins, and Rich markup in the data must show
literally.
"""

from __future__ import annotations

import time
from pathlib import Path

from nerloop.core.ingest import import_file
from nerloop.core.records import NewProposal
from tests.helpers.reliability_helpers import TuiProcess, init_project, wait_for_log, write_jsonl

CLIP = "UFdORUQtQ0xJUA=="  # base64 of PWNED-CLIP
TEXTS = [
    f"osc52 \x1b]52;c;{CLIP}\x07 heard wheat bid 250 usd/t",
    "title \x1b]0;PWNED-TITLE\x07 link \x1b]8;;https://evil.example/x\x1b\\click\x1b]8;;\x1b\\ "
    "heard corn 180 usd/t",
    "dsr \x1b[6n and 8-bit csi \x9b31m heard oats 190 usd/t",
    "[bold red]markup[/] [link=https://evil.example]x[/link] heard barley 200 usd/t",
]
# What must never reach the terminal (as bytes in the app's output).
FORBIDDEN = [
    b"\x1b]52;",
    b"\x1b]0;PWNED",
    b"\x1b]8;;https://evil",
    b"\xc2\x9b",  # U+009B, the 8-bit CSI, as UTF-8
    b"\x1b[6n and",
]
# What must show: each text's visible remainder (proof that it was on screen).
SHOWN = [CLIP.encode(), b"PWNED-TITLE", b"8-bit csi", b"[bold red]markup[/]"]


def test_escape_sequences_in_texts_never_reach_the_terminal(tmp_path: Path) -> None:
    project = init_project(tmp_path / "proj")
    try:
        import_file(project, write_jsonl(tmp_path / "t.jsonl", [{"text": t} for t in TEXTS]))
        proposals = []
        for text in project.store.iter_texts("pool"):
            start = text.text.index("usd/t") - 4
            doc = project.nlp.make_doc(text.text)
            span = doc.char_span(start, start + 9)
            assert span is not None
            proposals.append(
                NewProposal(text.id, "PRICE", start, start + 9, span.start, span.end - 1, "llm")
            )
        project.store.add_proposals(proposals)
    finally:
        project.close()
    log = tmp_path / "tui.log"
    tui = TuiProcess(project.path, "ann", log)
    try:
        assert wait_for_log(log, "start")
        shown: set[bytes] = set()
        # Answer n every half second until each text has been on screen: a text can carry
        # several questions (the all-labels pass asks its rule labels too), so a key press does
        # not always bring the next text. Keys pressed while nothing is shown do nothing. How
        # long it takes does not matter, but a dead or stuck app ends the wait.
        for tick in range(2400):
            if shown == set(SHOWN) or tui.proc.poll() is not None:
                break
            shown |= {s for s in SHOWN if s in tui.screen}
            if shown and tick % 10 == 0:
                tui.send("n")
            time.sleep(0.05)
        time.sleep(0.5)
        screen = bytes(tui.screen)
    finally:
        tui.kill()
    assert shown == set(SHOWN), f"not shown: {set(SHOWN) - shown}"
    leaked = [f for f in FORBIDDEN if f in screen]
    assert leaked == []
