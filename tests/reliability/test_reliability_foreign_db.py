"""A database nerloop did not make is never modified, by any command: the file's bytes are
hashed before and after, and nothing is made beside it (-wal, -shm, -journal). A project that
this user cannot write opens read-only: reading commands work, writing ones say why."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core.store import ForeignDatabaseError, ReadOnlyError, Store
from tests.helpers.reliability_helpers import TAXONOMY, run_nerloop, seed_project

# Every command that opens a project, with arguments that would make it write if it could.
COMMANDS: list[list[str]] = [
    ["stats"],
    ["stats", "--json"],
    ["taxonomy", "show"],
    ["import", "{texts}"],
    ["export", "{out}", "--format", "prodigy"],
    ["propose", "--all"],
    ["train", "--max-steps", "2"],
    ["evaluate"],
    ["embed"],
    ["package", "{out_dir}"],
    ["pretrain", "--epochs", "1"],
    ["llm-switch", "PRICE", "--off"],
    ["annotate"],  # refused while opening, before the app takes the terminal
    ["init"],
]


def foreign_with_tables(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE people (name TEXT); INSERT INTO people VALUES ('ada');"
        "CREATE TABLE notes (body TEXT);"
    )
    conn.commit()
    conn.close()


def foreign_with_texts(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.executescript("CREATE TABLE texts (id INTEGER PRIMARY KEY, text TEXT);")
    conn.execute("INSERT INTO texts (text) VALUES ('mine')")
    conn.commit()
    conn.close()


def zero_bytes(path: Path) -> None:
    path.write_bytes(b"")


KINDS = {
    "other-tables": foreign_with_tables,
    "own-texts-table": foreign_with_texts,
    "zero-bytes": zero_bytes,
}


def state(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file()
    }


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c[:2]))
def test_foreign_database_is_refused_untouched(
    tmp_path: Path, kind: str, command: list[str]
) -> None:
    folder = tmp_path / "proj"
    folder.mkdir()
    (folder / "taxonomy.toml").write_text(TAXONOMY, "utf-8")
    KINDS[kind](folder / "nerloop.db")
    texts = tmp_path / "t.jsonl"
    texts.write_text('{"text": "heard wheat bid 250 usd/t fob rouen"}\n', "utf-8")
    args = [
        a.format(texts=texts, out=tmp_path / "out.jsonl", out_dir=tmp_path / "dist")
        for a in command
    ]
    before = state(folder)
    r = run_nerloop(*args, "-p", str(folder), env={"NERLOOP_LLM_MODEL": "m"}, timeout=120)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert "not a nerloop database" in r.stderr and "nerloop.db" in r.stderr
    assert state(folder) == before  # byte for byte, and no -wal/-shm/-journal beside it


def test_the_store_refuses_foreign_files_before_any_write(tmp_path: Path) -> None:
    for kind, make in KINDS.items():
        path = tmp_path / f"{kind}.db"
        make(path)
        before = path.read_bytes()
        with pytest.raises(ForeignDatabaseError):
            Store(path)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(kind)) == [
            f"{kind}.db"
        ]


def test_a_new_file_is_still_created(tmp_path: Path) -> None:
    store = Store(tmp_path / "new.db")
    store.add_text("made here")
    store.close()
    assert Store(tmp_path / "new.db").count_texts() == 1


# A project this process cannot write. Tests run as root, whom file modes do not stop; the
# immutable attribute (chattr +i) stops root too, where the file system has it.
def _chattr(flag: str, *paths: Path) -> bool:
    try:
        done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True)
    except OSError:
        return False
    return done.returncode == 0


@pytest.fixture
def read_only_project(tmp_path: Path) -> Iterator[Path]:
    project = seed_project(tmp_path / "ro")
    files = [project / "nerloop.db", project / "taxonomy.toml"]
    files += [p for p in project.iterdir() if p.name.startswith("nerloop.db-")]
    if not _chattr("+i", *files, project):
        pytest.skip("chattr +i is not available here")
    try:
        yield project
    finally:
        _chattr("-i", project, *files)
        shutil.rmtree(project, ignore_errors=True)


def test_read_only_project_reads_and_refuses_writes(
    read_only_project: Path, tmp_path: Path
) -> None:
    project = read_only_project
    before = state(project)
    stats = run_nerloop("stats", "--json", "-p", str(project))
    assert stats.returncode == 0, stats.stderr
    assert '"texts"' in stats.stdout
    assert run_nerloop("taxonomy", "show", "-p", str(project)).returncode == 0
    out = tmp_path / "out.jsonl"
    export = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert export.returncode == 0, export.stderr
    assert out.read_text("utf-8").count("\n") > 0
    evaluate = run_nerloop("evaluate", "-p", str(project))
    assert evaluate.returncode == 0, evaluate.stderr
    assert "gold" in evaluate.stdout
    texts = tmp_path / "more.jsonl"
    texts.write_text('{"text": "heard corn offered 180 usd/t fob santos"}\n', "utf-8")
    imp = run_nerloop("import", str(texts), "-p", str(project))
    assert imp.returncode == 1
    assert imp.stderr.startswith(f"Error: {project / 'nerloop.db'}: the project is read-only")
    assert "backup" not in imp.stderr and "Traceback" not in imp.stderr
    assert state(project) == before


def test_read_only_store_raises_read_only_error(read_only_project: Path) -> None:
    store = Store(read_only_project / "nerloop.db")
    assert store.read_only
    assert store.count_texts() > 0
    with pytest.raises(ReadOnlyError, match="read-only"):
        store.add_text("never stored")
    store.close()
