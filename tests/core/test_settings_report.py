"""`nerloop settings`: every setting with its value, its source and its docstring."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nerloop.core.config import Settings
from nerloop.core.settings_report import settings_report
from nerloop.tui.cli import main


def test_every_setting_has_a_docstring_and_a_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nerloop.toml").write_text("retrain_every = 50\n", "utf-8")
    monkeypatch.setenv("NERLOOP_LLM_MODEL", "m")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-report-0123456789")
    rows = {r.name: r for r in settings_report(tmp_path)}
    assert list(rows) == list(Settings.model_fields)
    assert all(r.doc for r in rows.values()), [n for n, r in rows.items() if not r.doc]
    assert (rows["retrain_every"].value, rows["retrain_every"].source) == (50, "nerloop.toml")
    assert rows["llm_model"].source == "environment (NERLOOP_LLM_MODEL)"
    assert (rows["llm_api_key"].value, rows["llm_api_key"].source) == (
        "***",
        "environment (OPENAI_API_KEY)",
    )
    assert rows["policy"].source == "default"


def test_the_command_prints_them_and_never_the_key(tmp_path: Path) -> None:
    env = {"NERLOOP_LLM_API_KEY": "sk-report-abcdef0123", "NERLOOP_LLM_TIMEOUT": "5"}
    out = CliRunner().invoke(main, ["settings", "-p", str(tmp_path)], env=env).output
    assert "llm_timeout = 5.0  (environment (NERLOOP_LLM_TIMEOUT))" in out
    assert "sk-report" not in out and 'llm_api_key = "***"' in out
    data = json.loads(
        CliRunner().invoke(main, ["settings", "-p", str(tmp_path), "--json"], env=env).output
    )
    assert {d["name"] for d in data} == set(Settings.model_fields)
