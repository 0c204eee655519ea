"""Settings: file < environment < arguments; the API key stays secret."""

from __future__ import annotations

import ast
import inspect
import itertools
from pathlib import Path

import pytest

from nerloop.core.config import (
    MAX_RATE_WAIT,
    MIN_REQUESTS_PER_MINUTE,
    SETTINGS_FILE,
    SettingsError,
    load_settings,
)


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    assert settings.llm_base_url == "http://localhost:11434/v1"
    assert not settings.llm_configured


def test_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / SETTINGS_FILE).write_text('llm_model = "file-model"\nllm_concurrency = 3\n')
    assert load_settings(tmp_path).llm_model == "file-model"
    monkeypatch.setenv("NERLOOP_LLM_MODEL", "env-model")
    settings = load_settings(tmp_path)
    assert (settings.llm_model, settings.llm_concurrency) == ("env-model", 3)
    assert load_settings(tmp_path, llm_model="arg-model").llm_model == "arg-model"


def test_the_api_key_comes_from_either_variable_and_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NERLOOP_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret")
    settings = load_settings(tmp_path)
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-openai-secret"
    monkeypatch.setenv("NERLOOP_LLM_API_KEY", "sk-nerloop-secret")
    settings = load_settings(tmp_path)
    assert settings.llm_api_key is not None
    assert settings.llm_api_key.get_secret_value() == "sk-nerloop-secret"
    assert "secret" not in repr(settings) and "secret" not in str(settings.model_dump())


def test_bad_values_name_the_file_and_field(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text("llm_concurrency = 0\n")
    with pytest.raises(SettingsError, match=r"nerloop.toml: field llm_concurrency"):
        load_settings(tmp_path)
    (tmp_path / SETTINGS_FILE).write_text("no_such_setting = 1\n")
    with pytest.raises(SettingsError, match=r"field no_such_setting"):
        load_settings(tmp_path)


def test_a_settings_file_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    # Notepad saves UTF-8 with a BOM; tomllib alone calls that "Invalid statement" at 1:1.
    (tmp_path / SETTINGS_FILE).write_bytes(b"\xef\xbb\xbfllm_model = 'bom-model'\n")
    assert load_settings(tmp_path).llm_model == "bom-model"


def test_a_settings_file_not_in_utf8_names_the_byte_and_line(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_bytes(b"llm_model = 'm'\n# caf\xe9\n")
    with pytest.raises(SettingsError, match=r"nerloop.toml: not UTF-8 \(byte 0xe9 on line 2\)"):
        load_settings(tmp_path)


def test_a_rate_limit_that_would_wait_past_the_bound_is_refused(tmp_path: Path) -> None:
    (tmp_path / SETTINGS_FILE).write_text(
        f"llm_requests_per_minute = {MIN_REQUESTS_PER_MINUTE / 2}\n"
    )
    with pytest.raises(SettingsError, match=r"field llm_requests_per_minute: .* use 0 for no"):
        load_settings(tmp_path)
    for allowed in (0, MIN_REQUESTS_PER_MINUTE, 30):
        (tmp_path / SETTINGS_FILE).write_text(f"llm_requests_per_minute = {allowed}\n")
        assert load_settings(tmp_path).llm_requests_per_minute == allowed
    assert MIN_REQUESTS_PER_MINUTE == 60.0 / MAX_RATE_WAIT


def test_every_setting_has_a_docstring() -> None:
    from nerloop.core import config

    (cls,) = ast.parse(inspect.getsource(config.Settings)).body
    assert isinstance(cls, ast.ClassDef)
    body = cls.body
    fields = [
        n.target.id for n in body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
    ]
    documented = {
        n.target.id
        for n, after in itertools.pairwise(body)
        if isinstance(n, ast.AnnAssign)
        and isinstance(n.target, ast.Name)
        and isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    }
    missing = [f for f in fields if f not in documented and f != "model_config"]
    assert missing == []
