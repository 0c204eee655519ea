"""Pilot tests of the Annotate tab: every key, asserted on the database."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from textual.widgets import OptionList

from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Source, StoredText
from nerloop.tui.widgets.modals import HelpScreen, PassPicker
from tests.helpers.queue_helpers import add_texts, make_queue, propose
from tests.helpers.tui_helpers import (
    TEXTS,
    app_for,
    price_project,
    shown,
    wait_for_empty,
    wait_for_question,
)


def live_answers(project: Project) -> list[tuple[int, str]]:
    rows = project.store.query(
        "SELECT a.proposal_id, a.answer FROM answers a WHERE a.answer != 'undo' AND NOT EXISTS "
        "(SELECT 1 FROM answers u WHERE u.undoes = a.id) ORDER BY a.id"
    )
    return [(r["proposal_id"], r["answer"]) for r in rows]


def current_id(app) -> int:
    return app.session.current().question.first.id


async def test_y_n_space_store_answers_the_moment_the_key_is_pressed(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        first = current_id(app)
        # The text, then the other question held for it ("Also held for this text: ...").
        assert shown(app, "ann-text").splitlines()[0] == TEXTS[0]
        assert "PRICE" in shown(app, "ann-info") and "'250 usd/t'" in shown(app, "ann-info")
        await pilot.press("y")
        assert live_answers(project) == [(first, "accept")]
        second = current_id(app)
        await pilot.press("n")
        assert live_answers(project)[-1] == (second, "reject")
        third = current_id(app)
        await pilot.press("space")
        assert live_answers(project)[-1] == (third, "ignore")
        assert "3/4 answered" in shown(app, "ann-progress")
        assert "accept 50%" in shown(app, "ann-progress")


async def test_u_takes_back_this_sessions_answers_one_at_a_time(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        first = current_id(app)
        await pilot.press("y")
        second = current_id(app)
        await pilot.press("n")
        await pilot.press("u")
        assert live_answers(project) == [(first, "accept")]
        assert current_id(app) == second
        await pilot.press("u")
        assert live_answers(project) == []
        assert current_id(app) == first
        await pilot.press("u")  # nothing left in this session: nothing happens
        assert live_answers(project) == []
        # Undo appends; nothing is deleted.
        assert project.store.scalar("SELECT count(*) FROM answers WHERE answer = 'undo'") == 2


async def test_boundary_keys_move_the_span_and_accept_stores_it(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        first = current_id(app)
        await pilot.press("left_square_bracket")  # start one token left: "bid 250 usd/t"
        await pilot.press("right_curly_bracket")  # end one token right: "bid 250 usd/t fob"
        await pilot.press("left_curly_bracket")
        await pilot.press("right_curly_bracket")
        assert "'bid 250 usd/t fob'" in shown(app, "ann-info")
        assert "(moved)" in shown(app, "ann-info")
        await pilot.press("y")
        (answer,) = project.store.answers_for_proposal(first)
        assert answer.span is not None
        assert TEXTS[0][answer.span.start : answer.span.end] == "bid 250 usd/t fob"
        # The start moves right too, and a reject stores no edited span.
        second = current_id(app)
        await pilot.press("right_square_bracket")
        await pilot.press("n")
        assert project.store.answers_for_proposal(second)[0].span is None


async def test_a_accepts_every_question_of_the_text_and_u_takes_them_all_back(
    project: Project,
) -> None:
    ids = price_project(project)
    app = app_for(project)  # the PRICE pass: text 1 has two PRICE questions
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        first = current_id(app)
        assert "Also held for this text: PRICE 'rouen'" in shown(app, "ann-text")
        await pilot.press("a")
        # Committed before the key handler returned; the LOCATION question is not in the pass.
        rouen = app.session._history[-1].answer_ids[-1]
        assert live_answers(project) == [(first, "accept"), (rouen, "accept")]
        assert app.session.current().task.text.id == ids[1]  # type: ignore[union-attr]
        assert "2/4 answered" in shown(app, "ann-progress")
        assert "accept 100%" in shown(app, "ann-progress")
        await pilot.pause()
        assert "Accepted 2 questions of text #1." in [n.message for n in app._notifications]
        await pilot.press("u")
        assert live_answers(project) == []
        assert current_id(app) == first
        assert "0/4 answered" in shown(app, "ann-progress")


async def test_a_in_the_all_labels_pass_accepts_every_label_of_the_text(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project, label_pass=None)  # rules propose COMMODITY and INCOTERM too
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        held = [(q.label, q.first.id) for q in app.session.text_questions()]
        assert [label for label, _ in held] == ["COMMODITY", "INCOTERM", "PRICE", "PRICE"]
        assert "INCOTERM 'fob' · PRICE '250 usd/t' · PRICE 'rouen'" in shown(app, "ann-text")
        await pilot.press("left_square_bracket")  # the COMMODITY span moved: "heard wheat"
        await pilot.press("a")
        assert live_answers(project) == [(pid, "accept") for _, pid in held]
        (moved,) = project.store.answers_for_proposal(held[0][1])
        assert moved.span is not None
        assert TEXTS[0][moved.span.start : moved.span.end] == "heard wheat"
        assert app.session.current().task.text.id == ids[1]  # type: ignore[union-attr]
        await pilot.press("u")
        assert live_answers(project) == []
        assert current_id(app) == held[0][1]


async def test_c_shows_the_llm_context(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert shown(app, "ann-context") == ""
        await pilot.press("c")
        assert shown(app, "ann-context") == "LLM context: bid 250 usd/t fob"
        await pilot.press("y")
        assert shown(app, "ann-context") == "No context from the LLM."
        await pilot.press("c")
        assert shown(app, "ann-context") == ""


async def test_l_chooses_the_label_pass(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        held_before = app.session.held()
        await pilot.press("l")
        assert isinstance(app.screen, PassPicker)
        options = app.screen.query_one(OptionList)
        names = ["__all__", *project.taxonomy.names]
        options.highlighted = names.index("LOCATION")
        await pilot.press("enter")
        await wait_for_question(pilot)
        assert app.session.label_pass == "LOCATION"
        assert app.session.current().task.key == (ids[1], "LOCATION")  # type: ignore[union-attr]
        # The PRICE tasks held before were given back.
        leased = {(t, lab) for t, lab, _ in project.store.leases_of("alice")}
        assert not (held_before & leased)
        await pilot.press("l", "escape")
        assert app.session.label_pass == "LOCATION"


async def test_all_labels_pass_asks_every_label(project: Project) -> None:
    price_project(project)
    app = app_for(project, label_pass=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        seen = set()
        for _ in range(30):
            current = app.session.current()
            if current is None:
                break
            seen.add(current.question.label)
            await pilot.press("n")
            if app.session.current() is None:
                await pilot.pause(0.05)
                await wait_for_question_or_empty(pilot, app)
        assert {"COMMODITY", "INCOTERM", "PRICE", "LOCATION"} <= seen


async def wait_for_question_or_empty(pilot, app) -> None:
    from tests.helpers.tui_helpers import wait_until

    await wait_until(
        pilot,
        lambda: app.session.current() is not None or app.session.empty is not None,
        "a question or an empty queue",
    )


async def test_question_mark_opens_help_with_the_keys(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        keys = [row[0] for _, rows in app.help_groups() for row in rows]
        # Each boundary key on its own row (the footer's "[/]" is a pair label, issue 14).
        assert {"y", "n", "spc", "a", "u", "[", "]", "{", "}", "l", "c"} <= set(keys)
        assert "[/]" not in keys and "{/}" not in keys
        ids = {row[2] for _, rows in app.help_groups() for row in rows}
        assert {"train.start", "train.stop", "evaluate.refresh", "data.refresh"} <= ids
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_remapped_keys_work_and_show_in_help(project: Project) -> None:
    price_project(project)
    keymap = {"annotate.accept": "enter", "annotate.accept_text": "x"}
    project.settings = project.settings.model_copy(update={"keymap": keymap})
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        first = current_id(app)
        await pilot.press("enter")
        assert live_answers(project) == [(first, "accept")]
        second = current_id(app)
        await pilot.press("x")
        assert live_answers(project)[-1] == (second, "accept")
        keys = {row[2]: row[0] for _, rows in app.help_groups() for row in rows}
        assert keys["annotate.accept"] == "enter" and keys["annotate.accept_text"] == "x"


async def test_the_fetch_worker_posts_its_tasks_back(project: Project) -> None:
    ids = price_project(project)
    app = app_for(project, fetch_size=2)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("y", "y", "y", "y")
        await wait_for_empty(pilot)
        claimed = [t.text.id for m in app.fetched for t in m.fetch.tasks]
        assert claimed == ids  # each task once, in order, over several fetches
        assert app.fetched[-1].fetch.empty is not None
        assert app.fetched[-1].fetch.empty.reason == "finished"


async def test_two_annotators_never_get_the_same_task(project: Project) -> None:
    from tests.helpers.tui_helpers import open_again

    ids = add_texts(project, [f"wheat lot {i} at {100 + i} usd/t" for i in range(12)])
    for text_id in ids:
        propose(project, text_id, "PRICE", "usd/t")
    other = open_again(project)
    alice, bob = app_for(project, "alice", fetch_size=2), app_for(other, "bob", fetch_size=2)
    asked: dict[str, list[int]] = {"alice": [], "bob": []}
    try:
        async with alice.run_test(size=(80, 24)) as a, bob.run_test(size=(80, 24)) as b:
            for pilot, app, name in [(a, alice, "alice"), (b, bob, "bob")] * 12:
                await wait_for_question_or_empty(pilot, app)
                current = app.session.current()
                if current is None:
                    continue
                asked[name].append(current.task.text.id)
                await pilot.press("y")
    finally:
        other.close()
    assert not set(asked["alice"]) & set(asked["bob"])
    assert sorted(asked["alice"] + asked["bob"]) == ids
    assert asked["alice"] and asked["bob"]


async def test_empty_queue_without_texts(project: Project) -> None:
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_empty(pilot)
        assert "No texts to annotate" in shown(app, "ann-text")
        assert "nerloop import" in shown(app, "ann-text")


async def test_empty_queue_for_a_ner_label_without_llm(project: Project) -> None:
    add_texts(project, TEXTS)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_empty(pilot)
        assert "the LLM is not configured" in shown(app, "ann-text")
        assert "llm_model" in shown(app, "ann-text")


class Unreachable:
    source: Source = "llm"
    commits = False

    def labels(self) -> Sequence[str]:
        return ["PRICE"]

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        raise ConnectionError("cannot connect to http://127.0.0.1:9/v1")


async def test_empty_queue_when_the_llm_is_unreachable(project: Project) -> None:
    add_texts(project, TEXTS)
    app = app_for(project, proposers=[Unreachable()])
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_empty(pilot)
        assert "cannot connect" in shown(app, "ann-text")
        assert "llm_base_url" in shown(app, "ann-text")


async def test_empty_queue_when_the_pass_is_finished(project: Project) -> None:
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("y", "n", "y", "n")
        await wait_for_empty(pilot)
        assert "pass is finished" in shown(app, "ann-text")
        assert "4/4 answered" in shown(app, "ann-progress")


async def test_empty_queue_when_others_hold_the_tasks(project: Project) -> None:
    price_project(project)
    make_queue(project, "bob").fetch("PRICE", n=10)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_empty(pilot)
        assert "other annotators" in shown(app, "ann-text")


async def test_rule_labels_work_without_an_llm(project: Project) -> None:
    add_texts(project, TEXTS)
    app = app_for(project, label_pass="COMMODITY")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert "'wheat'" in shown(app, "ann-info") and "source rule" in shown(app, "ann-info")


MARKUP = "[bold]wheat[/] at [red]250[/red] usd/t \x1b[2J\x1b]0;owned\x07 fob"


async def test_markup_and_escape_sequences_show_as_plain_text(project: Project) -> None:
    (text_id,) = add_texts(project, [MARKUP])
    propose(project, text_id, "PRICE", "[red]250[/red] usd/t")
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        text = shown(app, "ann-text")
        assert "[bold]wheat[/]" in text and "[red]250[/red]" in text
        assert "\x1b" not in text and "\x07" not in text
        assert "[2J" in text  # the rest of the sequence is shown, harmless
        assert "\x1b" not in shown(app, "ann-info")
        await pilot.press("y")
        assert live_answers(project)


async def test_ner_labels_get_llm_proposals_when_the_llm_is_configured(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerloop.core.config import load_settings
    from tests.helpers.fake_llm import FakeLLM
    from tests.helpers.propose_helpers import GOLD, T1, clean_env, write_settings

    clean_env(monkeypatch)
    (text_id,) = add_texts(project, [T1])
    with FakeLLM(GOLD) as server:
        write_settings(project.path, server.url, fewshot_k=0)
        project.settings = load_settings(project.path)
        app = app_for(project)  # the real registry: rules and the LLM
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_question(pilot)
            assert "source llm" in shown(app, "ann-info")
            assert "'250 usd/t'" in shown(app, "ann-info")
            first = current_id(app)
            await pilot.press("y")
            assert live_answers(project) == [(first, "accept")]
        assert server.requests >= 1
    assert project.store.get_proposal(first).text_id == text_id


async def test_a_finished_pass_picks_up_work_added_from_elsewhere(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After "finished", the pane asks again by itself: proposals that another terminal adds
    (`nerloop propose`, a model promoted by `nerloop train`) show without a key press."""
    from nerloop.core.annotate import empty

    monkeypatch.setitem(empty.RETRY_EMPTY_AFTER, "finished", 0.2)
    ids = price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        await pilot.press("y", "n", "y", "n")
        await wait_for_empty(pilot)
        assert "pass is finished" in shown(app, "ann-text")
        propose(project, ids[2], "PRICE", "ex works", "llm")  # as another process would
        await wait_for_question(pilot)
        assert "'ex works'" in shown(app, "ann-info")


