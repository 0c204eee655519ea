"""The bad input corpus (tests/data/bad/, listed in cases.json) through the real CLI.

Every refused file gets FILE:LINE (and the field, where there is one) and a documented exit code,
with nothing already stored lost or changed; every hostile-but-valid file (BOM, CRLF, markup,
escape sequences, right-to-left, combining marks, emoji, a 5 MB text) is stored exactly as
written and is safe to show. Damaged databases (truncated, overwritten, from a newer nerloop)
are refused with a message naming the file, and left byte for byte as they were.
"""

from __future__ import annotations

import codecs
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from nerloop.core.display import safe_text
from nerloop.core.records import input_hash
from nerloop.core.store import Store
from tests.helpers.reliability_helpers import (
    BAD,
    apply_settings_case,
    assert_prefix,
    heard,
    run_cli,
    run_nerloop,
    seed_project,
    snapshot,
    terminal_controls,
    write_jsonl,
)

CASES: dict[str, Any] = json.loads((BAD / "cases.json").read_text("utf-8"))
REFUSED = [c for c in CASES["refused"] if not c.get("taxonomy")]
TAXONOMY_CASES = [c for c in CASES["refused"] if c.get("taxonomy")]
STORED = CASES["stored"]
SETTINGS = CASES["settings"]


@pytest.fixture(scope="module")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return seed_project(tmp_path_factory.mktemp("seed") / "proj")


