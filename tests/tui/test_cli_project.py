"""`nerloop init`, `stats`, `taxonomy show` through click's runner: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nerloop.core.project import Project
from nerloop.core.records import NewProposal
from nerloop.tui.cli import main


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_every_command_has_help_with_an_example() -> None:
    code, out = run("--help")
    assert code == 0
    commands = [line.split()[0] for line in out.split("Commands:")[1].strip().splitlines()]
    assert {"init", "stats", "taxonomy"} <= set(commands)
    for name in commands:
        code, text = run(name, "--help")
        assert code == 0, name
        group_only = "Commands:" in text
        assert group_only or "Example:" in text, f"{name} --help has no example"
        if group_only:
            for sub in [ln.split()[0] for ln in text.split("Commands:")[1].strip().splitlines()]:
                code, subtext = run(name, sub, "--help")
                assert code == 0 and "Example:" in subtext, f"{name} {sub}"


def test_init_creates_a_project_and_is_idempotent(tmp_path: Path, taxonomy_file: Path) -> None:
    target = tmp_path / "p"
    code, out = run("init", "-p", str(target), "--taxonomy", str(taxonomy_file))
    assert code == 0, out
    assert "4 labels" in out
    assert (target / "nerloop.db").exists() and (target / "taxonomy.toml").exists()
    code, out = run("init", "-p", str(target))
    assert code == 0 and "taxonomy version 1" in out


def test_init_with_a_broken_taxonomy_fails_with_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[labels.PRICE]\nkind = "rule"\n')
    code, out = run("init", "-p", str(tmp_path / "p"), "--taxonomy", str(bad))
    assert code == 1
    assert f"{bad}: label PRICE" in out and "Traceback" not in out
    assert not (tmp_path / "p" / "nerloop.db").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run("stats", "--no-such-flag")[0] == 2
    assert run("no-such-command")[0] == 2


def test_commands_on_a_folder_that_is_not_a_project_exit_1(tmp_path: Path) -> None:
    code, out = run("stats", "-p", str(tmp_path))
    assert code == 1 and "not a nerloop project" in out


def test_project_defaults_to_the_environment_variable(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERLOOP_PROJECT", str(project.path))
    code, out = run("stats", "--json")
    assert code == 0, out
    assert json.loads(out)["texts"] == 0


def test_stats_json_has_the_documented_keys(project: Project) -> None:
    store = project.store
    tid, _ = store.add_text("heard wheat bid 250 usd/t fob rouen")
    store.add_text("gold text", split="gold")
    pids = store.add_proposals(
        [
            NewProposal(tid, "COMMODITY", 6, 11, 1, 1, "rule"),
            NewProposal(tid, "PRICE", 16, 19, 3, 3, "llm"),
            NewProposal(tid, "LOCATION", 30, 35, 7, 7, "llm"),
        ]
    )
    store.add_answer(pids[0], "accept", "ana")
    store.add_answer(pids[1], "reject", "ana")
    store.add_answer(pids[2], "ignore", "bob")
    code, out = run("stats", "-p", str(project.path), "--json")
    assert code == 0, out
    figures = json.loads(out)
    assert figures["texts"] == 2 and figures["gold"] == 1 and figures["proposals"] == 3
    assert figures["answers"] == {"accept": 1, "reject": 1, "ignore": 1}
    labels = figures["labels"]
    assert labels["COMMODITY"]["accept"] == 1 and labels["COMMODITY"]["kind"] == "rule"
    assert labels["PRICE"]["reject"] == 1 and labels["LOCATION"]["ignore"] == 1
    assert labels["INCOTERM"]["proposals"] == 0
    code, out = run("stats", "-p", str(project.path))
    assert code == 0 and "COMMODITY" in out and "accept 1" in out


def test_taxonomy_show(project: Project) -> None:
    code, out = run("taxonomy", "show", "-p", str(project.path))
    assert code == 0
    assert "INCOTERM  (rule)" in out and "terms: fob, cif" in out
    code, out = run("taxonomy", "show", "-p", str(project.path), "--json")
    assert [label["name"] for label in json.loads(out)["labels"]][:2] == ["COMMODITY", "INCOTERM"]