async def test_start_up_objects_are_frozen_out_of_the_collectors_walks(project: Project) -> None:
    """Full collections over everything alive at start-up took 50-75 ms in a key press on
    the benchmark project; the app freezes those objects after mounting and its first fetch."""
    import gc

    gc.unfreeze()
    price_project(project)
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert app._settled_after_fetch
        assert gc.get_freeze_count() > 0


def test_keys_in_force_drop_defaults_a_remap_took() -> None:
    from nerloop.tui.keymap import ANNOTATE, keys_in_force

    force = keys_in_force(ANNOTATE, {"annotate.accept": "a,y"})
    assert force["annotate.accept"] == ["a", "y"]
    assert force["annotate.accept_text"] == []  # its only key went to accept
    assert force["annotate.reject"] == ["n"]
    assert keys_in_force(ANNOTATE, {})["annotate.accept_text"] == ["a"]


async def test_a_remap_that_leaves_a_binding_keyless_is_said(project: Project) -> None:
    price_project(project)
    keymap = {"annotate.accept": "a"}
    project.settings = project.settings.model_copy(update={"keymap": keymap})
    app = app_for(project)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert app.keyless_bindings() == ["annotate.accept_text"]
        assert any("annotate.accept_text" in str(n.message) for n in app._notifications)
        keys = {row[2]: row[0] for _, rows in app.help_groups() for row in rows}
        assert keys["annotate.accept"] == "a" and keys["annotate.accept_text"] == "(none)"
        first = current_id(app)
        await pilot.press("a")
        assert live_answers(project) == [(first, "accept")]  # one question, not the text


async def test_remapping_train_and_evaluate_keys_works_without_a_warning(
    project: Project,
) -> None:
    price_project(project)
    keymap = {"train.start": "t", "evaluate.refresh": "g"}
    project.settings = project.settings.model_copy(update={"keymap": keymap})
    app = app_for(project)
    notes: list[str] = []
    app.notify = lambda message, **kw: notes.append(str(message))  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        keys = {row[2]: row[0] for _, rows in app.help_groups() for row in rows}
        assert keys["train.start"] == "t" and keys["evaluate.refresh"] == "g"
    assert not any("Unknown key binding" in n for n in notes), notes
