"""Pilot tests of the Compare tab (blind A/B): keys store choices at the press, identical
outputs never show, and the empty state says what is needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import spacy
from textual.pilot import Pilot
from textual.widgets import OptionList

from nerloop.core.blind_ab import spans_of
from nerloop.core.project import Project
from nerloop.core.records import Span
from nerloop.tui.panes.compare import ComparePane, side_text
from nerloop.tui.widgets.modals import PassPicker
from tests.core.test_blind_ab import TEXTS, disagreeing_project
from tests.helpers.queue_helpers import add_texts, propose
from tests.helpers.tui_helpers import app_for, shown, wait_until


def three_pairs(project: Project) -> list[int]:
    """Texts 1, 2 and 3 disagree on PRICE (the model ran on text 3 and found nothing there);
    text 0 is identical."""
    ids = disagreeing_project(project)
    project.store.mark_covered("PRICE", "model", [ids[3]])
    return ids


async def open_compare(pilot: Pilot) -> ComparePane:
    await pilot.press("f7")
    pane = pilot.app.query_one(ComparePane)
    await wait_until(pilot, lambda: bool(pane.pairs) or settled(pane), "a pair or a reason")
    await pilot.pause()
    return pane


def settled(pane: ComparePane) -> bool:
    return pane.started and not pane.finding and not pane.pairs and not pane.more


def choices(project: Project) -> list[tuple[int, str]]:
    return [(int(r["text_id"]), str(r["choice"])) for r in project.store.ab_choices()]  # type: ignore[call-overload]


async def test_keys_1_2_3_store_choices_the_moment_they_are_pressed(project: Project) -> None:
    ids = three_pairs(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_compare(pilot)
        seen = []
        expected = []
        for key, pick in (("1", "a"), ("2", "b"), ("3", "same")):
            await wait_until(pilot, lambda: bool(pane.pairs), "a pair shown")
            await pilot.pause()
            pair = pane.pairs[0]
            seen.append(pair.text.id)
            # The screen shows the pair: the text on both sides, no word of which source is which.
            assert shown(app, "cmp-a").startswith("A " + TEXTS[ids.index(pair.text.id)][:20])
            assert shown(app, "cmp-b").startswith("B ")
            status = shown(app, "cmp-status")
            assert f"text #{pair.text.id}" in status
            assert "llm" not in status.lower() and "model" not in status.lower()
            await pilot.press(key)
            expected.append((pair.text.id, pair.choice(pick)))  # type: ignore[arg-type]
            assert choices(project) == expected
        # Text 0's outputs are identical: it was never shown.
        assert seen == ids[1:]
        assert {c for _, c in expected} <= {"llm", "model", "same"}
        assert expected[2][1] == "same"
        await wait_until(pilot, lambda: settled(pane), "the end of the pairs")
        await pilot.pause()
        assert "Nothing left to compare for any label" in shown(app, "cmp-a")
        assert "3 chosen this session" in shown(app, "cmp-head")
        rows = project.store.ab_choices()
        assert {r["annotator"] for r in rows} == {"alice"} and {r["session"] for r in rows} == {
            "test"
        }


async def test_u_takes_back_the_last_choice_and_shows_the_pair_again(project: Project) -> None:
    ids = three_pairs(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_compare(pilot)
        await pilot.press("1")
        assert [t for t, _ in choices(project)] == [ids[1]]
        await pilot.press("u")
        assert choices(project) == []
        assert project.store.scalar("SELECT count(*) FROM ab_answers WHERE choice = 'undo'") == 1
        assert pane.pairs[0].text.id == ids[1]
        assert f"text #{ids[1]}" in shown(app, "cmp-status")


async def test_empty_state_without_a_model_says_what_is_needed(project: Project) -> None:
    ids = add_texts(project, TEXTS[:2])
    propose(project, ids[0], "PRICE", "250 usd/t", "llm")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_compare(pilot)
        assert not pane.pairs
        message = shown(app, "cmp-a")
        assert "No trained model yet" in message and "LLM proposals on the same texts" in message
        await pilot.press("1")  # nothing to choose: nothing stored
        assert choices(project) == []


async def test_l_chooses_the_label(project: Project) -> None:
    three_pairs(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_compare(pilot)
        await pilot.press("l")
        assert isinstance(app.screen, PassPicker)
        names = ["__all__", *(label.name for label in project.taxonomy.ner_labels)]
        app.screen.query_one(OptionList).highlighted = names.index("LOCATION")
        await pilot.press("enter")
        await wait_until(pilot, lambda: settled(pane), "LOCATION looked at")
        await pilot.pause()
        assert pane.label == "LOCATION"
        assert "No LLM proposals for LOCATION" in shown(app, "cmp-a")
        await pilot.press("l")
        app.screen.query_one(OptionList).highlighted = names.index("PRICE")
        await pilot.press("enter")
        await wait_until(pilot, lambda: bool(pane.pairs), "a PRICE pair")
        assert pane.pairs[0].label == "PRICE"


async def test_the_promoted_model_predicts_on_texts_it_never_proposed_on(
    project: Project, tmp_path: Path
) -> None:
    ids = add_texts(project, TEXTS[:2])
    propose(project, ids[0], "PRICE", "250 usd/t", "llm")
    propose(project, ids[1], "PRICE", "4.10 usd/bu", "llm")
    # A real pipeline on disk whose "ner" is an entity ruler: predictions with no training.
    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler", name="ner")
    ruler.add_patterns([{"label": "PRICE", "pattern": p} for p in ("250 usd/t", "4.10")])  # type: ignore[attr-defined]
    nlp.to_disk(tmp_path / "ruler-model")
    run = project.store.create_run(config="", counts={})
    assert run is not None
    project.store.finish_run(run, "done", promoted=True, model_path=str(tmp_path / "ruler-model"))
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await open_compare(pilot)
        assert [p.text.id for p in pane.pairs] == [ids[1]]  # text 0: the same span, skipped
        assert "A: '4.10" in shown(app, "cmp-status") or "B: '4.10'" in shown(app, "cmp-status")
        await pilot.press("3")
        (row,) = project.store.ab_choices()
        assert row["choice"] == "same" and row["model_detail"] == f"run-{run}"
        assert [TEXTS[1][s.start : s.end] for s in spans_of(row["model_spans"])] == ["4.10"]


def test_side_text_cuts_a_long_text_around_both_sides_and_keeps_offsets() -> None:
    text = "x" * 1000 + " 250 usd/t \x1b[2J fob " + "y" * 1000
    start = text.index("250")
    a = (Span(start, start + 9, "PRICE"),)
    every = (*a, Span(start, start + 3, "PRICE"))
    window = (min(s.start for s in every), max(s.end for s in every))
    shown = side_text(text, a, window)
    assert len(shown.plain) < 700 and shown.plain.startswith("…") and shown.plain.endswith("…")
    assert "\x1b" not in shown.plain and "␛[2J" in shown.plain
    (styled,) = [s for s in shown.spans if s.style]
    assert shown.plain[styled.start : styled.end] == "250 usd/t"


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_snapshot(snap_compare: Any, project: Project, size: tuple[int, int]) -> None:
    three_pairs(project)
    app = app_for(project)

    async def run_before(pilot: Pilot) -> None:
        await open_compare(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)
