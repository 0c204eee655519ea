"""Making text from the data safe to put on a terminal.

A text imported from a file may hold terminal escape sequences (CSI such as ESC[2J, OSC such as
ESC]52;... that writes the clipboard), other control characters, or bidi overrides that reorder
what is shown. `safe_text` replaces every such character with a visible stand-in of the SAME
length (one code point for one), so character offsets of spans still index the shown string;
the rest of an escape sequence (e.g. "[31m") is then ordinary printable text and shows literally.

Rich markup is a separate concern: the UI never parses data as markup (it builds `rich.text.Text`
objects), so "[bold]" in a text shows as "[bold]".
"""

from __future__ import annotations

from nerloop.core.secrets import redact

# C0 controls (except tab and newline) become their Unicode "control picture" (U+2400 block),
# so ESC shows as ␛ and the annotator can see that the text holds one.
_KEEP = {"\n", "\t"}
_REPLACEMENT = "\ufffd"
# Bidi embeddings/overrides/isolates and the line/paragraph separators: they can make the shown
# text differ from the stored one (the "trojan source" trick) or break lines unexpectedly.
_INVISIBLE_TRICKS = {
    *(chr(c) for c in range(0x202A, 0x202F)),
    *(chr(c) for c in range(0x2066, 0x206A)),
    "\u2028",
    "\u2029",
}


def _build_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x20):
        if chr(code) not in _KEEP:
            table[code] = chr(0x2400 + code)
    table[0x7F] = "\u2421"  # DEL
    for code in range(0x80, 0xA0):  # C1 controls, including the 8-bit CSI (0x9B) and OSC (0x9D)
        table[code] = _REPLACEMENT
    for ch in _INVISIBLE_TRICKS:
        table[ord(ch)] = _REPLACEMENT
    return table


_TABLE = _build_table()


def safe_text(text: str) -> str:
    """`text` with every control character replaced by a visible character, keeping length.

    Tabs and newlines are kept. `len(safe_text(s)) == len(s)` always holds, so span offsets
    into the stored text are valid offsets into the shown text.
    """
    return text.translate(_TABLE)


def one_line(text: str) -> str:
    """`safe_text` for places with room for one line: newlines and tabs become spaces."""
    return safe_text(text).replace("\n", " ").replace("\t", " ")


def shown(text: str) -> str:
    """How every string that may hold outside text (a file's data, a server's answer, a
    setting) is printed: credentials masked (core/secrets.py), then control characters made
    visible. The one function the command line prints through."""
    return safe_text(redact(text))
