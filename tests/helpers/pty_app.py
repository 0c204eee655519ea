"""The real `nerloop annotate` on a pseudo-terminal, driven and timed byte by byte.

Used by the CLI tests and by bench/tui_latency.py.

What an annotator over SSH sees is the bytes the app writes to its terminal, so latency is
measured there: from the moment a key's byte is written to the pty to the moment the bytes that
draw the next question have been read back from it. That includes everything the app does for a
key (input parsing, the handler, the answer's commit, the repaint, the write to the terminal)
and nothing of a test harness (Textual's Pilot waits for the CPU to go idle, at least 2 x 20 ms a
key, so it cannot time a 50 ms target).

The next question is recognised by the Annotate tab's info line, "span I/N of text #ID", which
changes with every question (the same text's next span changes I, the next text changes ID).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Sequence
from pathlib import Path

# CSI ... final byte, OSC ... BEL/ST, and two-byte escapes: everything that is not text.
ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-_]")
QUESTION = re.compile(rb"span (\d+)/(\d+) of text #(\d+)")


def plain_text(raw: bytes) -> bytes:
    return ESCAPES.sub(b"", raw)


def cpu_ticks(pid: int, tid: int | None = None) -> int:
    """utime + stime of a process (all threads) or of one of its threads, in clock ticks."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    with open(path, "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class PtyApp:
    """A command on an 80x24 pseudo-terminal; reads its output only when asked to."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        size: tuple[int, int] = (80, 24),
        env: dict[str, str] | None = None,
    ) -> None:
        master, slave = os.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {
            **os.environ,
            "TERM": "xterm-256color",
            "COLUMNS": str(cols),
            "LINES": str(rows),
            **(env or {}),
        }
        env.pop("TEXTUAL", None)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            list(argv), stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True
        )
        os.close(slave)
        self.master = master
        self.out = bytearray()  # everything read since the last `mark()`
        self.total_bytes = 0
        self.read_at = self.started  # when the last chunk was read

    def mark(self) -> None:
        self.out.clear()

    def send(self, keys: bytes) -> float:
        """Write keys to the terminal; returns the time just before the write."""
        t = time.perf_counter()
        os.write(self.master, keys)
        return t

    def read_until(
        self, pattern: re.Pattern[bytes], timeout: float, not_equal: bytes = b""
    ) -> tuple[re.Match[bytes], float]:
        """Read until the text output since `mark()` holds a match of `pattern` whose text
        differs from `not_equal`; returns (match, time the matching bytes were read)."""
        end = time.monotonic() + timeout
        while True:
            for m in pattern.finditer(plain_text(bytes(self.out))):
                if m.group(0) != not_equal:
                    return m, self.read_at
            left = end - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                tail = plain_text(bytes(self.out[-2000:])).decode("utf-8", "replace")
                raise TimeoutError(f"no {pattern.pattern!r} on screen; last output: {tail!r}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if ready:
                try:
                    chunk = os.read(self.master, 1 << 16)
                except OSError:
                    chunk = b""
                self.read_at = time.perf_counter()
                self.out += chunk
                self.total_bytes += len(chunk)

    def drain(self, quiet: float = 0.05) -> None:
        """Read until the app has written nothing for `quiet` seconds."""
        while select.select([self.master], [], [], quiet)[0]:
            try:
                chunk = os.read(self.master, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.total_bytes += len(chunk)

    def stop(self, quit_keys: bytes = b"\x11", timeout: float = 20.0) -> int:
        """Quit the app with its key (ctrl+q) and wait; killed if it does not exit."""
        with contextlib.suppress(OSError):
            os.write(self.master, quit_keys)
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self.drain(0.1)
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)
        return code


def nerloop_command(project: Path, annotator: str, label: str | None) -> list[str]:
    """`nerloop annotate` as installed next to this interpreter (the console script)."""
    import sys

    script = Path(sys.executable).parent / "nerloop"
    argv = [str(script), "annotate", "-p", str(project), "--annotator", annotator]
    return argv + (["--label", label] if label else [])
