"""Input that is not a plain file (standard input, a FIFO, a pipe, /dev/zero), the same records
imported again in another format, and the top-level guard that turns an error nobody expected
into one line, with the details in a log file."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from reliability_helpers import NERLOOP, heard, heard_spans, run_nerloop, seed_project, write_jsonl

from nerloop.core.project import Project
from nerloop.tui.cli import main


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return seed_project(tmp_path / "proj")


def texts(project: Path) -> int:
    p = Project.open(project)
    try:
        return p.store.count_texts()
    finally:
        p.close()


def test_import_from_standard_input(project: Path) -> None:
    before = texts(project)
    lines = "".join(json.dumps({"text": heard(70_000 + i)}) + "\n" for i in range(3))
    done = subprocess.run(
        [*NERLOOP, "import", "-", "-p", str(project)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 added" in done.stdout
    plain = subprocess.run(
        [*NERLOOP, "import", "-", "--format", "text", "-p", str(project)],
        input="one more line\nand another\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0, plain.stderr
    assert texts(project) == before + 5
    unknown = subprocess.run(
        [*NERLOOP, "import", "-", "-p", str(project)],
        input="not json at all\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "give --format" in unknown.stderr


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.json"])
def test_import_from_a_fifo_reads_it_once(project: Path, tmp_path: Path, name: str) -> None:
    # A .jsonl/.json name makes the importer look at the first record (Prodigy or not): from
    # the stream it reads, not by opening the FIFO a second time (which would block for ever).
    fifo = tmp_path / name
    os.mkfifo(fifo)
    records = [{"text": heard(80_000 + i), "answer": "accept", "spans": []} for i in range(4)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    writer = threading.Thread(target=fifo.write_bytes, args=(body,))
    writer.start()
    r = run_nerloop("import", str(fifo), "-p", str(project), timeout=120)
    writer.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert "(prodigy): 4 added" in r.stdout


def test_an_endless_line_is_a_clear_error(project: Path) -> None:
    before = texts(project)
    r = run_nerloop("import", "/dev/zero", "--format", "text", "-p", str(project), timeout=120)
    assert r.returncode == 1
    assert "/dev/zero:1: line longer than 10 MB" in r.stderr
    assert "MemoryError" not in r.stderr and "Traceback" not in r.stderr
    assert texts(project) == before


def test_the_same_records_in_a_second_format_add_no_answers(project: Path, tmp_path: Path) -> None:
    records = [
        {"text": heard(90_000 + i), "spans": heard_spans(heard(90_000 + i))} for i in range(5)
    ]
    first = run_nerloop(
        "import", str(write_jsonl(tmp_path / "a.jsonl", records)), "-p", str(project)
    )
    assert first.returncode == 0, first.stderr
    stats = json.loads(run_nerloop("stats", "--json", "-p", str(project)).stdout)
    for fmt, name in (("prodigy", "b.jsonl"), ("conll", "b.conll")):
        out = tmp_path / name
        assert run_nerloop("export", str(out), "--format", fmt, "-p", str(project)).returncode == 0
        again = run_nerloop("import", str(out), "-p", str(project))
        assert again.returncode == 0, again.stderr
    after = json.loads(run_nerloop("stats", "--json", "-p", str(project)).stdout)
    assert after["answers"] == stats["answers"]
    assert after["proposals"] == stats["proposals"]


def test_an_unexpected_error_is_one_line_and_a_log(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-guard-0123456789abcdef"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError(f"something nobody expected near {secret}")

    # The one place in this file that patches: nothing in nerloop raises this on purpose.
    monkeypatch.setattr("nerloop.tui.cli.project_cmds.llm_stats_line", broken)
    state = tmp_path / "state"
    result = CliRunner().invoke(
        main,
        ["stats", "-p", str(project)],
        env={"XDG_STATE_HOME": str(state), "NERLOOP_LLM_API_KEY": secret},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: internal error: RuntimeError: something nobody expected")
    assert "Traceback" not in result.output and secret not in result.output
    log = state / "nerloop" / "errors.log"
    assert str(log) in last
    logged = log.read_text("utf-8")
    assert ("Traceback" in logged and "llm_stats_line" not in logged) or "broken" in logged
    assert secret not in logged and "***" in logged
