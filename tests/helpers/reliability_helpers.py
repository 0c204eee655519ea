"""Shared pieces of the reliability tests and bench/soak: a seeded project, a snapshot of
everything stored, the CLI through click's runner, and checks on what reaches a terminal.

Not a test module: tests and bench/soak import it as `tests.helpers.reliability_helpers`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.records import NewProposal
from nerloop.tui.cli import main

REPO = Path(__file__).resolve().parents[2]
BAD = REPO / "tests" / "data" / "bad"
ANNOTATOR_SCRIPT = REPO / "tests" / "helpers" / "reliability_annotator.py"
# `nerloop` as a real process: the console script's module in this interpreter, so no `nerloop`
# on PATH is needed.
NERLOOP = [sys.executable, "-c", "from nerloop.tui.cli import main; main()"]

TAXONOMY = """\
[project]
lang = "en"

[labels.COMMODITY]
kind = "rule"
description = "A traded commodity."
terms = ["wheat", "corn", "brent", "soybeans", "oats", "barley"]

[labels.PRICE]
kind = "ner"
description = "A price with its currency and unit."
examples = ["250 usd/t"]

[labels.LOCATION]
kind = "ner"
description = "A port, city or delivery location."
examples = ["rouen"]
"""

COMMODITIES = ("wheat", "corn", "oats", "barley", "soybeans")
PLACES = ("rouen", "hamburg", "santos", "odessa", "rotterdam", "paris")

# Tables whose rows are the project's data (leases are bookkeeping and change on every fetch).
DATA_TABLES = (
    "texts",
    "proposals",
    "answers",
    "gold",
    "taxonomy_versions",
    "labels",
    "imports",
    "llm_calls",
)

# Characters that must never reach a terminal from data: C0 controls other than newline and tab
# (ESC starts CSI/OSC sequences, BEL ends OSC), DEL, C1 controls (0x9B is an 8-bit CSI), and bidi
# overrides/isolates that reorder what is shown.
TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u202a-\u202e\u2066-\u2069]")


def heard(i: int) -> str:
    """A distinct commodity "heard" (a short market text) for index i."""
    c = COMMODITIES[i % len(COMMODITIES)]
    place = PLACES[(i // 5) % len(PLACES)]
    return f"heard {c} bid {200 + i % 97} usd/t fob {place} lot {i}"


def heard_spans(text: str) -> list[dict[str, Any]]:
    """Gold-like spans of a `heard` text: the price and the place."""
    m = re.search(r"\d+ usd/t", text)
    assert m is not None
    place = next(p for p in PLACES if f" {p} " in text)
    s = text.index(f" {place} ") + 1
    return [
        {"start": m.start(), "end": m.end(), "label": "PRICE"},
        {"start": s, "end": s + len(place), "label": "LOCATION"},
    ]


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return path


def init_project(path: Path) -> Project:
    tax = path.parent / f"{path.name}-taxonomy.toml"
    tax.write_text(TAXONOMY, "utf-8")
    return Project.init(path, tax)


def llm_proposals(project: Project, text_ids: list[int], label: str = "PRICE") -> list[int]:
    """Store an "llm" proposal of the price (PRICE) or place (LOCATION) of each heard text."""
    out: list[NewProposal] = []
    for tid in text_ids:
        text = project.store.get_text(tid).text
        span = next(s for s in heard_spans(text) if s["label"] == label)
        doc = project.nlp.make_doc(text)
        cs = doc.char_span(span["start"], span["end"])
        assert cs is not None
        out.append(
            NewProposal(tid, label, cs.start_char, cs.end_char, cs.start, cs.end - 1, "llm", "fake")
        )
    return project.store.add_proposals(out)


def seed_project(path: Path, n_texts: int = 40, n_gold: int = 4) -> Path:
    """A project with pool texts, imported spans (proposals and answers), llm proposals with
    answers by two annotators (one undone), and a finished gold set: something to lose."""
    project = init_project(path)
    try:
        tmp = path.parent / f"{path.name}-seed.jsonl"
        records: list[dict[str, Any]] = [
            {"text": heard(i), "meta": {"i": i}} for i in range(n_texts)
        ]
        for r in records[:5]:
            r["spans"] = heard_spans(str(r["text"]))
        import_file(project, write_jsonl(tmp, records))
        gold = [
            {"text": heard(10_000 + i), "spans": heard_spans(heard(10_000 + i))}
            for i in range(n_gold)
        ]
        import_file(project, write_jsonl(tmp, gold), gold=True)
        ids = [t.id for t in project.store.iter_texts("pool")][5:15]
        pids = llm_proposals(project, ids)
        for k, pid in enumerate(pids[:6]):
            ann = "alice" if k % 2 else "bob"
            aid = project.store.add_answer(pid, ("accept", "reject", "ignore")[k % 3], ann)
            if k == 5:
                project.store.undo_answer(aid, ann)
        tmp.unlink()
    finally:
        project.close()
    return path


def annotation_project(path: Path, n_texts: int = 200) -> Path:
    """A project ready to annotate: `n_texts` pool texts, an llm proposal of PRICE and of
    LOCATION on each (stored, as `nerloop propose` would leave them), and a rule label
    (COMMODITY) whose proposals the queue makes while annotators work."""
    project = init_project(path)
    try:
        tmp = path.parent / f"{path.name}-texts.jsonl"
        import_file(project, write_jsonl(tmp, [{"text": heard(i)} for i in range(n_texts)]))
        tmp.unlink()
        ids = [t.id for t in project.store.iter_texts("pool")]
        llm_proposals(project, ids, "PRICE")
        llm_proposals(project, ids, "LOCATION")
    finally:
        project.close()
    return path


def snapshot(db_path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the data tables, in rowid order (opened read-only, so taking it changes
    nothing)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return {
            t: [tuple(r) for r in conn.execute(f"SELECT * FROM {t} ORDER BY rowid")]
            for t in DATA_TABLES
        }
    finally:
        conn.close()


def assert_prefix(before: dict[str, list[Any]], after: dict[str, list[Any]]) -> None:
    """Everything stored before is still stored, unchanged (rows are only ever appended)."""
    for table, rows in before.items():
        assert after[table][: len(rows)] == rows, f"{table}: stored rows changed or vanished"


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(str(db_path))
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    """`nerloop ARGS` in this process through click's runner: (exit code, stdout + stderr).

    An exception that escapes a command (a traceback for the user) is re-raised so the test
    shows it instead of a bare exit code 1.
    """
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"nerloop {' '.join(args)} raised {type(result.exception).__name__}: "
            f"{result.exception}\n{result.output}"
        ) from result.exception
    return result.exit_code, result.output


def run_nerloop(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`nerloop ARGS` as a real process, capturing its output."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*NERLOOP, *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def start_nerloop(*args: str) -> subprocess.Popen[str]:
    """`nerloop ARGS` as a real process running alongside the caller; `communicate()` for output."""
    return subprocess.Popen(
        [*NERLOOP, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def terminal_controls(text: str) -> list[str]:
    """The characters in `text` that would act on a terminal instead of showing."""
    return sorted({repr(c) for c in TERMINAL_CONTROLS.findall(text)})


def live_answers(db_path: Path) -> list[dict[str, Any]]:
    """Answers not taken back, with their proposal."""
    conn = sqlite3.connect(str(db_path))
    conn.row_factory = sqlite3.Row
    try:
        rows = conn.execute(
            "SELECT a.id, a.proposal_id, a.annotator, a.answer FROM answers a "
            "WHERE a.answer != 'undo' AND NOT EXISTS "
            "(SELECT 1 FROM answers u WHERE u.undoes = a.id) ORDER BY a.id"
        ).fetchall()
        return [dict(r) for r in rows]
    finally:
        conn.close()


# -- annotator processes and their side logs --------------------------------------------------


def annotator_cmd(project: Path, annotator: str, log: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ANNOTATOR_SCRIPT),
        "--project",
        str(project),
        "--annotator",
        annotator,
        "--log",
        str(log),
        *extra,
    ]


def read_log(path: Path) -> list[dict[str, Any]]:
    """The side log's events; a torn last line (killed mid-write) is not a claim, so dropped."""
    if not path.exists():
        return []
    events = []
    lines = path.read_text("utf-8").split("\n")
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            assert i == len(lines) - 1, f"{path}: line {i + 1} is torn but not the last"
    return events


