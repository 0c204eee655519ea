"""Pilot tests of the Taxonomy, Gold, Train, Evaluate and Data tabs."""

from __future__ import annotations

from textual.widgets import Input, Tree

from nerloop.core.project import Project
from nerloop.core.records import Span
from nerloop.tui.panes.data import DataPane
from nerloop.tui.panes.taxonomy import TaxonomyPane
from nerloop.tui.widgets.modals import EditLabelScreen
from tests.helpers.queue_helpers import add_texts
from tests.helpers.tui_helpers import (
    TEXTS,
    app_for,
    price_project,
    shown,
    wait_for_question,
    wait_until,
)


def tree_labels(app) -> list[str]:
    tree = app.query_one("#tax-tree", Tree)
    return [str(node.label.plain) for node in tree.root.children]


async def test_taxonomy_tab_shows_labels_rules_and_counts(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("y")
        await pilot.press("f2")
        pane = app.query_one(TaxonomyPane)
        await wait_until(pilot, lambda: pane.counts is not None, "counts read")
        await pilot.pause()
        assert tree_labels(app) == [
            "COMMODITY  rule",
            "INCOTERM  rule",
            "PRICE  ner",
            "LOCATION  ner",
        ]
        tree = app.query_one("#tax-tree", Tree)
        price = tree.root.children[2]
        details = [str(getattr(n.label, "plain", n.label)) for n in price.children]
        assert "A price with its currency and unit." in details
        assert "proposed 4 (llm 4) · accepted 1 · rejected 0 · ignored 0" in details
        incoterm = [str(getattr(n.label, "plain", n.label)) for n in tree.root.children[1].children]
        assert "terms: fob, cif" in incoterm
        assert any(d.startswith("pattern: ") for d in incoterm)


async def test_editing_a_label_writes_the_file_and_a_new_version(project: Project) -> None:
    add_texts(project, TEXTS)
    path = project.taxonomy_path
    path.write_text("# my comment\n" + path.read_text("utf-8"), "utf-8")
    project.reload_taxonomy()
    version = project.store.taxonomy_version()
    app = app_for(project, label_pass="COMMODITY")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("f2")
        tree = app.query_one("#tax-tree", Tree)
        tree.move_cursor(tree.root.children[0])
        await pilot.press("e")
        assert isinstance(app.screen, EditLabelScreen)
        app.screen.query_one("#description", Input).value = "Grain or oil."
        app.screen.query_one("#terms", Input).value = "wheat, corn, barley"
        await pilot.press("enter")
        assert not isinstance(app.screen, EditLabelScreen)
    text = path.read_text("utf-8")
    assert text.startswith("# my comment\n")
    assert 'description = "Grain or oil."' in text
    assert project.taxonomy.get("COMMODITY").terms == ("wheat", "corn", "barley")
    assert project.store.taxonomy_version() == version + 1
    assert app.queue.taxonomy.get("COMMODITY").description == "Grain or oil."


async def test_a_bad_label_edit_is_refused_and_the_file_kept(project: Project) -> None:
    before = project.taxonomy_path.read_text("utf-8")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f2")
        tree = app.query_one("#tax-tree", Tree)
        tree.move_cursor(tree.root.children[0])
        await pilot.press("e")
        app.screen.query_one("#terms", Input).value = ""  # a rule label needs terms
        await pilot.press("enter")
        assert isinstance(app.screen, EditLabelScreen)
        assert "Not saved" in shown(app.screen, "edit-error")  # type: ignore[arg-type]
        await pilot.press("escape")
    assert project.taxonomy_path.read_text("utf-8") == before


async def test_gold_tab_annotates_a_whole_text_from_the_keyboard(project: Project) -> None:
    gold_id, _ = project.store.add_text(TEXTS[0], split="gold")
    second, _ = project.store.add_text(TEXTS[1], split="gold")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert "text 1/2" in shown(app, "gold-head")
        await pilot.press("right", "1")  # "wheat" -> COMMODITY
        await pilot.press("right", "right", "shift+right", "shift+right", "shift+right", "3")
        (row,) = project.store.gold_for(gold_id)
        assert not row["done"]
        # 'fob' is the INCOTERM rule's match, proposed when the text opened (kept: not removed).
        assert [TEXTS[0][s.start : s.end] for s in row["spans"]] == ["wheat", "250 usd/t", "fob"]
        assert "wheat⟨1⟩" in shown(app, "gold-text")
        await pilot.press("left", "d")  # remove PRICE under the cursor
        spans = project.store.gold_for(gold_id)[0]["spans"]
        assert [s.label for s in spans] == ["COMMODITY", "INCOTERM"]
        await pilot.press("end", "4", "enter")  # "march" as LOCATION, then done
        (row,) = project.store.gold_for(gold_id)
        assert row["done"]
        assert row["spans"][-1] == Span(36, 41, "LOCATION", 9, 9)
        assert "text 1/1" in shown(app, "gold-head") and f"#{second}" in shown(app, "gold-head")


async def test_gold_tab_takes_a_fresh_pool_text(project: Project) -> None:
    (pool_id,) = add_texts(project, TEXTS[:1])
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert "No gold text left" in shown(app, "gold-text")
        await pilot.press("a")
        assert f"#{pool_id}" in shown(app, "gold-head")
        await pilot.press("enter")
    assert project.store.get_text(pool_id).split == "gold"
    assert project.store.count_gold() == 1


async def test_data_tab_shows_counts_imports_and_llm(project: Project) -> None:
    price_project(project)
    project.store.log_import(
        path="[bold]texts\x1b[2J.jsonl",
        format="jsonl",
        split="pool",
        added=3,
        duplicates=0,
        rejected=0,
    )
    app = app_for(project)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f6")
        pane = app.query_one(DataPane)
        await wait_until(pilot, lambda: "texts 3" in screen_text(app), "figures read")
        text = screen_text(app)
        assert "proposals 5" in text and "PRICE" in text
        assert "[bold]texts" in text and "\x1b" not in text
        assert "LLM:" in text
        assert pane.has_focus


def screen_text(app) -> str:
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_train_and_evaluate_say_what_they_need(project: Project) -> None:
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        assert "nerloop train" in shown(app, "train-body")
        assert "0 accepted" in shown(app, "train-body")
        await pilot.press("alt+5")
        assert "gold" in shown(app, "evaluate-body") and "nerloop evaluate" in shown(
            app, "evaluate-body"
        )
        await pilot.press("f1")
        assert app.query_one("#annotate-pane").has_focus
