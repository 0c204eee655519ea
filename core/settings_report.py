"""What `nerloop settings` shows: every setting, its value, where the value came from, and the
docstring that says what it does (core/config.py)."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from pydantic.fields import FieldInfo

from nerloop.core.config import SETTINGS_FILE, Settings, load_settings


@dataclass(frozen=True, slots=True)
class SettingRow:
    name: str
    value: Any
    """The value in force; a key shows as *** when set (it is never printed)."""
    source: str
    """`default`, the settings file, or the environment variable that set it."""
    doc: str


def _env_names(name: str, info: FieldInfo) -> list[str]:
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [str(c) for c in choices]
    return [f"NERLOOP_{name.upper()}"]


def _file_keys(project_dir: Path | None) -> set[str]:
    path = project_dir / SETTINGS_FILE if project_dir is not None else None
    if path is None or not path.is_file():
        return set()
    try:
        return set(tomllib.loads(path.read_bytes().decode("utf-8-sig")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        return set()  # load_settings has refused such a file already


def settings_report(project_dir: Path | None) -> list[SettingRow]:
    """One row a setting, in the order core/config.py defines them."""
    settings = load_settings(project_dir)
    in_file = _file_keys(project_dir)
    rows: list[SettingRow] = []
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "***" if value.get_secret_value() else ""
        env = next((n for n in _env_names(name, info) if n in os.environ), None)
        if env is not None:
            source = f"environment ({env})"
        elif name in in_file:
            source = SETTINGS_FILE
        else:
            source = "default"
        doc = " ".join((info.description or "").split())
        rows.append(SettingRow(name, value, source, doc))
    return rows
