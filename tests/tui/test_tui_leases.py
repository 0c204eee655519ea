"""Pilot tests of the Annotate tab's leases: a timer renews them while the app is open, and a
task another annotator got while this app's lease had run out goes away with a notice."""

from __future__ import annotations

from typing import Any

from nerloop.core.project import Project
from tests.helpers.queue_helpers import FakeClock, make_queue
from tests.helpers.tui_helpers import (
    RecordingApp,
    price_project,
    shown,
    wait_for_question,
    wait_until,
)


class NotedApp(RecordingApp):
    """The app, keeping the notices it shows."""

    notes: list[str]

    def notify(self, message: str, **kw: Any) -> None:
        if not hasattr(self, "notes"):
            self.notes = []
        self.notes.append(message)
        super().notify(message, **kw)


def noted_app(project: Project, clock: FakeClock, lease_seconds: float | None = None) -> NotedApp:
    if lease_seconds is not None:
        project.settings = project.settings.model_copy(update={"lease_seconds": lease_seconds})
    app = NotedApp(project, "alice", clock=clock, session_clock=FakeClock(), session_id="test")
    app.session.label_pass = "PRICE"
    return app


def alice_expiry(project: Project, text_id: int) -> float:
    (expires,) = [e for t, label, e in project.store.leases_of("alice") if t == text_id]
    return expires


async def test_a_timer_renews_the_held_leases_while_the_app_is_open(project: Project) -> None:
    ids = price_project(project)
    clock = FakeClock()
    # A short lease, so that the timer (three times a lease) fires within the test.
    app = noted_app(project, clock, lease_seconds=0.6)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert alice_expiry(project, ids[0]) == clock.now + 0.6
        clock.advance(3600)  # an hour without a key press or a fetch
        await wait_until(
            pilot, lambda: alice_expiry(project, ids[0]) == clock.now + 0.6, "a renewal"
        )
        held = app.session.held()
        assert {(t, label) for t, label, e in project.store.leases_of("alice")} == held
        assert all(e == clock.now + 0.6 for _, _, e in project.store.leases_of("alice"))
        # Still alice's: another annotator at this time is given nothing.
        bob = make_queue(project, "bob", clock)
        assert bob.fetch("PRICE").tasks == []
        assert not getattr(app, "notes", [])


async def test_a_task_lost_while_asleep_is_dropped_by_the_timer_with_a_notice(
    project: Project,
) -> None:
    ids = price_project(project)
    clock = FakeClock()
    app = noted_app(project, clock, lease_seconds=0.6)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert app.session.current().task.text.id == ids[0]  # type: ignore[union-attr]
        # Asleep past the lease (no timer ran), and bob is given the task on screen.
        clock.advance(3600)
        bob = make_queue(project, "bob", clock)
        assert [t.key for t in bob.fetch("PRICE", n=1).tasks] == [(ids[0], "PRICE")]
        await wait_until(pilot, lambda: bool(getattr(app, "notes", [])), "a notice")
        (note,) = app.notes
        assert f"Text #{ids[0]} (PRICE) went to bob" in note
        current = app.session.current()
        assert current is not None and current.task.text.id == ids[1]
        await pilot.pause()
        assert "4.10 usd/bu" in shown(app, "ann-info")


async def test_answering_a_task_another_annotator_has_now_moves_on_with_a_notice(
    project: Project,
) -> None:
    ids = price_project(project)
    clock = FakeClock()  # the default lease (600 s): the timer does not fire in this test
    app = noted_app(project, clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        clock.advance(project.settings.lease_seconds + 1)
        bob = make_queue(project, "bob", clock)
        assert [t.key for t in bob.fetch("PRICE", n=1).tasks] == [(ids[0], "PRICE")]
        await pilot.press("y")
        assert project.store.scalar("SELECT count(*) FROM answers") == 0
        assert len(app.notes) == 1 and "went to bob" in app.notes[0]
        assert app.session.current().task.text.id == ids[1]  # type: ignore[union-attr]
        await pilot.press("y")  # the next task is alice's: answered as usual
        assert project.store.scalar("SELECT count(*) FROM answers") == 1
