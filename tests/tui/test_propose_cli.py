"""`nerloop propose` and the LLM figures of `nerloop stats`, through click's runner."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nerloop.core.project import Project
from nerloop.tui.cli import main
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.propose_helpers import GOLD, T1, add_texts, clean_env, write_settings

KEY = "sk-live-THISISTHEKEY-0123456789"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    clean_env(monkeypatch)
    with FakeLLM(GOLD) as server:
        yield server


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_propose_per_label_then_rerun_continues(project: Project, fake: FakeLLM) -> None:
    write_settings(project.path, fake.url)
    add_texts(project)
    res = cli("propose", "-p", str(project.path), "--label", "PRICE", "--limit", "1")
    assert res.exit_code == 0, res.output
    assert "placed   1 proposals" in res.output and fake.requests == 1
    res = cli("propose", "-p", str(project.path), "--label", "PRICE")
    assert res.exit_code == 0, res.output
    assert "requests 3 (3 to the LLM, 0 from the cache)" in res.output and fake.requests == 4
    res = cli("propose", "-p", str(project.path), "--label", "PRICE")
    assert res.exit_code == 0 and "Nothing to ask" in res.output and fake.requests == 4
    assert project.store.count_proposals("PRICE") == 4


def test_propose_all_batch_reports_drops(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    clean_env(monkeypatch)
    from tests.helpers.fake_llm import Noise

    with FakeLLM(GOLD, noise=Noise(hallucinated_per_text=1.0, seed=2)) as fake:
        write_settings(project.path, fake.url)
        add_texts(project)
        res = cli("propose", "-p", str(project.path), "--all", "--batch")
        assert fake.requests == 4
    assert res.exit_code == 0, res.output
    assert "placed   9 proposals" in res.output
    assert "dropped  4 answers (not_found 4)" in res.output
    assert "errors   0" in res.output


def test_propose_gold_only_asks_gold_texts(project: Project, fake: FakeLLM) -> None:
    write_settings(project.path, fake.url)
    add_texts(project)
    add_texts(project, ["gold text at 99 usd/t fob rouen"], split="gold")
    res = cli("propose", "-p", str(project.path), "--label", "LOCATION", "--gold")
    assert res.exit_code == 0, res.output
    assert fake.requests == 1 and "requests 1" in res.output


def test_unreachable_endpoint_is_one_line_and_exit_1(project: Project, fake: FakeLLM) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    write_settings(project.path, url)
    add_texts(project)
    res = cli("propose", "-p", str(project.path), "--all")
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert res.output.strip().splitlines()[-1] == (
        f"Error: cannot reach the LLM at {url} (connection refused); "
        "set NERLOOP_LLM_BASE_URL or start the server"
    )
    assert project.store.count_proposals() == 0


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--label", "PRICE", "--all"], 2, "either --label LABEL or --all"),
        ([], 2, "either --label LABEL or --all"),
        (["--label", "NOPE"], 1, "no label NOPE in the taxonomy"),
        (["--label", "COMMODITY"], 1, "COMMODITY is a rule label"),
    ],
)
def test_bad_arguments(
    project: Project, fake: FakeLLM, args: list[str], code: int, message: str
) -> None:
    write_settings(project.path, fake.url)
    res = cli("propose", "-p", str(project.path), *args)
    assert res.exit_code == code and message in res.output
    assert fake.requests == 0


def test_no_model_configured(project: Project, fake: FakeLLM) -> None:
    res = cli("propose", "-p", str(project.path), "--all")
    assert res.exit_code == 1 and "no LLM model is set" in res.output


def test_failed_requests_exit_1_and_are_retried_next_time(project: Project, fake: FakeLLM) -> None:
    write_settings(project.path, fake.url)
    add_texts(project, [T1])
    fake.add_faults("400")
    res = cli("propose", "-p", str(project.path), "--label", "PRICE")
    assert res.exit_code == 1 and "errors   1" in res.output
    assert "1 requests failed; run the command again to retry them" in res.output
    res = cli("propose", "-p", str(project.path), "--label", "PRICE")
    assert res.exit_code == 0 and "placed   1" in res.output


def test_stats_show_the_llm_ledger_and_cost(project: Project, fake: FakeLLM) -> None:
    write_settings(project.path, fake.url, llm_price_in_per_1k=0.5, llm_price_out_per_1k=1.5)
    ids = add_texts(project)
    assert cli("propose", "-p", str(project.path), "--label", "PRICE").exit_code == 0
    # A cache hit: the same question through the Proposer API.
    from nerloop.core.config import load_settings
    from nerloop.core.proposers.llm import LLMProposer

    project.settings = load_settings(project.path)
    LLMProposer.from_project(project).propose([project.store.get_text(ids[0])], "PRICE")
    [prop] = project.store.proposals_for(ids[0], "PRICE")
    project.store.add_answer(prop.id, "accept", "ann")
    res = cli("stats", "-p", str(project.path), "--json")
    assert res.exit_code == 0, res.output
    llm = json.loads(res.output)["llm"]
    rows = project.store.query("SELECT * FROM llm_calls WHERE attempts > 0")
    tokens_in = sum(r["tokens_in"] for r in rows)
    tokens_out = sum(r["tokens_out"] for r in rows)
    assert llm["calls"] == 4 and llm["cache_hits"] == 1 and llm["errors"] == 0
    assert (llm["tokens_in"], llm["tokens_out"]) == (tokens_in, tokens_out) and tokens_in > 0
    cost = tokens_in / 1000 * 0.5 + tokens_out / 1000 * 1.5
    assert llm["cost"] == pytest.approx(cost, abs=1e-6)
    assert llm["accepted_spans"] == 1
    assert llm["cost_per_accepted_span"] == pytest.approx(cost, abs=1e-6)


def test_stats_text_has_an_llm_line(project: Project, fake: FakeLLM) -> None:
    write_settings(project.path, fake.url, llm_price_in_per_1k=0.5)
    add_texts(project, [T1])
    assert "llm calls" not in cli("stats", "-p", str(project.path)).output
    assert cli("propose", "-p", str(project.path), "--label", "PRICE").exit_code == 0
    out = cli("stats", "-p", str(project.path)).output
    [line] = [ln for ln in out.splitlines() if ln.startswith("llm calls")]
    tokens_in = project.store.llm_stats()["tokens_in"]
    assert f"1   (cache hits 0, errors 0, tokens {tokens_in} in / " in line
    assert line.endswith(f", cost {tokens_in / 1000 * 0.5:.4f})")


def test_stats_without_prices_have_no_cost(project: Project) -> None:
    llm = json.loads(cli("stats", "-p", str(project.path), "--json").output)["llm"]
    assert llm["calls"] == 0 and llm["cost"] is None and llm["cost_per_accepted_span"] is None


def test_api_key_never_reaches_the_database_or_the_output(
    project: Project, fake: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERLOOP_LLM_API_KEY", KEY)
    write_settings(project.path, fake.url)
    add_texts(project)
    fake.add_faults("401_echo")  # a proxy that quotes the refused credentials
    res = cli("propose", "-p", str(project.path), "--all")
    assert res.exit_code == 1, res.output  # one request failed
    assert fake.stats.auth_headers[0] == f"Bearer {KEY}"
    stats = cli("stats", "-p", str(project.path), "--json")
    assert KEY not in res.output and KEY not in stats.output
    errors = [r["error"] for r in project.store.query("SELECT error FROM llm_calls") if r["error"]]
    assert errors and "***" in errors[0]
    project.store.db.conn.execute("PRAGMA wal_checkpoint(FULL)")
    for path in Path(project.path).iterdir():
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path.name


def test_propose_help_has_an_example() -> None:
    res = cli("propose", "--help")
    assert res.exit_code == 0 and "Example:" in res.output