def wait_for_log(path: Path, ev: str, count: int = 1, timeout: float = 120.0) -> bool:
    """Wait until the log holds `count` events of kind `ev` (polling; never asserts time)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sum(1 for e in read_log(path) if e["ev"] == ev) >= count:
            return True
        time.sleep(0.05)
    return False


class LogCheck:
    """What the side logs claim, checked against the database."""

    def __init__(self, db_path: Path, logs: list[Path], kills: int = 0) -> None:
        self.events = [e for p in logs for e in read_log(p)]
        conn = sqlite3.connect(str(db_path))
        conn.row_factory = sqlite3.Row
        try:
            self.rows = {
                r["id"]: dict(r)
                for r in conn.execute(
                    "SELECT id, proposal_id, annotator, answer, undoes FROM answers"
                )
            }
            self.integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            conn.close()
        self.kills = kills

    @property
    def answers(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["ev"] == "answer"]

    @property
    def undos(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["ev"] == "undo"]

    def missing(self) -> list[str]:
        """Logged answers and undos that are not in the database as logged."""
        undone = {r["undoes"] for r in self.rows.values() if r["undoes"] is not None}
        bad = []
        for e in self.answers:
            assert e["answer_ids"], e
            for aid, pid in zip(e["answer_ids"], e["proposal_ids"], strict=True):
                row = self.rows.get(aid)
                if row is None or (row["proposal_id"], row["annotator"], row["answer"]) != (
                    pid,
                    e["annotator"],
                    e["kind"],
                ):
                    bad.append(f"answer {aid} ({e['kind']} of proposal {pid}): {row}")
        for e in self.undos:
            bad.extend(f"undo of answer {aid}" for aid in e["answer_ids"] if aid not in undone)
        return bad

    def answered_twice(self) -> dict[int, int]:
        """Proposals with more than one live answer (overlap is off: each is asked once)."""
        undone = {r["undoes"] for r in self.rows.values() if r["undoes"] is not None}
        live: dict[int, int] = {}
        for r in self.rows.values():
            if r["answer"] != "undo" and r["id"] not in undone:
                live[r["proposal_id"]] = live.get(r["proposal_id"], 0) + 1
        return {p: n for p, n in live.items() if n > 1}

    def unlogged(self, annotators: set[str]) -> int:
        """Answer rows of these annotators that no log line claims: at most the one in flight
        at each kill (committed, then killed before its line was written)."""
        logged = {a for e in self.events if e["ev"] in ("answer",) for a in e["answer_ids"]}
        undone_logged = {a for e in self.undos for a in e["answer_ids"]}
        n = 0
        for r in self.rows.values():
            if r["annotator"] not in annotators:
                continue
            if r["answer"] == "undo":
                n += r["undoes"] not in undone_logged
            else:
                n += r["id"] not in logged
        return n


# -- the real app on a pseudo-terminal --------------------------------------------------------


class TuiProcess:
    """`reliability_annotator.py --mode tui` (the real Textual app) on a pseudo-terminal of
    80x24. The output is drained by a thread (a full pty would block the app's writes)."""

    def __init__(self, project: Path, annotator: str, log: Path) -> None:
        import fcntl
        import pty
        import struct
        import termios
        import threading

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
        env.pop("TEXTUAL", None)
        self.proc = subprocess.Popen(
            annotator_cmd(project, annotator, log, "--mode", "tui"),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            start_new_session=True,
        )
        os.close(slave)
        self.master = master
        self.screen = bytearray()
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.screen += chunk
            del self.screen[:-200_000]

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def kill(self) -> None:
        import signal

        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)
        self._reader.join(timeout=5)


