"""Annotating a gold text from the keyboard: cursor, selection, tagging, removing."""

from __future__ import annotations

from nerloop.core.gold_editor import GoldEditor
from nerloop.core.records import Span

TEXT = "heard wheat bid 250 usd/t fob rouen"
TOKENS = [(0, 5), (6, 11), (12, 15), (16, 19), (20, 25), (26, 29), (30, 35)]
LABELS = ["COMMODITY", "PRICE", "LOCATION"]


def editor(spans: list[Span] | None = None) -> GoldEditor:
    return GoldEditor(TEXT, TOKENS, LABELS, spans or [])


def test_tag_the_token_under_the_cursor() -> None:
    ed = editor()
    ed.move(1)
    span = ed.tag(1)
    assert span == Span(6, 11, "COMMODITY", 1, 1)
    assert ed.spans == [span]


def test_extend_a_selection_and_tag_it() -> None:
    ed = editor()
    ed.move(3)
    ed.extend(1)
    assert ed.selection == (3, 4)
    span = ed.tag(2)
    assert span is not None and TEXT[span.start : span.end] == "250 usd/t"
    assert ed.anchor is None


def test_a_new_span_replaces_the_spans_it_overlaps() -> None:
    ed = editor([Span(16, 25, "PRICE")])
    assert ed.spans == [Span(16, 25, "PRICE", 3, 4)]
    ed.move(4)
    ed.tag(3)
    assert ed.spans == [Span(20, 25, "LOCATION", 4, 4)]


def test_remove_the_span_under_the_cursor() -> None:
    ed = editor([Span(16, 25, "PRICE"), Span(30, 35, "LOCATION")])
    ed.move(4)
    assert ed.remove() == [Span(16, 25, "PRICE", 3, 4)]
    assert [s.label for s in ed.spans] == ["LOCATION"]


def test_the_cursor_stays_in_the_text_and_bad_numbers_do_nothing() -> None:
    ed = editor()
    ed.move(-3)
    assert ed.cursor == 0
    ed.end()
    assert ed.cursor == 6
    ed.move(5)
    assert ed.cursor == 6
    assert ed.tag(0) is None and ed.tag(4) is None
    assert ed.spans == []


def test_empty_text_has_no_selection() -> None:
    ed = GoldEditor("", [], LABELS)
    ed.move(1)
    assert ed.selection is None and ed.tag(1) is None and ed.remove() == []