@pytest.fixture
def seeded(seeded_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a project with texts, proposals, answers (one undone) and gold."""
    target = tmp_path / "proj"
    shutil.copytree(seeded_template, target)
    return target


def expected_messages(case: dict[str, Any], path: Path) -> list[str]:
    return [m.format(file=path) for m in case["messages"]]


@pytest.mark.parametrize("case", REFUSED, ids=[c["file"] for c in REFUSED])
def test_refused_file_names_file_line_field_and_stores_nothing(
    case: dict[str, Any], seeded: Path
) -> None:
    path = BAD / case["file"]
    db = seeded / "nerloop.db"
    before = snapshot(db)
    code, out = run_cli("import", str(path), "-p", str(seeded), *case.get("args", []))
    assert code == case["exit"], out
    for message in expected_messages(case, path):
        assert message in out, f"{message!r} not in:\n{out}"
    assert "Traceback" not in out
    assert snapshot(db) == before
    # A message quotes the file, but a 100,000-character label makes no 100,000-character line.
    assert max(map(len, out.splitlines())) <= 1000 + 2 * len(str(path)), out[:2000]
    # Nothing from the bad file reaches the terminal as a control sequence.
    assert terminal_controls(out) == []


def test_a_csv_header_with_escape_sequences_is_quoted_safely(seeded: Path) -> None:
    _, out = run_cli("import", str(BAD / "escape_in_header.csv"), "-p", str(seeded))
    assert terminal_controls(out) == []


def test_skip_invalid_keeps_the_valid_records_and_lists_the_bad(seeded: Path) -> None:
    path = BAD / "invalid_json.jsonl"
    before = snapshot(seeded / "nerloop.db")
    code, out = run_cli("import", str(path), "-p", str(seeded), "--skip-invalid")
    assert code == 0, out
    for line in (2, 3, 4):
        assert f"{path}:{line}: invalid JSON" in out
    after = snapshot(seeded / "nerloop.db")
    assert_prefix(before, after)
    assert len(after["texts"]) == len(before["texts"]) + 1


def file_texts(path: Path) -> list[str]:
    """The texts a file holds, decoded independently of nerloop's readers."""
    raw = path.read_bytes()
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    lines = [ln[:-1] if ln.endswith(b"\r") else ln for ln in raw.split(b"\n")]
    decoded = [ln.decode("utf-8") for ln in lines]
    if path.suffix == ".jsonl":
        return [json.loads(ln)["text"] for ln in decoded if ln.strip()]
    return [ln for ln in decoded if ln.strip()]


@pytest.mark.parametrize("case", STORED, ids=[c["file"] for c in STORED])
def test_hostile_but_valid_file_is_stored_exactly_and_shown_safely(
    case: dict[str, Any], seeded: Path
) -> None:
    path = BAD / case["file"]
    db = seeded / "nerloop.db"
    before = snapshot(db)
    code, out = run_cli("import", str(path), "-p", str(seeded))
    assert code == 0, out
    assert terminal_controls(out) == []
    after = snapshot(db)
    assert_prefix(before, after)
    texts = file_texts(path)
    assert len(texts) == case["texts"]
    assert len(after["texts"]) == len(before["texts"]) + len(texts)
    assert len(after["answers"]) == len(before["answers"]) + case.get("answers", 0)
    store = Store(db)
    try:
        for text in texts:
            stored = store.text_by_hash(input_hash(text))
            assert stored is not None and stored.text == text
            shown = safe_text(stored.text)
            assert len(shown) == len(text) and terminal_controls(shown) == []
        # Spans over emoji and combining marks index the same characters they did in the file.
        for row in store.iter_answered():
            if row["text_id"] > max(r[0] for r in before["texts"]):
                span = row["text"][row["start"] : row["end"]]
                assert span and span == span.strip()
    finally:
        store.close()


def test_hostile_texts_survive_an_export_and_import_round_trip(
    seeded: Path, tmp_path: Path
) -> None:
    for case in STORED:
        assert run_cli("import", str(BAD / case["file"]), "-p", str(seeded))[0] == 0
    stored = snapshot(seeded / "nerloop.db")
    exported = tmp_path / "export.jsonl"
    code, out = run_cli("export", str(exported), "-p", str(seeded), "--format", "prodigy")
    assert code == 0, out
    texts = {json.loads(line)["text"] for line in exported.read_text("utf-8").split("\n") if line}
    # The export holds answered texts: the hostile ones with spans (emoji, combining marks).
    answered = {
        json.loads(line)["text"]
        for case in STORED
        if (BAD / case["file"]).suffix == ".jsonl"
        for line in (BAD / case["file"]).read_text("utf-8-sig").split("\n")
        if line.strip() and json.loads(line).get("spans")
    }
    assert len(answered) == 2 and answered <= texts
    assert texts <= {row[2] for row in stored["texts"]}
    # Importing the export adds nothing: every text comes back byte for byte (same hash).
    code, out = run_cli("import", str(exported), "-p", str(seeded))
    assert code == 0, out
    assert snapshot(seeded / "nerloop.db")["texts"] == stored["texts"]


def test_a_5_mb_text_is_stored_whole(seeded: Path, tmp_path: Path) -> None:
    unit = "heard wheat bid 250 usd/t fob rouen · 小麦 · قمح · 🌾\n"
    big = (unit * (5 * 1024 * 1024 // len(unit.encode("utf-8")) + 1)).rstrip("\n")
    assert len(big.encode("utf-8")) >= 5 * 1024 * 1024
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": big}, {"text": heard(777_777)}])
    before = snapshot(seeded / "nerloop.db")
    code, out = run_cli("import", str(path), "-p", str(seeded))
    assert code == 0, out
    assert_prefix(before, snapshot(seeded / "nerloop.db"))
    store = Store(seeded / "nerloop.db")
    try:
        stored = store.text_by_hash(input_hash(big))
        assert stored is not None and stored.text == big
    finally:
        store.close()
    code, out = run_cli("stats", "-p", str(seeded), "--json")
    assert code == 0 and json.loads(out)["texts"] == len(before["texts"]) + 2


@pytest.mark.parametrize("case", TAXONOMY_CASES, ids=[c["file"] for c in TAXONOMY_CASES])
def test_a_broken_taxonomy_is_refused_with_its_line_and_nothing_changes(
    case: dict[str, Any], seeded: Path, tmp_path: Path
) -> None:
    broken = BAD / case["file"]
    # A new project: refused before anything is written.
    code, out = run_cli("init", "-p", str(tmp_path / "new"), "--taxonomy", str(broken))
    assert code == case["exit"] and "Traceback" not in out
    assert str(broken) in out
    assert not (tmp_path / "new" / "nerloop.db").exists()
    # An existing project whose taxonomy.toml was broken by an edit: every command refuses
    # with the file and line, the data is untouched, and fixing the file brings it all back.
    db = seeded / "nerloop.db"
    before = snapshot(db)
    good = (seeded / "taxonomy.toml").read_bytes()
    shutil.copyfile(broken, seeded / "taxonomy.toml")
    for args in (["stats"], ["import", str(BAD / "bom.jsonl")], ["taxonomy", "show"]):
        code, out = run_cli(*args, "-p", str(seeded))
        assert code == case["exit"], (args, out)
        assert f"{seeded / 'taxonomy.toml'}" in out, out
        for message in case["messages"]:
            assert message in out, (message, out)
        assert "Traceback" not in out
    assert snapshot(db) == before
    (seeded / "taxonomy.toml").write_bytes(good)
    code, out = run_cli("stats", "-p", str(seeded), "--json")
    assert code == 0 and json.loads(out)["texts"] == len(before["texts"])


# -- damaged databases ------------------------------------------------------------------------


def truncate_half(db: Path) -> None:
    size = db.stat().st_size
    with db.open("r+b") as f:
        f.truncate(size // 2)


def overwrite_header(db: Path) -> None:
    with db.open("r+b") as f:
        f.write(b"this is not a database header at all" * 4)


def overwrite_table_pages(db: Path) -> None:
    """Overwrite the b-tree pages of the texts table and its indexes (the header and the
    schema stay valid, so the file opens)."""
    conn = sqlite3.connect(str(db))
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    pages = [
        r[0]
        for r in conn.execute(
            "SELECT pageno FROM dbstat WHERE name IN "
            "(SELECT name FROM sqlite_master WHERE tbl_name = 'texts') ORDER BY pageno"
        )
    ]
    conn.close()
    assert pages
    with db.open("r+b") as f:
        for page in pages:
            f.seek((page - 1) * page_size)
            f.write(b"\xff\x00" * (page_size // 2))


def newer_schema(db: Path) -> None:
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()


DAMAGE = {
    "truncated": (truncate_half, "not a usable nerloop database"),
    "header_overwritten": (overwrite_header, "not a usable nerloop database"),
    "newer_schema": (newer_schema, "schema version 999"),
}


def damaged_copy(seeded: Path, how: str) -> Path:
    db = seeded / "nerloop.db"
    conn = sqlite3.connect(str(db))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything into the main file first
    conn.close()
    if how == "table_pages_overwritten":
        overwrite_table_pages(db)
    else:
        DAMAGE[how][0](db)
    return db


def commands(seeded: Path, tmp_path: Path) -> list[list[str]]:
    p = ["-p", str(seeded)]
    return [
        ["stats", *p],
        ["import", str(BAD / "bom.jsonl"), *p],
        ["export", str(tmp_path / "out.jsonl"), "--format", "prodigy", *p],
        ["taxonomy", "show", *p],
    ]


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_database_is_refused_and_left_as_it_was(
    how: str, seeded: Path, tmp_path: Path
) -> None:
    db = damaged_copy(seeded, how)
    damaged = db.read_bytes()
    for args in commands(seeded, tmp_path):
        code, out = run_cli(*args)
        assert code == 1, (args, out)
        assert str(db) in out and DAMAGE[how][1] in out, (args, out)
        assert "Traceback" not in out
        assert db.read_bytes() == damaged, f"{args[0]} changed the damaged file"


def test_a_database_damaged_inside_a_table_gets_a_message_not_a_traceback(
    seeded: Path, tmp_path: Path
) -> None:
    """The header is fine, so opening works; the damage shows on the first read of the table."""
    db = damaged_copy(seeded, "table_pages_overwritten")
    for args in commands(seeded, tmp_path)[:3]:  # the ones that read texts
        result = run_cli_raw(*args)
        assert result[0] == 1, (args, result[1])
        assert "Traceback" not in result[1] and result[2] is None, (args, result)
        assert str(db) in result[1], (args, result[1])


def run_cli_raw(*args: str) -> tuple[int, str, BaseException | None]:
    """Like run_cli, but an escaped exception is returned (None when the command handled it)."""
    from click.testing import CliRunner

    from nerloop.tui.cli import main

    result = CliRunner().invoke(main, list(args))
    escaped = result.exception if not isinstance(result.exception, SystemExit) else None
    return result.exit_code, result.output, escaped


# -- settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    SETTINGS,
    ids=[next(iter(c.get("env", {})), c.get("toml", "folder")) for c in SETTINGS],
)
def test_a_bad_setting_is_one_line_naming_it(case: dict[str, Any], seeded: Path) -> None:
    db = seeded / "nerloop.db"
    before = snapshot(db)
    code, out = run_cli("stats", "-p", str(seeded), env=apply_settings_case(seeded, case))
    assert code == 1, out
    assert out.startswith("Error: ") and out.count("\n") == 1, out
    for message in case["messages"]:
        assert message in out, (message, out)
    assert "Traceback" not in out and "None:" not in out
    if "secret" in case:
        assert case["secret"] not in out
    assert snapshot(db) == before


@pytest.mark.parametrize("epochs", ["0", "1001", "-3", "ten"])
def test_pretrain_epochs_out_of_range_is_a_usage_error(epochs: str, seeded: Path) -> None:
    db = seeded / "nerloop.db"
    before = snapshot(db)
    code, out = run_cli("pretrain", "--epochs", epochs, "-p", str(seeded))
    assert code == 2, out
    assert "'--epochs'" in out and epochs in out and "Traceback" not in out
    if epochs.lstrip("-").isdigit():
        assert "1<=x<=1000" in out
    assert snapshot(db) == before


def test_the_corpus_is_large_enough() -> None:
    assert len(REFUSED) + len(TAXONOMY_CASES) + len(STORED) + len(SETTINGS) >= 80


def test_a_taxonomy_with_a_byte_order_mark_loads(seeded: Path) -> None:
    path = seeded / "taxonomy.toml"
    path.write_bytes(codecs.BOM_UTF8 + path.read_bytes())
    code, out = run_cli("taxonomy", "show", "-p", str(seeded))
    assert code == 0, out
    assert "PRICE" in out


def test_taxonomy_text_with_escape_sequences_is_printed_safely(seeded: Path) -> None:
    # A description, terms and examples are a file's text: `taxonomy show` (and every other
    # command) prints them through core.display.shown, so OSC 52, a screen clear or an 8-bit
    # CSI never reach the terminal.
    path = seeded / "taxonomy.toml"
    evil = "\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J\\u009b31m"
    text = path.read_text("utf-8").replace(
        'description = "A price with its currency and unit."',
        f'description = "price {evil}"\nterms = ["t{evil}"]',
    )
    path.write_text(text, "utf-8")
    for args in (["taxonomy", "show"], ["stats"]):
        res = run_nerloop(*args, "-p", str(seeded))
        assert res.returncode == 0, res.stderr
        assert terminal_controls(res.stdout + res.stderr) == []
        assert "price" in res.stdout or args == ["stats"]
