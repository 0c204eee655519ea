"""`nerloop export` never writes over the project's own files, and writes an existing target the
way the user left it (permissions, hard links, symlinks, FIFOs), through real processes."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from nerloop.core.project import PROJECT_FILES
from tests.helpers.reliability_helpers import (
    NERLOOP,
    heard,
    heard_spans,
    run_nerloop,
    seed_project,
    snapshot,
    write_jsonl,
)


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = seed_project(tmp_path / "Q")
    (path / "nerloop.toml").write_text('llm_model = "m"\n', "utf-8")
    (path / "models").mkdir()
    (path / "models" / "keep.txt").write_text("a model file", "utf-8")
    return path


def project_state(project: Path) -> dict[str, str]:
    return {
        str(p.relative_to(project)): digest(p)
        for p in sorted(project.rglob("*"))
        if p.is_file() and not p.name.endswith(("-wal", "-shm"))
    }


TARGETS = [
    "nerloop.db",
    "nerloop.db-wal",
    "nerloop.db-shm",
    "taxonomy.toml",
    "nerloop.toml",
    "models/keep.txt",
    "models/new.jsonl",
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("fmt", ["prodigy", "conll"])
def test_export_onto_a_project_file_is_refused(project: Path, target: str, fmt: str) -> None:
    before_files = project_state(project)
    before_rows = snapshot(project / "nerloop.db")
    out = project / target
    r = run_nerloop("export", str(out), "--format", fmt, "-p", str(project))
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: {out}: refusing to write over the project's own")
    assert "Traceback" not in r.stderr
    assert project_state(project) == before_files
    assert snapshot(project / "nerloop.db") == before_rows
    # The project still works afterwards.
    assert run_nerloop("stats", "-p", str(project)).returncode == 0


@pytest.mark.parametrize("target", ["models", "models/sub"])
def test_spacy_export_into_the_project_models_is_refused(project: Path, target: str) -> None:
    before = project_state(project)
    out = project / target
    r = run_nerloop("export", str(out), "--format", "spacy", "-p", str(project))
    assert r.returncode == 1
    assert "refusing to write over the project's own models" in r.stderr
    assert project_state(project) == before


def test_spacy_export_files_that_link_into_the_project_are_refused(
    project: Path, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "train.spacy").symlink_to(project / "nerloop.db")
    before = project_state(project)
    r = run_nerloop("export", str(corpus), "--format", "spacy", "-p", str(project))
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: {corpus / 'train.spacy'}: refusing"), r.stderr
    assert project_state(project) == before


def test_links_into_the_project_are_seen_through(project: Path, tmp_path: Path) -> None:
    hard = tmp_path / "hard.jsonl"
    os.link(project / "nerloop.db", hard)
    sym = tmp_path / "sym.jsonl"
    sym.symlink_to(project / "taxonomy.toml")
    sym_dir = tmp_path / "link-to-project"
    sym_dir.symlink_to(project)
    before = project_state(project)
    for out in (hard, sym, sym_dir / "nerloop.toml", sym_dir / "models" / "x.jsonl"):
        r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
        assert r.returncode == 1, out
        assert r.stderr.startswith(f"Error: {out}: refusing"), r.stderr
    assert project_state(project) == before


def test_every_project_file_is_protected() -> None:
    # The list the guard reads names every file a project keeps.
    assert set(PROJECT_FILES) >= {
        "nerloop.db",
        "nerloop.db-wal",
        "nerloop.db-shm",
        "nerloop.db-journal",
        "taxonomy.toml",
        "nerloop.toml",
        "models",
    }


def test_an_other_file_in_the_project_folder_is_fine(project: Path) -> None:
    out = project / "answers.jsonl"
    r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert r.returncode == 0, r.stderr
    assert out.read_text("utf-8").count("\n") > 0


def test_existing_target_keeps_its_mode(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "private.jsonl"
    out.write_text("old", "utf-8")
    out.chmod(0o600)
    r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text("utf-8") != "old"


def test_new_target_gets_the_umask_mode(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "new.jsonl"
    r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert r.returncode == 0, r.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_hard_linked_target_stays_linked(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "a.jsonl"
    out.write_text("old", "utf-8")
    twin = tmp_path / "b.jsonl"
    os.link(out, twin)
    r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert r.returncode == 0, r.stderr
    assert out.stat().st_nlink == 2
    assert twin.read_text("utf-8") == out.read_text("utf-8") != "old"


def test_symlinked_target_keeps_the_link(project: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("old", "utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    r = run_nerloop("export", str(link), "--format", "conll", "-p", str(project))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and link.resolve() == real.resolve()
    assert real.read_text("utf-8").startswith("# text = ")


def test_fifo_target_is_written_not_replaced(project: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run_nerloop("export", str(fifo), "--format", "prodigy", "-p", str(project), timeout=120)
    reader.join(timeout=60)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got and got[0].count(b"\n") > 0


def test_unwritable_target_message_names_out(project: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("x", "utf-8")
    out = blocker / "deeper" / "out.jsonl"
    r = run_nerloop("export", str(out), "--format", "prodigy", "-p", str(project))
    assert r.returncode == 1
    assert r.stderr.startswith(f"Error: {out}: cannot write: ")
    assert "/." not in r.stderr.split(":", 2)[1]  # no hidden temporary file named
    assert list(tmp_path.glob(".*")) == []


def test_export_to_a_closed_pipe_ends_quietly(project: Path, tmp_path: Path) -> None:
    # More than a pipe's buffer (64 KiB), so the writer meets the closed end.
    many = [
        {"text": heard(50_000 + i), "spans": heard_spans(heard(50_000 + i))} for i in range(800)
    ]
    r = run_nerloop("import", str(write_jsonl(tmp_path / "many.jsonl", many)), "-p", str(project))
    assert r.returncode == 0, r.stderr
    proc = subprocess.Popen(
        [*NERLOOP, "export", "-", "--format", "prodigy", "-p", str(project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.read(10)  # as `| head -c 10`: read a little, then go away
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err and "Exception" not in err
