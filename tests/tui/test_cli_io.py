"""`nerloop import` and `nerloop export` through click's runner: output, messages, exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nerloop.core.project import Project
from nerloop.core.store import Store
from nerloop.tui.cli import main
from tests.helpers.io_helpers import DATA, make_project, snapshot, write


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def proj(tmp_path: Path, taxonomy_file: Path) -> Iterator[Path]:
    """A project folder; the CLI opens it itself."""
    p: Project = make_project(tmp_path / "proj", taxonomy_file)
    p.close()
    yield p.path


def test_help_names_formats_example_and_what_spans_become() -> None:
    r = run("import", "--help")
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    assert "Example:" in r.output
    assert "[jsonl|prodigy|csv|text|conll]" in text
    assert 'accepted by annotator "import"' in text
    assert "--skip-invalid" in text and "--gold" in text and "--text-column" in text
    r = run("export", "--help")
    assert r.exit_code == 0 and "Example:" in r.output and "[prodigy|spacy|conll]" in r.output


def test_import_prints_summary_and_stores(proj: Path) -> None:
    r = run("import", DATA / "texts.jsonl", "-p", proj)
    assert r.exit_code == 0, r.output
    assert r.stdout == (
        f"Imported {DATA / 'texts.jsonl'} (jsonl): 3 added, 1 duplicates, 0 rejected, 3 answers\n"
    )
    r = run("import", DATA / "prodigy.jsonl", "-p", proj)
    assert r.exit_code == 0
    assert "(prodigy): 1 added, 3 duplicates, 0 rejected, 5 answers" in r.stdout
    store = Store(proj / "nerloop.db")
    assert store.count_texts() == 4
    store.close()


def test_import_bad_file_exit_1_message_and_nothing_stored(proj: Path, tmp_path: Path) -> None:
    run("import", DATA / "texts.txt", "-p", proj)
    store = Store(proj / "nerloop.db")
    before = snapshot(store)
    f = write(
        tmp_path / "bad.jsonl",
        '{"text": "fine"}\n'
        '{"text": "heard wheat", "spans": [{"start": 0, "end": 5, "label": "NOPE"}]}\n',
    )
    r = run("import", f, "-p", proj)
    assert r.exit_code == 1
    assert r.stderr.splitlines() == [
        f"{f}:2: field spans[0].label: unknown label 'NOPE' (taxonomy: COMMODITY, INCOTERM, "
        "LOCATION, PRICE)",
        f"Error: {f}: nothing imported: 1 invalid record. Fix them, or pass --skip-invalid to "
        "import the valid records and skip these.",
    ]
    assert r.stdout == ""
    assert snapshot(store) == before
    store.close()


def test_import_skip_invalid_lists_first_twenty(proj: Path, tmp_path: Path) -> None:
    f = write(
        tmp_path / "many.txt",
        "good one\n" + "".join(f"bad\x00{i}\n" for i in range(23)) + "good two\n",
    )
    r = run("import", f, "-p", proj, "--skip-invalid")
    assert r.exit_code == 0, r.output
    err = r.stderr.splitlines()
    assert err[0] == "Skipped 23 invalid records:"
    assert err[1] == f"  {f}:2: field text: contains a NUL character at character 3"
    assert len(err) == 1 + 20 + 1 and err[-1] == "  ... and 3 more"
    assert r.stdout == f"Imported {f} (text): 2 added, 0 duplicates, 23 rejected\n"


def test_import_csv_text_column_and_gold(proj: Path, tmp_path: Path) -> None:
    f = write(tmp_path / "g.csv", "id,body\n1,heard wheat\n")
    r = run("import", f, "-p", proj)
    assert r.exit_code == 1
    assert "g.csv:1: field text: the header has no column 'text' (columns: id, body)" in r.stderr
    r = run("import", f, "-p", proj, "--text-column", "body", "--gold")
    assert r.exit_code == 0, r.output
    assert "1 added, 0 duplicates, 0 rejected, 1 gold annotations" in r.stdout
    store = Store(proj / "nerloop.db")
    assert store.count_texts("gold") == 1 and store.count_gold() == 1
    store.close()


def test_import_usage_errors_exit_2(proj: Path, tmp_path: Path) -> None:
    r = run("import", write(tmp_path / "a.xml", "<a/>"), "-p", proj)
    assert r.exit_code == 2
    assert "cannot tell the format from the extension '.xml'" in r.stderr and "--format" in r.stderr
    r = run("import", tmp_path / "missing.jsonl", "-p", proj)
    assert r.exit_code == 2
    r = run("import", DATA / "texts.txt", "-p", proj, "--format", "xml")
    assert r.exit_code == 2
    # --format overrides the extension.
    r = run("import", write(tmp_path / "a.xml", "one text\n"), "-p", proj, "--format", "text")
    assert r.exit_code == 0


def test_import_into_a_folder_that_is_no_project_exit_1(tmp_path: Path) -> None:
    r = run("import", DATA / "texts.txt", "-p", tmp_path / "nothing")
    assert r.exit_code == 1
    assert "not a nerloop project" in r.stderr


def test_export_each_format_and_reimport(proj: Path, tmp_path: Path) -> None:
    assert run("import", DATA / "prodigy.jsonl", "-p", proj).exit_code == 0
    out = tmp_path / "out.jsonl"
    r = run("export", out, "-p", proj, "--format", "prodigy")
    assert r.exit_code == 0, r.output
    assert r.stdout == f"Exported {out} (prodigy): 5 records from 3 texts\n"
    assert [json.loads(line)["answer"] for line in out.read_text().splitlines()] == [
        "accept",
        "reject",
        "ignore",
        "accept",
        "accept",
    ]
    r = run("export", "-", "-p", proj, "--format", "conll")
    assert r.exit_code == 0
    assert r.stdout.startswith("# text = heard wheat bid 250 usd/t fob rouen\n")
    assert "Exported - (conll)" in r.stderr
    r = run("export", tmp_path / "corpus", "-p", proj, "--format", "spacy")
    assert r.exit_code == 0
    assert "train.spacy: " in r.stdout and "test.spacy: 0 docs" in r.stdout
    assert (tmp_path / "corpus" / "dev.spacy").exists()
    other = make_project(tmp_path / "other", proj / "taxonomy.toml")
    other.close()
    r = run("import", out, "-p", other.path)
    assert r.exit_code == 0 and "3 added, 2 duplicates, 0 rejected, 5 answers" in r.stdout


def test_export_usage_errors(proj: Path, tmp_path: Path) -> None:
    assert run("export", tmp_path / "x", "-p", proj).exit_code == 2  # --format is required
    r = run("export", "-", "-p", proj, "--format", "spacy")
    assert r.exit_code == 2 and "writes a folder" in r.stderr
    r = run("export", tmp_path, "-p", proj, "--format", "prodigy")
    assert r.exit_code == 2 and "is a folder" in r.stderr


def test_import_shows_progress_on_stderr_for_big_files(
    proj: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nerloop.tui.cli import io_cmds

    monkeypatch.setattr(io_cmds, "PROGRESS_MIN_BYTES", 10)
    f = write(tmp_path / "t.txt", "".join(f"text {i}\n" for i in range(3000)))
    r = run("import", f, "-p", proj)
    assert r.exit_code == 0
    assert "Importing t.txt" in r.stderr
    assert "Importing" not in r.stdout and "3000 added" in r.stdout


def test_export_to_an_unwritable_place_exit_1(proj: Path, tmp_path: Path) -> None:
    blocker = write(tmp_path / "afile", "x")
    r = run("export", blocker / "out.jsonl", "-p", proj, "--format", "prodigy")
    assert r.exit_code == 1
    # The message names OUT as the user typed it (issue 16), with the reason.
    assert r.stderr.startswith(f"Error: {blocker / 'out.jsonl'}: cannot write: Not a directory")


def test_import_of_a_file_without_records_warns_and_exits_0(proj: Path, tmp_path: Path) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n\t\n", "utf-8")
    r = run("import", blank, "-p", proj)
    assert r.exit_code == 0, r.output
    assert "no records found" in r.stderr and str(blank) in r.stderr
    assert "0 added" in r.stdout
    r = run("import", DATA / "texts.jsonl", "-p", proj)
    assert "no records found" not in r.stderr
