"""Gold and annotation do not collide (issue 14 item 4): the Gold tab never takes a text that is
on an annotator's screen; a text that moves to gold drops out of the Annotate tab and takes no
more answers; answers on gold texts are not counted as training answers; finished gold texts
can be reopened and corrected; rule labels can fill the editor, to be confirmed."""

from __future__ import annotations

from nerloop.core.annotate.queue import GOLD_SET
from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import spacy_tokenizer
from nerloop.core.project import Project
from tests.helpers.queue_helpers import add_texts, make_queue, propose
from tests.helpers.tui_helpers import TEXTS, app_for, price_project, shown, wait_for_question


async def test_the_gold_tab_skips_a_text_on_an_annotators_screen(project: Project) -> None:
    price_project(project)
    (free,) = add_texts(project, ["oats offered 190 usd/t fob odessa"])
    app = app_for(project, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        on_screen = app.session.current()
        assert on_screen is not None
        held = {key[0] for key in app.session.held()}
        assert on_screen.task.text.id in held
        await pilot.press("f3")
        await pilot.pause()
        await pilot.press("a")
        await pilot.pause()
        taken = app.query_one("GoldPane").text_id  # type: ignore[attr-defined]
        # The first pool texts are leased to alice's Annotate tab: the free one is taken.
        assert taken == free
    assert project.store.get_text(on_screen.task.text.id).split == "pool"


def test_a_text_that_moves_to_gold_drops_out_and_takes_no_answer(project: Project) -> None:
    ids = price_project(project)
    queue = make_queue(project, "alice")
    lost: list[tuple[int, str]] = []
    session = Session(
        project.store,
        queue,
        spacy_tokenizer(project.nlp),
        on_lost=lambda task, who: lost.append((task.text.id, who)),
    )
    session.add_tasks(queue.fetch("PRICE").tasks)
    shown_now = session.current()
    assert shown_now is not None
    text_id = shown_now.task.text.id
    before = project.store.answer_counts()
    # Another annotator makes that text gold (the Gold tab saves it).
    project.store.save_gold(text_id, "bob", [], done=False)
    session.answer("accept")  # the key press lands, but nothing is stored for it
    assert project.store.answer_counts() == before
    assert lost == [(text_id, GOLD_SET)]
    nxt = session.current()
    assert nxt is None or nxt.task.text.id != text_id
    # Held tasks of a text that moves to gold are dropped at the next renew, like a lost lease.
    held = session.held()
    if held:
        other = next(iter(held))[0]
        project.store.save_gold(other, "bob", [], done=False)
        assert session.forget(queue.renew(held))
        assert all(key[0] != other for key in session.held())
    assert ids


def test_answers_on_gold_texts_are_not_counted(project: Project) -> None:
    (tid,) = add_texts(project, TEXTS[:1])
    pid = propose(project, tid, "PRICE", "250 usd/t", "llm")
    project.store.add_answer(pid, "accept", "alice")
    assert project.store.answer_counts()["accept"] == 1
    project.store.save_gold(tid, "bob", [], done=True)  # the text became gold
    assert project.store.answer_counts()["accept"] == 0
    assert project.store.label_counts()["PRICE"]["accept"] == 0


async def test_finished_gold_texts_reopen_and_rules_fill_the_editor(project: Project) -> None:
    gold_id, _ = project.store.add_text(TEXTS[0], split="gold")
    project.store.save_gold(gold_id, "alice", [], done=True)
    app = app_for(project, annotator="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f3")
        await pilot.pause()
        assert "No gold text left" in shown(app, "gold-text")
        await pilot.press("o")  # reopen the finished one
        await pilot.pause()
        assert f"#{gold_id}" in shown(app, "gold-head")
        await pilot.press("r")  # the rule labels' matches: wheat (COMMODITY), fob (INCOTERM)
        await pilot.pause()
        (row,) = project.store.gold_for(gold_id)
        assert sorted(TEXTS[0][s.start : s.end] for s in row["spans"]) == ["fob", "wheat"]
        assert not row["done"]  # reopened: a draft until confirmed
        await pilot.press("enter")
    (row,) = project.store.gold_for(gold_id)
    assert row["done"] and len(row["spans"]) == 2
