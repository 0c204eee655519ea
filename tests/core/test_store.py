"""The store: migrations, schema version checks, dedupe, append-only answers, concurrency."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
from pathlib import Path

import pytest
from sqlite_utils import Database

from nerloop.core.records import NewProposal, Span, input_hash
from nerloop.core.store import CorruptDatabaseError, SchemaTooNewError, Store, StoreError
from nerloop.core.store.schema import latest_version, migrations


def test_new_database_is_migrated_to_the_latest_version(db_path: Path) -> None:
    store = Store(db_path)
    assert store.schema_version() == latest_version()
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied == [m.name for m in migrations._migrations]
    tables = set(store.db.table_names())
    assert {"texts", "proposals", "answers", "gold", "llm_calls", "embeddings", "runs"} <= tables
    assert store.scalar("PRAGMA journal_mode") == "wal"
    assert store.scalar("PRAGMA foreign_keys") == 1
    assert store.scalar("PRAGMA busy_timeout") >= 10_000
    store.close()


def test_reopen_is_a_second_connection_to_the_same_file(db_path: Path) -> None:
    first = Store(db_path)
    second = first.reopen()
    try:
        assert second.db.conn is not first.db.conn
        assert second.path == db_path
        text_id, _ = first.add_text("wheat bid 250 usd/t")
        assert second.scalar("SELECT text FROM texts WHERE id = ?", [text_id]) == (
            "wheat bid 250 usd/t"
        )
    finally:
        second.close()
        first.close()


def test_an_in_memory_store_cannot_be_reopened(store: Store) -> None:
    with pytest.raises(StoreError, match="in-memory"):
        store.reopen()


@pytest.mark.parametrize("stop", range(len(migrations._migrations)))
def test_upgrade_from_each_earlier_version(db_path: Path, stop: int) -> None:
    # Build a database as an older nerloop left it: migrations before `stop` applied.
    names = [m.name for m in migrations._migrations]
    db = Database(db_path)
    migrations.apply(db, stop_before=names[stop])
    db.conn.execute(f"PRAGMA user_version = {stop}")
    if stop > 0:
        db.conn.execute(
            "INSERT INTO texts (input_hash, text) VALUES (?, ?)", (input_hash("kept"), "kept")
        )
        db.conn.commit()
    db.close()

    store = Store(db_path)
    assert store.schema_version() == latest_version()
    if stop > 0:
        assert [t.text for t in store.iter_texts()] == ["kept"]
    store.close()


def test_reopening_does_not_migrate_again(db_path: Path) -> None:
    Store(db_path).close()
    store = Store(db_path)
    assert len(migrations.applied(store.db)) == latest_version()
    store.close()


def test_a_database_from_a_newer_nerloop_is_refused_untouched(db_path: Path) -> None:
    store = Store(db_path)
    store.add_text("precious")
    store.db.conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    store.close()
    before = db_path.read_bytes()
    with pytest.raises(SchemaTooNewError, match=r"schema version \d+.*Upgrade nerloop"):
        Store(db_path)
    assert db_path.read_bytes() == before


def test_a_file_that_is_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "nerloop.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(CorruptDatabaseError, match="not a usable nerloop database"):
        Store(path)


def test_texts_are_deduplicated_by_input_hash(store: Store) -> None:
    first = store.add_text("heard wheat bid 250", meta={"id": 1})
    again = store.add_text("heard wheat bid 250", meta={"id": 2})
    other = store.add_text("heard wheat bid 251")
    assert first == (first[0], True)
    assert again == (first[0], False)
    assert other[1] is True
    assert store.count_texts() == 2
    assert store.get_text(first[0]).meta == {"id": 1}


def test_a_pool_text_imported_as_gold_moves_to_gold(store: Store) -> None:
    tid, _ = store.add_text("heard corn")
    store.add_text("heard corn", split="gold")
    assert store.get_text(tid).split == "gold"
    assert store.count_texts("pool") == 0


def _proposal(text_id: int, start: int = 6, end: int = 11) -> NewProposal:
    return NewProposal(text_id, "COMMODITY", start, end, 1, 1, "rule")


def test_proposals_are_unique_per_span_and_source(store: Store) -> None:
    tid, _ = store.add_text("heard wheat bid 250")
    ids = store.add_proposals([_proposal(tid), _proposal(tid)])
    assert ids[0] == ids[1]
    llm = store.add_proposals([NewProposal(tid, "COMMODITY", 6, 11, 1, 1, "llm")])
    assert llm[0] != ids[0]
    assert store.count_proposals() == 2


def test_answers_are_append_only_and_undo_appends(store: Store) -> None:
    tid, _ = store.add_text("heard wheat bid 250")
    (pid,) = store.add_proposals([_proposal(tid)])
    first = store.add_answer(pid, "reject", "ana", session="s1")
    undo = store.undo_answer(first, "ana", session="s1")
    second = store.add_answer(pid, "accept", "ana", span=Span(6, 11, "COMMODITY", 1, 1))
    assert undo > first
    assert store.scalar("SELECT count(*) FROM answers") == 3  # nothing deleted
    live = store.answers_for_proposal(pid)
    assert [(a.id, a.answer) for a in live] == [(second, "accept")]
    assert live[0].span is not None and live[0].span.start == 6
    assert store.answer_counts() == {"accept": 1, "reject": 0, "ignore": 0}
    with pytest.raises(KeyError):
        store.undo_answer(first, "ana")  # an answer is taken back once


def test_an_answer_is_committed_when_add_answer_returns(db_path: Path) -> None:
    store = Store(db_path)
    tid, _ = store.add_text("heard wheat bid 250")
    (pid,) = store.add_proposals([_proposal(tid)])
    store.add_answer(pid, "accept", "ana")
    # A second connection (another process would be the same) sees it at once.
    other = sqlite3.connect(db_path)
    assert other.execute("SELECT answer FROM answers").fetchall() == [("accept",)]
    other.close()
    store.close()


def test_a_failed_write_transaction_stores_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError), store.write():
        store.add_text("first")
        raise RuntimeError("boom")
    assert store.count_texts() == 0


def test_gold_is_stored_per_annotator_and_replaced(store: Store) -> None:
    tid, _ = store.add_text("heard wheat bid 250")
    store.save_gold(tid, "ana", [Span(6, 11, "COMMODITY")], done=False)
    store.save_gold(tid, "ana", [Span(16, 19, "PRICE"), Span(6, 11, "COMMODITY")], done=True)
    assert store.count_gold() == 1
    ((text_id, text, spans),) = store.gold_examples()
    assert (text_id, text) == (tid, "heard wheat bid 250")
    assert [s.label for s in spans] == ["COMMODITY", "PRICE"]
    assert store.get_text(tid).split == "gold"


def _writer(path: str, worker: int, n: int) -> None:
    store = Store(Path(path))
    tid, _ = store.add_text(f"shared text {worker % 2}")
    for i in range(n):
        store.add_text(f"text {worker}-{i}")
        (pid,) = store.add_proposals([NewProposal(tid, "X", 0, 6, 0, 0, "llm")])
        store.add_answer(pid, "accept", f"w{worker}")
    store.close()


def test_two_processes_writing_at_once_both_succeed(db_path: Path) -> None:
    Store(db_path).close()
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db_path), w, 150)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    store = Store(db_path)
    assert store.count_texts() == 2 + 300
    assert store.scalar("SELECT count(*) FROM answers") == 300
    assert store.integrity_check() == "ok"
    store.close()


def test_bulk_inserts_match_the_one_by_one_path(store: Store) -> None:
    assert store.bulk_add_texts(["heard wheat bid 250", "heard corn", "heard corn"]) == 2
    text = store.text_by_hash(input_hash("heard wheat bid 250"))
    assert text is not None
    bulk = [(_proposal(text.id), text.input_hash), (_proposal(text.id, 0, 5), text.input_hash)]
    assert store.bulk_add_proposals(bulk) == 2
    assert store.bulk_add_proposals(bulk) == 0  # same text, label, span and source: not again
    # The one-by-one path finds the same rows (the same task hashes).
    ids = store.add_proposals([_proposal(text.id), _proposal(text.id, 0, 5)])
    assert sorted(ids) == sorted(p.id for p in store.proposals_for(text.id))
    assert store.count_proposals() == 2


def test_base_stats_totals_agree_with_direct_counts(db_path: Path) -> None:
    """The Data tab's totals are derived from the per-label counts (for speed): they must be
    what a direct count over the tables gives."""
    store = Store(db_path)
    ids = [store.add_text(f"wheat {i} usd/t rouen")[0] for i in range(4)]
    store.add_text("gold text", split="gold")
    rows = [
        NewProposal(ids[0], "PRICE", 6, 13, 1, 2, "llm"),
        NewProposal(ids[1], "PRICE", 6, 13, 1, 2, "model", score=0.4),
        NewProposal(ids[1], "LOCATION", 14, 19, 3, 3, "llm"),
        NewProposal(ids[2], "COMMODITY", 0, 5, 0, 0, "rule", score=1.0),
        NewProposal(ids[3], "LOCATION", 14, 19, 3, 3, "model", score=0.9),
    ]
    store.add_proposals(rows)
    figures = store.base_stats()
    direct = {
        r["source"]: r["n"]
        for r in store.query("SELECT source, count(*) AS n FROM proposals GROUP BY source")
    }
    assert figures["proposals_by_source"] == direct == {"llm": 2, "model": 2, "rule": 1}
    assert figures["proposals"] == 5
    assert (figures["texts"], figures["pool"], figures["gold"]) == (5, 4, 1)
    assert figures["labels"]["LOCATION"]["proposals"] == 2
    store.close()
