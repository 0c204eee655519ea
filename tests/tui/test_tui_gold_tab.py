"""The Gold tab with the shared span editor (issue 14 item 4): a fresh text opens with the rule
labels' matches proposed, stored only once kept; a finished text reopens as it was saved and can
be corrected; the editor's own keys save as the pane's do."""

from __future__ import annotations

from nerloop.core.project import Project
from nerloop.core.records import Span
from nerloop.tui.widgets.span_editor import SpanEditor
from tests.helpers.tui_helpers import TEXTS, app_for, shown


def gold_spans(project: Project, text_id: int) -> list[tuple[str, str, bool]]:
    rows = project.store.gold_for(text_id)
    text = project.store.get_text(text_id).text
    return [(s.label, text[s.start : s.end], bool(r["done"])) for r in rows for s in r["spans"]]


async def test_rule_matches_are_proposed_and_stored_only_once_kept(project: Project) -> None:
    gold_id, _ = project.store.add_text(TEXTS[0], split="gold")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        listed = shown(app, "gold-spans")
        assert "COMMODITY: wheat (proposed by a rule" in listed
        assert "INCOTERM: fob (proposed by a rule" in listed
        assert project.store.gold_for(gold_id) == []  # proposed, not stored
        await pilot.press("right", "d")  # the cursor on 'wheat': drop that proposal
        await pilot.pause()
        assert gold_spans(project, gold_id) == [("INCOTERM", "fob", False)]
        assert "wheat" not in shown(app, "gold-spans")
        await pilot.press("enter")
        await pilot.pause()
    assert gold_spans(project, gold_id) == [("INCOTERM", "fob", True)]


async def test_a_tagged_proposal_is_no_longer_a_proposal(project: Project) -> None:
    project.store.add_text(TEXTS[0], split="gold")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press(
            "right", "2"
        )  # 'wheat' tagged INCOTERM by hand (a wrong rule match, fixed)
        await pilot.pause()
        listed = shown(app, "gold-spans").splitlines()
        assert "INCOTERM: wheat" in listed
        assert any(line.startswith("INCOTERM: fob (proposed") for line in listed)


async def test_a_finished_text_reopens_as_saved_and_is_corrected(project: Project) -> None:
    gold_id, _ = project.store.add_text(TEXTS[0], split="gold")
    project.store.save_gold(gold_id, "alice", [Span(6, 11, "COMMODITY")], done=True)
    app = app_for(project, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("o")
        await pilot.pause()
        assert f"#{gold_id}" in shown(app, "gold-head")
        # As it was saved: no rule match proposed over a finished annotation.
        assert shown(app, "gold-spans") == "COMMODITY: wheat"
        await pilot.press("end", "4", "enter")  # 'march' was missed: LOCATION
        await pilot.pause()
    assert gold_spans(project, gold_id) == [
        ("COMMODITY", "wheat", True),
        ("LOCATION", "march", True),
    ]


async def test_the_editor_widget_keys_save_in_the_gold_tab(project: Project) -> None:
    gold_id, _ = project.store.add_text(TEXTS[2], split="gold")
    project.store.save_gold(gold_id, "alice", [], done=False)
    app = app_for(project, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        # The widget's own bindings, not the pane's.
        app.query_one("#gold-editor", SpanEditor).focus()
        await pilot.pause()
        # '80 usd/bbl' (80, usd, /, bbl) -> PRICE
        await pilot.press("right", "right", "shift+right", "shift+right", "shift+right", "3")
        await pilot.pause()
        assert gold_spans(project, gold_id) == [("PRICE", "80 usd/bbl", False)]
        await pilot.press("enter")
        await pilot.pause()
    assert gold_spans(project, gold_id) == [("PRICE", "80 usd/bbl", True)]
