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

from nerloop.core.project import Project
from nerloop.tui.cli import main
from tests.helpers.reliability_helpers import (
    NERLOOP,
    heard,
    heard_spans,
    run_nerloop,
    seed_project,
    write_jsonl,
)


def texts(seeded_project: Path) -> int:
    p = Project.open(seeded_project)
    try:
        return p.store.count_texts()
    finally:
        p.close()


def test_import_from_standard_input(seeded_project: Path) -> None:
    before = texts(seeded_project)
    lines = "".join(json.dumps({"text": heard(70_000 + i)}) + "\n" for i in range(3))
    done = subprocess.run(
        [*NERLOOP, "import", "-", "-p", str(seeded_project)],
        input=lines,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 added" in done.stdout
    plain = subprocess.run(
        [*NERLOOP, "import", "-", "--format", "text", "-p", str(seeded_project)],
        input="one more line\nand another\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 0, plain.stderr
    assert texts(seeded_project) == before + 5
    unknown = subprocess.run(
        [*NERLOOP, "import", "-", "-p", str(seeded_project)],
        input="not json at all\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode == 2 and "give --format" in unknown.stderr
    # Standard input has no extension: the message says what was looked at, not a list of
    # extensions, and names the formats --format takes.
    assert "does not start with a JSON object" in unknown.stderr
    assert "jsonl, prodigy, csv, text, conll" in unknown.stderr
    assert "extension" not in unknown.stderr


@pytest.mark.parametrize("name", ["feed.jsonl", "feed.json"])
def test_import_from_a_fifo_reads_it_once(seeded_project: Path, tmp_path: Path, name: str) -> None:
    # A .jsonl/.json name makes the importer look at the first record (Prodigy or not): from
    # the stream it reads, not by opening the FIFO a second time (which would block for ever).
    fifo = tmp_path / name
    os.mkfifo(fifo)
    records = [{"text": heard(80_000 + i), "answer": "accept", "spans": []} for i in range(4)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    writer = threading.Thread(target=fifo.write_bytes, args=(body,))
    writer.start()
    r = run_nerloop("import", str(fifo), "-p", str(seeded_project), timeout=120)
    writer.join(timeout=30)
    assert r.returncode == 0, r.stderr
    assert "(prodigy): 4 added" in r.stdout


def test_an_endless_line_is_a_clear_error(seeded_project: Path) -> None:
    before = texts(seeded_project)
    r = run_nerloop(
        "import", "/dev/zero", "--format", "text", "-p", str(seeded_project), timeout=120
    )
    assert r.returncode == 1
    assert "/dev/zero:1: line longer than 10 MB" in r.stderr
    assert "MemoryError" not in r.stderr and "Traceback" not in r.stderr
    assert texts(seeded_project) == before


def test_the_same_records_in_a_second_format_add_no_answers(
    seeded_project: Path, tmp_path: Path
) -> None:
    records = [
        {"text": heard(90_000 + i), "spans": heard_spans(heard(90_000 + i))} for i in range(5)
    ]
    first = run_nerloop(
        "import", str(write_jsonl(tmp_path / "a.jsonl", records)), "-p", str(seeded_project)
    )
    assert first.returncode == 0, first.stderr
    stats = json.loads(run_nerloop("stats", "--json", "-p", str(seeded_project)).stdout)
    for fmt, name in (("prodigy", "b.jsonl"), ("conll", "b.conll")):
        out = tmp_path / name
        assert (
            run_nerloop("export", str(out), "--format", fmt, "-p", str(seeded_project)).returncode
            == 0
        )
        again = run_nerloop("import", str(out), "-p", str(seeded_project))
        assert again.returncode == 0, again.stderr
    after = json.loads(run_nerloop("stats", "--json", "-p", str(seeded_project)).stdout)
    assert after["answers"] == stats["answers"]
    assert after["proposals"] == stats["proposals"]


def crash_in_stats(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    # The one place in this file that patches: nothing in nerloop raises these on purpose.
    monkeypatch.setattr("nerloop.tui.cli.project_cmds.llm_stats_line", broken)


def test_an_unexpected_error_is_one_line_and_a_log_in_the_project(
    seeded_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-guard-0123456789abcdef"
    crash_in_stats(monkeypatch, RuntimeError(f"something nobody expected near {secret}"))
    state = tmp_path / "state"
    result = CliRunner().invoke(
        main,
        ["stats", "-p", str(seeded_project)],
        env={"XDG_STATE_HOME": str(state), "NERLOOP_LLM_API_KEY": secret},
        catch_exceptions=False,
    )
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    log = seeded_project / "nerloop-errors.log"
    assert last == (
        "nerloop: internal error: RuntimeError: something nobody expected near ***; "
        f"details in {log}"
    )
    assert "Traceback" not in result.output and secret not in result.output
    assert not state.exists()
    logged = log.read_text("utf-8")
    assert "Traceback" in logged and "broken" in logged
    assert secret not in logged and "***" in logged


def test_the_crash_log_falls_back_to_the_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No seeded_project in the folder named: the log goes to the user's state folder, and the
    # folder that is not a seeded_project gets no file.
    crash_in_stats(monkeypatch, ValueError("x" * 500))
    state = tmp_path / "state"
    elsewhere = tmp_path / "not_a_project"
    elsewhere.mkdir()
    seed_project(tmp_path / "p")
    (tmp_path / "p" / "nerloop-errors.log").mkdir()  # the project's log cannot be written
    for folder in (elsewhere, tmp_path / "p"):
        result = CliRunner().invoke(
            main, ["stats", "-p", str(folder)], env={"XDG_STATE_HOME": str(state)}
        )
        lines = result.output.strip().splitlines()
        if folder == elsewhere:  # stats refuses a folder with no seeded_project before the crash
            assert result.exit_code == 1 and "internal error" not in result.output
            continue
        assert result.exit_code == 1, result.output
        log = state / "nerloop" / "errors.log"
        assert lines[-1].endswith(f"; details in {log}")
        assert len(lines[-1]) < 200 + 120 + len(str(log))
        assert "ValueError" in log.read_text("utf-8")
    assert list(elsewhere.iterdir()) == []


def test_ctrl_c_is_exit_130_and_usage_stays_2(
    seeded_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_in_stats(monkeypatch, KeyboardInterrupt())
    result = CliRunner().invoke(
        main, ["stats", "-p", str(seeded_project)], env={"XDG_STATE_HOME": str(tmp_path / "s")}
    )
    assert result.exit_code == 130
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not (seeded_project / "nerloop-errors.log").exists()
    usage = CliRunner().invoke(main, ["stats", "--no-such-option", "-p", str(seeded_project)])
    assert usage.exit_code == 2 and "Usage:" in usage.output


def test_a_reader_that_goes_away_ends_the_command_quietly(seeded_project: Path) -> None:
    # The reader closes the pipe before nerloop writes a byte: every write is EPIPE.
    proc = subprocess.Popen(
        [*NERLOOP, "stats", "-p", str(seeded_project)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert err == ""
    assert not (seeded_project / "nerloop-errors.log").exists()


def test_a_broken_pipe_that_is_not_stdout_is_an_internal_error(
    seeded_project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crash_in_stats(monkeypatch, BrokenPipeError(32, "Broken pipe"))
    result = CliRunner().invoke(
        main, ["stats", "-p", str(seeded_project)], env={"XDG_STATE_HOME": str(tmp_path / "s")}
    )
    assert result.exit_code == 1
    assert "nerloop: internal error: BrokenPipeError" in result.output
