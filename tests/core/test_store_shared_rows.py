"""The row helpers the store's tables share (counting, inserting, the two undo logs), the one
query behind both orders of the live answers, and the import summary adding up its batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core.ingest import ImportSummary
from nerloop.core.records import NewProposal, Span
from nerloop.core.store import Store
from nerloop.core.store.ingest import IngestCounts


@pytest.fixture
def file_store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()


def _proposal(text_id: int, label: str = "COMMODITY") -> NewProposal:
    return NewProposal(text_id, label, 6, 11, 1, 1, "rule")


def test_counters_take_none_as_no_condition(file_store: Store) -> None:
    s = file_store
    assert (s.count_texts(), s.has_texts("pool"), s.has_texts("gold")) == (0, False, False)
    first, _ = s.add_text("heard wheat bid 250")
    s.add_text("heard corn offer 180", split="gold")
    s.add_proposals([_proposal(first), _proposal(first, "PRICE")])
    assert (s.count_texts(), s.count_texts("pool"), s.count_texts("gold")) == (2, 1, 1)
    assert (s.count_proposals(), s.count_proposals("PRICE"), s.count_proposals("X")) == (2, 1, 0)
    assert s.has_texts("gold") and s.has_proposals(first, "PRICE", "rule")
    assert not s.has_proposals(first, "PRICE", "llm")


@pytest.mark.parametrize("log", ["answer", "mark"])
def test_both_undo_logs_refuse_the_same_rows(file_store: Store, log: str) -> None:
    s = file_store
    tid, _ = s.add_text("heard wheat bid 250")
    (pid,) = s.add_proposals([_proposal(tid)])

    def add() -> int:
        if log == "answer":
            return s.add_answer(pid, "accept", "ana", session="s1")
        return s.add_mark(tid, "complete", "ana", session="s1")

    def undo(row_id: int) -> int:
        if log == "answer":
            return s.undo_answer(row_id, "bob", session="s2")
        return s.undo_mark(row_id, "bob", session="s2")

    table, about = ("answers", "proposal_id") if log == "answer" else ("text_marks", "text_id")
    first = add()
    undone = undo(first)
    row = s.query(f"SELECT * FROM {table} WHERE id = ?", [undone])[0]
    assert (row[about], row["annotator"], row[log], row["undoes"], row["session"]) == (
        pid if log == "answer" else tid,
        "bob",
        "undo",
        first,
        "s2",
    )
    for gone in (first, undone, undone + 100):  # taken back, an undo, missing
        with pytest.raises(KeyError, match=f"no {log} {gone} to undo"):
            undo(gone)
    assert s.scalar(f"SELECT count(*) FROM {table}") == 2  # nothing deleted, nothing added


def test_an_edited_answer_stores_its_span_and_a_plain_one_none(file_store: Store) -> None:
    s = file_store
    tid, _ = s.add_text("heard wheat bid 250")
    (pid,) = s.add_proposals([_proposal(tid)])
    s.add_answer(pid, "reject", "ana")
    s.add_answer(pid, "accept", "ana", span=Span(6, 16, "COMMODITY", 1, 2))
    rows = s.query('SELECT start, "end", token_start, token_end FROM answers ORDER BY id')
    assert [tuple(r.values()) for r in rows] == [(None, None, None, None), (6, 16, 1, 2)]


def test_live_answers_come_in_answer_or_text_order_with_the_same_rows(file_store: Store) -> None:
    s = file_store
    late, _ = s.add_text("heard corn offer 180")
    early, _ = s.add_text("heard wheat bid 250")
    (p_late,) = s.add_proposals([_proposal(late)])
    (p_early,) = s.add_proposals([_proposal(early)])
    s.add_answer(p_early, "accept", "ana")
    s.add_answer(p_late, "reject", "ana")
    s.add_answer(p_early, "ignore", "bob")
    by_answer = list(s.iter_answered())
    by_text = list(s.iter_answers_by_text())
    assert [r["text_id"] for r in by_answer] == [early, late, early]
    assert [r["text_id"] for r in by_text] == [late, early, early]
    assert sorted(by_answer, key=lambda r: r["answer_id"]) == sorted(
        by_text, key=lambda r: r["answer_id"]
    )
    assert list(s.iter_answered("gold")) == [] == list(s.iter_answers_by_text("gold"))


def test_an_import_summary_adds_up_its_batches_and_keeps_its_own_fields() -> None:
    summary = ImportSummary(path="f.jsonl", format="jsonl", split="pool", records=7, rejected=1)
    summary.add(IngestCounts(added=3, duplicates=1, proposals=4, answers=2))
    summary.add(IngestCounts(added=1, gold=2, moved_to_gold=1))
    assert (summary.added, summary.duplicates, summary.proposals, summary.answers) == (4, 1, 4, 2)
    assert (summary.gold, summary.moved_to_gold) == (2, 1)
    assert (summary.records, summary.rejected, summary.path) == (7, 1, "f.jsonl")
    assert summary.line() == (
        "f.jsonl (jsonl): 4 added, 1 duplicates, 1 rejected, 2 answers, 2 gold annotations,"
        " 1 moved from pool to gold"
    )
