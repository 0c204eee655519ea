"""Text from the data reaches the terminal as plain text: no escape sequences, same length."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from nerloop.core.display import one_line, safe_text


def test_csi_and_osc_sequences_lose_their_escape() -> None:
    text = "red \x1b[31mwheat\x1b[0m and \x1b]52;c;ZXZpbA==\x07 clip"
    shown = safe_text(text)
    assert "\x1b" not in shown and "\x07" not in shown
    assert "[31mwheat" in shown  # the rest shows literally
    assert shown.count("\u241b") == 3


def test_c1_controls_bidi_overrides_and_carriage_returns_are_replaced() -> None:
    text = "a\x9b2Jb\u202eevil\u2066c\rd\x7f"
    shown = safe_text(text)
    assert not any(ch in shown for ch in "\x9b\u202e\u2066\r\x7f")


def test_tabs_newlines_and_markup_are_kept_as_they_are() -> None:
    text = "[bold]wheat[/] \t fob\n[red]x"
    assert safe_text(text) == text
    assert one_line(text) == "[bold]wheat[/]   fob [red]x"


@given(st.text())
def test_length_is_kept_so_span_offsets_stay_valid(text: str) -> None:
    shown = safe_text(text)
    assert len(shown) == len(text)
    assert all(ch in "\n\t" or (ord(ch) >= 0x20 and not 0x7F <= ord(ch) < 0xA0) for ch in shown)
