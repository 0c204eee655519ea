"""Hostile LLM and embeddings servers, through real `nerloop` processes and the loopback fake
server: huge and deeply nested answers, a server that drips bytes, one that echoes the
Authorization header into its answers and errors (also where a cut at 200 characters would
split the key), `usage` counts of the wrong type, and escape sequences in error text.

Each must end as a counted error or a clean answer within the stated bounds, with one line on
screen, no traceback, no escape sequence reaching the terminal, no key anywhere (database,
WAL, exports, output; plain, base64, URL-encoded, JSON-escaped), and no negative token count.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nerloop.core.ingest import import_file
from nerloop.core.llm.jsonparse import MAX_ANSWER_CHARS, JSONAnswerError, parse_json_answer
from nerloop.core.store import Store
from tests.helpers.fake_llm import HOSTILE, FakeLLM, Fault
from tests.helpers.reliability_helpers import (
    heard,
    heard_spans,
    init_project,
    key_leaks,
    run_nerloop,
    terminal_controls,
    write_jsonl,
)

KEY = f"sk-hostile-{uuid.uuid4().hex}"
TEXTS = 4


def leaks(blob: bytes) -> list[str]:
    return key_leaks(KEY, blob)


@pytest.fixture
def server() -> Iterator[FakeLLM]:
    gold = {}
    for i in [*range(TEXTS), *range(100, 106)]:
        gold[heard(i)] = [(s["label"], s["start"], s["end"]) for s in heard_spans(heard(i))]
    with FakeLLM(gold) as fake:
        yield fake


@pytest.fixture
def project(tmp_path: Path) -> Path:
    p = init_project(tmp_path / "proj")
    records: list[dict[str, Any]] = [{"text": heard(i)} for i in range(TEXTS)]
    # Accepted answers, so that few-shot retrieval (and with it the embeddings endpoint) runs.
    records += [{"text": heard(100 + i), "spans": heard_spans(heard(100 + i))} for i in range(6)]
    import_file(p, write_jsonl(tmp_path / "t.jsonl", records))
    p.close()
    return p.path


def env_for(fake: FakeLLM, **extra: str) -> dict[str, str]:
    return {
        "NERLOOP_LLM_API_KEY": KEY,
        "NERLOOP_LLM_BASE_URL": fake.url,
        "NERLOOP_LLM_MODEL": "fake-model",
        "NERLOOP_LLM_MAX_RETRIES": "1",
        "NERLOOP_LLM_CONCURRENCY": "2",
        **extra,
    }


def scan(project: Path, outputs: list[str]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in sorted(project.rglob("*")):
        if path.is_file() and leaks(path.read_bytes()):
            found[str(path)] = leaks(path.read_bytes())
    for i, out in enumerate(outputs):
        if leaks(out.encode()):
            found[f"output {i}"] = leaks(out.encode())
    return found


def ledger(project: Path) -> list[dict[str, Any]]:
    store = Store(project / "nerloop.db")
    try:
        return store.query("SELECT error, tokens_in, tokens_out, response FROM llm_calls")
    finally:
        store.close()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_chat_answer_is_a_counted_error_or_a_clean_answer(
    server: FakeLLM, project: Path, kind: str
) -> None:
    # One text, one label, and the fault on its first attempt and its retry.
    server.add_faults(Fault(kind, hang=6.0), Fault(kind, hang=6.0))
    started = time.monotonic()
    r = run_nerloop(
        "propose",
        "--label",
        "PRICE",
        "--limit",
        "1",
        "-p",
        str(project),
        env=env_for(server, NERLOOP_LLM_TIMEOUT="1.5", NERLOOP_FEWSHOT_K="0"),
    )
    took = time.monotonic() - started
    out = r.stdout + r.stderr
    assert r.returncode in (0, 1), out
    assert "Traceback" not in out
    assert terminal_controls(out) == [], out
    rows = ledger(project)
    assert rows, "the call is on record"
    assert all(row["tokens_in"] >= 0 and row["tokens_out"] >= 0 for row in rows)
    if kind == "drip":
        # 2 attempts x 1.5 s deadline, far below the 6 s the server takes to answer.
        assert took < 40
        assert "timed out" in out
    if kind in ("huge", "nested", "nested_content", "500_echo_long", "escape_error"):
        assert any(row["error"] for row in rows), rows
    assert scan(project, [out]) == {}


def test_hostile_usage_never_makes_negative_totals(server: FakeLLM, project: Path) -> None:
    server.add_faults(*[Fault("bad_usage") for _ in range(8)])
    env = env_for(server, NERLOOP_FEWSHOT_K="0")
    r = run_nerloop("propose", "--all", "-p", str(project), env=env)
    assert r.returncode == 0, r.stderr
    stats = json.loads(run_nerloop("stats", "--json", "-p", str(project)).stdout)
    assert stats["llm"]["tokens_in"] >= 0 and stats["llm"]["tokens_out"] >= 0


@pytest.mark.timeout(240)
@pytest.mark.parametrize("fault", ["401_echo", "500_echo_long"])
def test_the_key_never_leaks_through_the_embeddings_path(
    server: FakeLLM, project: Path, tmp_path: Path, fault: str
) -> None:
    outputs: list[str] = []
    # Same server for chat and embeddings, no key of its own: the LLM key is used (and must be
    # masked) for both.
    env = env_for(server, NERLOOP_EMBED_BASE_URL=server.url, NERLOOP_EMBED_MODEL="emb")
    server.embed_faults.extend([fault] * 12)
    for args in (("embed",), ("propose", "--all")):
        r = run_nerloop(*args, "-p", str(project), env=env)
        out = r.stdout + r.stderr
        outputs.append(out)
        assert r.returncode == 1, (args, out)
        assert "Traceback" not in out and out.count("\n") <= 8, out
        assert "***" in out or "HTTP" in out, out
    # The chat path echoing the key into answers and errors.
    server.embed_faults.clear()
    server.add_faults("echo_auth", "500_echo_long", "500_echo_long", "401_echo")
    for args in (("propose", "--all"), ("stats",), ("taxonomy", "show")):
        r = run_nerloop(*args, "-p", str(project), env=env)
        outputs.append(r.stdout + r.stderr)
    exports = tmp_path / "exports"
    exports.mkdir()
    for fmt, out_path in (("prodigy", "a.jsonl"), ("conll", "a.conll"), ("spacy", "corpus")):
        r = run_nerloop("export", str(exports / out_path), "--format", fmt, "-p", str(project))
        outputs.append(r.stdout + r.stderr)
    assert server.stats.auth_headers and all(
        h == f"Bearer {KEY}" for h in server.stats.auth_headers
    )
    assert scan(project, outputs) == {}
    assert scan(exports, []) == {}
    assert any(row["response"] and "***" in row["response"] for row in ledger(project)) or any(
        row["error"] and "***" in row["error"] for row in ledger(project)
    )


def test_a_key_in_the_url_is_never_shown(project: Path) -> None:
    url = "http://user:pw-" + KEY + "@127.0.0.1:9/v1?api-key=" + KEY
    for env in (
        {"NERLOOP_LLM_BASE_URL": url, "NERLOOP_LLM_MODEL": "m"},
        {
            "NERLOOP_LLM_MODEL": "m",
            "NERLOOP_LLM_BASE_URL": "http://127.0.0.1:9/v1",
            "NERLOOP_EMBED_BASE_URL": url,
            "NERLOOP_EMBED_MODEL": "e",
        },
    ):
        r = run_nerloop("propose", "--all", "-p", str(project), env=env)
        out = r.stdout + r.stderr
        assert r.returncode == 1 and "Traceback" not in out, out
        assert leaks(out.encode()) == [], out
        r = run_nerloop("embed", "-p", str(project), env=env)
        assert leaks((r.stdout + r.stderr).encode()) == []


@pytest.mark.parametrize(
    "env",
    [
        {"NERLOOP_LLM_BASE_URL": "http://127.0.0.1:70000/v1"},
        {"NERLOOP_EMBED_BASE_URL": "http://[::1/v1", "NERLOOP_EMBED_MODEL": "e"},
        {"NERLOOP_LLM_API_KEY": "sk-ключ-" + KEY},
        {"NERLOOP_LLM_API_KEY": "sk-line\nbreak-" + KEY},
    ],
)
def test_bad_connection_settings_are_one_line(project: Path, env: dict[str, str]) -> None:
    r = run_nerloop("propose", "--all", "-p", str(project), env={"NERLOOP_LLM_MODEL": "m", **env})
    assert r.returncode == 1
    assert r.stderr.startswith("Error: ") and r.stderr.count("\n") == 1, r.stderr
    assert "Traceback" not in r.stderr and leaks(r.stderr.encode()) == []


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "content",
    [
        "x [" * 60_000,
        "[" * 120_000,
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 40_000,
        "{[" * 100_000,
        '[{"text": "' + "a" * 200_000,
        "```json\n" * 20_000,
    ],
    ids=["prose", "open", "nested", "objects", "mixed", "long-string", "fences"],
)
def test_reading_a_hostile_answer_is_bounded(content: str) -> None:
    # The hang guard is the timeout above; the quadratic reader took minutes on these.
    with contextlib.suppress(JSONAnswerError):
        parse_json_answer(content[:MAX_ANSWER_CHARS])
    with pytest.raises(JSONAnswerError, match="over the"):
        parse_json_answer("[" + " " * MAX_ANSWER_CHARS + "]")
