"""The API key never lands anywhere: not in the database (or its -wal/-shm), exports, project
files, command output or error messages, whatever path the run takes.

The key is a unique marker set as NERLOOP_LLM_API_KEY. The runs: propose against the fake
server (which checks the key did travel, in the Authorization header), a 401 whose body quotes
the credentials back (as some proxies do), a plain 401, a base URL with the key in its userinfo
and nobody listening, a bad setting, then stats, taxonomy, import and every export format.
Afterwards every byte of every file under the project and the exports, and every output,
is searched for the marker (also base64-, URL- and JSON-escaped forms of it).
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nerloop.core import secrets
from nerloop.core.ingest import import_file
from nerloop.tui.cli.base import log_crash
from tests.helpers.fake_llm import FakeLLM
from tests.helpers.reliability_helpers import (
    BAD,
    heard,
    heard_spans,
    init_project,
    key_leaks,
    run_cli,
    write_jsonl,
)

MARKER = f"sk-nerloop-{uuid.uuid4().hex}-SECRET"


def leaks(blob: bytes) -> list[str]:
    return key_leaks(MARKER, blob)


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    gold = {}
    for i in range(6):
        t = heard(i)
        gold[t] = [(s["label"], s["start"], s["end"]) for s in heard_spans(t)]
    with FakeLLM(gold) as server:
        yield server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_api_key_is_never_stored_logged_exported_or_shown(
    tmp_path: Path, fake: FakeLLM
) -> None:
    project = init_project(tmp_path / "proj")
    records: list[dict[str, Any]] = [{"text": heard(i)} for i in range(6)]
    records[0]["spans"] = heard_spans(heard(0))
    import_file(project, write_jsonl(tmp_path / "texts.jsonl", records))
    import_file(
        project,
        write_jsonl(
            tmp_path / "gold.jsonl", [{"text": heard(99), "spans": heard_spans(heard(99))}]
        ),
        gold=True,
    )
    project.close()
    p = ["-p", str(project.path)]
    env = {
        "NERLOOP_LLM_API_KEY": MARKER,
        "NERLOOP_LLM_BASE_URL": fake.url,
        "NERLOOP_LLM_MODEL": "fake-model",
        "NERLOOP_LLM_MAX_RETRIES": "1",
        "NERLOOP_LLM_CONCURRENCY": "2",
    }
    outputs: list[str] = []

    def run(*args: str, expect: int | None = None, **extra: str) -> str:
        code, out = run_cli(*args, env={**env, **extra})
        outputs.append(out)
        if expect is not None:
            assert code == expect, (args, out)
        return out

    # Error paths first, so their messages and ledger rows are in the scan.
    fake.add_faults("401_echo", "401_echo", "401")
    out = run("propose", "--label", "PRICE", *p, "--limit", "3", expect=1)
    assert "HTTP 401" in out
    assert fake.stats.auth_headers[0] == f"Bearer {MARKER}", "the key did not travel at all"
    dead = f"http://user:{MARKER}@127.0.0.1:{free_port()}/v1"
    out = run("propose", "--all", *p, expect=1, NERLOOP_LLM_BASE_URL=dead)
    assert "cannot reach the LLM" in out
    run("propose", "--all", *p, expect=1, NERLOOP_LLM_TIMEOUT="-1")
    run("propose", *p, expect=2)  # usage: neither --label nor --all
    # The normal path.
    run("propose", "--all", *p, expect=0)
    assert int(json.loads(run("stats", *p, "--json", expect=0))["proposals"]) > 0
    run("stats", *p, expect=0)
    run("taxonomy", "show", *p, expect=0)
    run("import", str(BAD / "emoji.jsonl"), *p, expect=0)
    run("import", str(BAD / "invalid_json.jsonl"), *p, expect=1)
    exports = tmp_path / "exports"
    exports.mkdir()
    run("export", str(exports / "a.jsonl"), "--format", "prodigy", *p, expect=0)
    run("export", str(exports / "a.conll"), "--format", "conll", *p, expect=0)
    run("export", str(exports / "spacy"), "--format", "spacy", *p, expect=0)
    outputs.append(run("export", "-", "--format", "prodigy", *p, expect=0))

    assert fake.stats.chat_requests > 3 and (project.path / "nerloop.db").exists()
    found: dict[str, list[str]] = {}
    for root in (project.path, exports):
        for path in sorted(root.rglob("*")):
            if path.is_file() and leaks(path.read_bytes()):
                found[str(path)] = leaks(path.read_bytes())
    for i, out in enumerate(outputs):
        if leaks(out.encode()):
            found[f"output {i}"] = leaks(out.encode())
    assert found == {}
    # The DB files were really scanned (the WAL holds the latest writes until a checkpoint).
    names = {q.name for q in project.path.iterdir()}
    assert "nerloop.db" in names


def test_redact_masks_every_spelling_before_any_cut() -> None:
    key = 'sk-a+b/c=d"e-' + uuid.uuid4().hex
    secrets.register(key)
    for prefix in ("", "B", "Be", "Bearer "):
        spelled = [
            key,
            base64.b64encode((prefix + key).encode()).decode(),
            base64.urlsafe_b64encode((prefix + key).encode()).decode(),
            urllib.parse.quote(key, safe=""),
            json.dumps(key)[1:-1],
        ]
        for form in spelled:
            masked = secrets.redact(f"echo: {form} !")
            assert key[8:24] not in masked and form not in masked, (prefix, form, masked)
    # A key straddling the 200th character: masked first, so no half survives the cut.
    text = "x" * 190 + key + " tail"
    cut = secrets.redact_short(text, 200)
    assert len(cut) <= 200 and key[:10] not in cut and key[10:] not in cut
    assert cut.endswith(secrets.MASK + " tail")


def test_urls_are_shown_without_credentials() -> None:
    url = f"https://bob:{MARKER}@llm.example:8443/v1?api-version=2&api-key={MARKER}&token=t0k3n-abcdef"
    shown = secrets.safe_url(url)
    assert MARKER not in shown and "bob" not in shown and "t0k3n" not in shown
    assert shown.startswith("https://llm.example:8443/v1?api-version=2&api-key=***")
    secrets.register_url(url)
    assert secrets.redact(f"GET {url} failed").count(MARKER) == 0
    assert "t0k3n-abcdef" not in secrets.redact("token t0k3n-abcdef")


def test_the_key_never_leaks_through_the_embeddings_path_or_the_crash_log(
    tmp_path: Path, fake: FakeLLM
) -> None:
    project = init_project(tmp_path / "proj")
    records: list[dict[str, Any]] = [{"text": heard(i)} for i in range(4)]
    records += [{"text": heard(50 + i), "spans": heard_spans(heard(50 + i))} for i in range(4)]
    import_file(project, write_jsonl(tmp_path / "texts.jsonl", records))
    project.close()
    state = tmp_path / "state"
    # The embeddings server is the chat server and has no key of its own: the LLM key goes
    # to both, and both must mask it (the server quotes the header back in its errors).
    env = {
        "NERLOOP_LLM_API_KEY": MARKER,
        "NERLOOP_LLM_BASE_URL": fake.url,
        "NERLOOP_LLM_MODEL": "fake-model",
        "NERLOOP_LLM_MAX_RETRIES": "1",
        "NERLOOP_EMBED_BASE_URL": fake.url,
        "NERLOOP_EMBED_MODEL": "emb",
        "XDG_STATE_HOME": str(state),
    }
    fake.embed_faults.extend(["401_echo", "500_echo_long"] * 6)
    outputs = []
    for args in (("embed",), ("propose", "--all"), ("embed",)):
        code, out = run_cli(*args, "-p", str(project.path), env=env)
        outputs.append(out)
        assert code == 1 and "Traceback" not in out, (args, out)
    assert len(fake.embed_faults) < 12, "the embeddings endpoint was never asked"
    assert any("***" in out for out in outputs), outputs  # the echo was there, and masked
    found = {
        str(path): leaks(path.read_bytes())
        for root in (project.path, state)
        for path in sorted(root.rglob("*"))
        if path.is_file() and leaks(path.read_bytes())
    }
    found.update(
        {f"output {i}": leaks(o.encode()) for i, o in enumerate(outputs) if leaks(o.encode())}
    )
    assert found == {}


def test_the_crash_log_masks_the_command_line_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    url = f"http://u:{MARKER}@127.0.0.1:9/v1"
    secrets.register(MARKER)
    monkeypatch.setattr(sys, "argv", ["nerloop", "propose", "--all", "--base-url", url])
    try:
        raise RuntimeError(f"boom at {url}")
    except RuntimeError as exc:
        log = log_crash(exc)
    assert log is not None and log.is_file()
    text = log.read_text()
    assert "boom" in text and "propose --all" in text and leaks(text.encode()) == []