def key_spellings(secret: str) -> list[bytes]:
    """The ways a key could be written down where it must never be: plain, base64 (Basic
    auth, or the key inside an echoed "Bearer KEY" header at another alignment), URL-quoted,
    JSON-escaped, and the parts that survive a cut before masking."""
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw).rstrip(b"="),
        base64.b64encode(b"Bearer " + raw)[12:40],
        urllib.parse.quote(secret, safe="").encode(),
        json.dumps(secret).encode()[1:-1],
        raw[len(raw) // 4 : len(raw) // 4 + 16],
        raw[len(raw) // 2 :],
    ]


def key_leaks(secret: str, blob: bytes) -> list[str]:
    """The spellings of `secret` (key_spellings) found in `blob`."""
    return [f.decode() for f in key_spellings(secret) if f in blob]


def apply_settings_case(project: Path, case: dict[str, Any]) -> dict[str, str] | None:
    """Set up one `settings` case of tests/data/bad/cases.json in `project` (its nerloop.toml
    copied in, or a folder in its place); returns the case's environment to run with."""
    if "toml" in case:
        shutil.copyfile(BAD / case["toml"], project / "nerloop.toml")
    if case.get("toml_folder"):
        (project / "nerloop.toml").mkdir()
    env: dict[str, str] | None = case.get("env")
    return env
