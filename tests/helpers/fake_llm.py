"""A real OpenAI-compatible chat-completions server on 127.0.0.1, for tests and benchmarks.

It answers nerloop's prompts (it reads the text and labels back out of the user message with
`nerloop.core.prompts.read_user_message`) from a gold mapping {text: [(label, start, end)]},
with seeded noise, and can be scripted per request with faults: 429 with Retry-After, 500, 400,
401, malformed or truncated JSON, a body that is not JSON, a hang past the client's timeout, or
a connection closed without an answer. It counts requests and the most it had in flight.

It also serves `/v1/embeddings` (OpenAI's form; vectors from `embed_server.word_vector`), with
its own delay, and counts the chat requests that arrive while an embeddings request is being
answered: a client that blocks its event loop on embeddings sends none in that time.

Not shipped with nerloop: tests and benchmarks import it as `tests.helpers.fake_llm` (from the
repository root). Run it alone with `python -m tests.helpers.fake_llm --help`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from nerloop.core.prompts import read_user_message
from tests.helpers.embed_server import word_vector

GoldSpan = tuple[str, int, int]
"""(label, char start, char end)"""

FAULTS = (
    "429",
    "500",
    "503",
    "400",
    "401",
    "malformed",
    "truncated",
    "bad_body",
    "timeout",
    "close",
    "401_echo",
    # Hostile servers (issue 16): each must end as a counted error or a clean answer, never a
    # hang, a traceback or a stored key.
    "huge",
    "nested",
    "nested_content",
    "drip",
    "echo_auth",
    "500_echo_long",
    "bad_usage",
    "escape_error",
)
HOSTILE = FAULTS[FAULTS.index("huge") :]
EMBED_FAULTS = ("401_echo", "500_echo_long", "500")
BAD_USAGE_VALUES: tuple[Any, ...] = ("12", [1, 2], -5, 1e309, 3.5, True, None, {"n": 1})

HALLUCINATIONS = ("zorblax prime", "Quentin Marmalade", "the year 3011", "Glorbo")


@dataclass
class Noise:
    """How the fake LLM departs from the gold answer; every draw is seeded by (seed, text,
    labels), so answers do not depend on the order requests arrive in."""

    recall: float = 1.0
    """Probability that a gold span is in the answer."""
    invented_per_text: float = 0.0
    """Expected number of wrong spans per answer taken from the text itself (they align, and an
    annotator would reject them)."""
    hallucinated_per_text: float = 0.0
    """Expected number of strings per answer that are not in the text at all."""
    case: float = 0.0
    """Probability that a span's case is changed."""
    whitespace: float = 0.0
    """Probability that a span's spaces are doubled or it gets stray spaces around it."""
    partial: float = 0.0
    """Probability that a span loses the last characters of its last word."""
    extra_words: float = 0.0
    """Probability that a span takes a neighbouring word with it."""
    seed: int = 0
    profile: Any = None
    """A tests/helpers/llm_profiles.py Profile: when set, it decides the answer, not the fields
    above."""


@dataclass
class Fault:
    """One scripted answer instead of the normal one."""

    kind: str
    retry_after: str | None = None
    hang: float = 5.0
    """For `timeout`: seconds to sleep before answering (more than the client's timeout)."""

    def __post_init__(self) -> None:
        if self.kind not in FAULTS:
            raise ValueError(f"unknown fault {self.kind!r}; one of {', '.join(FAULTS)}")


Responder = Callable[[str, list[str], str], list[dict[str, str]]]
"""(text, labels, mode) -> the spans to answer, as dicts with text, context (and label)."""


@dataclass
class Stats:
    chat_requests: int = 0
    model_requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    faults_served: list[str] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    embedding_inputs: list[list[str]] = field(default_factory=list)
    """The texts of each embeddings request, in arrival order."""
    embeddings_in_flight: int = 0
    chats_during_embeddings: int = 0
    """Chat requests that arrived while an embeddings request was being answered."""
    max_in_flight_during_embeddings: int = 0
    """The most chat requests in flight when one of those arrived."""


def load_gold_jsonl(path: Path, limit: int | None = None) -> dict[str, list[GoldSpan]]:
    """{text: [(label, start, end)]} from a `{"text", "spans": [{start, end, label}]}` file."""
    gold: dict[str, list[GoldSpan]] = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if limit is not None and len(gold) >= limit:
                break
            if not line.strip():
                continue
            rec = json.loads(line)
            gold[rec["text"]] = [(s["label"], s["start"], s["end"]) for s in rec.get("spans", [])]
    return gold


def _context(text: str, start: int, end: int, words: int = 3) -> str:
    before = text[:start].split()[-words:]
    after = text[end:].split()[:words]
    return " ".join([*before, text[start:end], *after])


def _word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


class FakeLLM:
    """The server. Use as a context manager; `url` is the base URL (ending in /v1)."""

    def __init__(
        self,
        gold: Mapping[str, Sequence[GoldSpan]] | None = None,
        *,
        noise: Noise | None = None,
        latency: float = 0.0,
        reject_json_schema: bool = False,
        reject_json_object: bool = False,
        wrap: str = "plain",
        responder: Responder | None = None,
        faults: Iterable[Fault | str] = (),
        record_bodies: bool = True,
        model: str = "fake-model",
        embed_latency: float = 0.0,
        embed_dim: int = 32,
    ) -> None:
        self.gold = dict(gold or {})
        self.noise = noise or Noise()
        self.latency = latency
        self.reject_json_schema = reject_json_schema
        self.reject_json_object = reject_json_object
        self.wrap = wrap
        """How the JSON is written: plain, fenced (```json), prose (text around it),
        trailing_comma."""
        self.responder = responder
        self.faults: deque[Fault] = deque()
        self.add_faults(*faults)
        self.fault_every = 0
        """Serve a fault from `fault_cycle` every N-th chat request once the queue is empty."""
        self.fault_cycle: list[Fault] = []
        self.embed_faults: deque[str] = deque()
        """Faults for the next embeddings requests, in order (one of EMBED_FAULTS)."""
        self.record_bodies = record_bodies
        self.model = model
        self.embed_latency = embed_latency
        """Seconds each embeddings request takes (settable while the server runs)."""
        self.embed_dim = embed_dim
        self.stats = Stats()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._connections: set[socket.socket] = set()
        self._thread: threading.Thread | None = None

    # -- scripting -----------------------------------------------------------------------------

    def add_faults(self, *faults: Fault | str) -> None:
        """Queue faults: each of the next chat requests gets one, in order."""
        for f in faults:
            self.faults.append(f if isinstance(f, Fault) else Fault(f))

    @property
    def requests(self) -> int:
        return self.stats.chat_requests

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def start(self, port: int = 0) -> FakeLLM:
        handler = _make_handler(self)
        server = _QuietServer(("127.0.0.1", port), handler, bind_and_activate=False)
        server.daemon_threads = True
        server.block_on_close = False
        server.request_queue_size = 256
        server.allow_reuse_address = True
        server.server_bind()
        server.server_activate()
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection (keep-alive ones too), as a server
        that goes away would."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            open_now = list(self._connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> FakeLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- answers -------------------------------------------------------------------------------

    def answer_spans(self, text: str, labels: list[str], mode: str) -> list[dict[str, str]]:
        """The spans the fake LLM gives for a text: gold for `labels`, with the noise."""
        if self.responder is not None:
            return self.responder(text, labels, mode)
        n = self.noise
        if n.profile is not None:
            found = n.profile.spans(text, self.gold.get(text, []), labels)
            return [self._item(lb, text[s:e], _context(text, s, e), mode) for lb, s, e in found]
        rng = random.Random(f"{n.seed}|{text}|{','.join(labels)}")
        wanted = set(labels)
        out: list[dict[str, str]] = []
        gold = [g for g in self.gold.get(text, []) if g[0] in wanted]
        for label, start, end in gold:
            if rng.random() >= n.recall:
                continue
            s, e = start, end
            words = _word_spans(text)
            if n.extra_words and rng.random() < n.extra_words:
                after = [w for w in words if w[0] >= e]
                before = [w for w in words if w[1] <= s]
                if after and (not before or rng.random() < 0.5):
                    e = after[0][1]
                elif before:
                    s = before[-1][0]
            surface = text[s:e]
            if n.partial and rng.random() < n.partial and len(surface) > 4:
                surface = surface[: -rng.randint(1, min(3, len(surface) - 3))]
            if n.case and rng.random() < n.case:
                surface = rng.choice([surface.upper(), surface.lower(), surface.title()])
            if n.whitespace and rng.random() < n.whitespace:
                surface = rng.choice([surface.replace(" ", "  "), f" {surface} "])
            out.append(self._item(label, surface, _context(text, s, e), mode))
        for _ in range(_count(rng, n.invented_per_text)):
            words = _word_spans(text)
            if not words:
                break
            taken = [(s, e) for _, s, e in gold]
            free = [w for w in words if not any(w[0] < e and s < w[1] for s, e in taken)]
            if not free:
                break
            s, e = rng.choice(free)
            out.append(self._item(rng.choice(labels), text[s:e], _context(text, s, e), mode))
        for _ in range(_count(rng, n.hallucinated_per_text)):
            fake = rng.choice(HALLUCINATIONS)
            out.append(self._item(rng.choice(labels), fake, f"about {fake} here", mode))
        return out

    @staticmethod
    def _item(label: str, surface: str, context: str, mode: str) -> dict[str, str]:
        item = {"text": surface, "context": context}
        return {"label": label, **item} if mode == "batch" else item

    def content_for(self, body: dict[str, Any]) -> str:
        messages = body.get("messages") or []
        user = next((m for m in reversed(messages) if m.get("role") == "user"), None)
        parsed = read_user_message(str(user.get("content", ""))) if user else None
        spans = self.answer_spans(*parsed) if parsed else []
        doc = json.dumps({"spans": spans}, ensure_ascii=False)
        if self.wrap == "fenced":
            return f"Here you are:\n```json\n{doc}\n```"
        if self.wrap == "prose":
            return f"The entities are {doc} -- hope that helps!"
        if self.wrap == "trailing_comma" and spans:
            return doc[:-2] + ",]}"
        return doc


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Dropped connections are part of the script; their tracebacks are noise.
        pass


def _count(rng: random.Random, expected: float) -> int:
    """A draw with mean `expected`: the integer part, plus one with the fractional part's
    probability."""
    whole = int(expected)
    return whole + (1 if rng.random() < expected - whole else 0)


def _make_handler(fake: FakeLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body leave in one write: with two small writes, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every answer on a keep-alive connection.
        disable_nagle_algorithm = True
        wbufsize = 1 << 16

        def setup(self) -> None:
            super().setup()
            with fake._lock:
                fake._connections.add(self.connection)

        def finish(self) -> None:
            with fake._lock:
                fake._connections.discard(self.connection)
            with contextlib.suppress(OSError):
                super().finish()

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, payload: Any, headers: Mapping[str, str] = {}) -> None:
            raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                with fake._lock:
                    fake.stats.model_requests += 1
                self._send(200, {"object": "list", "data": [{"id": fake.model}]})
            else:
                self._send(404, {"error": {"message": "not found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.path.rstrip("/").endswith("/embeddings"):
                self._embeddings(raw)
                return
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found"}})
                return
            with fake._lock:
                st = fake.stats
                st.chat_requests += 1
                st.in_flight += 1
                st.max_in_flight = max(st.max_in_flight, st.in_flight)
                if st.embeddings_in_flight:
                    st.chats_during_embeddings += 1
                    st.max_in_flight_during_embeddings = max(
                        st.max_in_flight_during_embeddings, st.in_flight
                    )
                fault = fake.faults.popleft() if fake.faults else None
                every = fake.fault_every
                if fault is None and every and fake.fault_cycle and st.chat_requests % every == 0:
                    n = st.chat_requests // every
                    fault = fake.fault_cycle[n % len(fake.fault_cycle)]
                if fault is not None:
                    fake.stats.faults_served.append(fault.kind)
                fake.stats.auth_headers.append(self.headers.get("Authorization") or "")
            try:
                self._chat(raw, fault)
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                with fake._lock:
                    fake.stats.in_flight -= 1

        def _echo_long(self, status: int) -> None:
            # The credentials start just before character 200 of the message, where a
            # client that cuts before it masks would keep half of the key.
            auth = self.headers.get("Authorization") or ""
            pad = "x" * (200 - len("Bearer ") - 8)
            self._send(status, {"error": {"message": f"{pad}{auth} was refused"}})

        def _embeddings(self, raw: bytes) -> None:
            with fake._lock:
                fault = fake.embed_faults.popleft() if fake.embed_faults else None
            if fault == "401_echo":
                auth = self.headers.get("Authorization") or ""
                self._send(401, {"error": {"message": f"invalid api key: {auth}"}})
                return
            if fault == "500_echo_long":
                self._echo_long(500)
                return
            if fault == "500":
                self._send(500, {"error": {"message": "server error"}})
                return
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            inputs = body.get("input")
            texts = [inputs] if isinstance(inputs, str) else inputs
            if not isinstance(texts, list) or not body.get("model"):
                self._send(400, {"error": {"message": "model and input are required"}})
                return
            with fake._lock:
                fake.stats.embedding_inputs.append([str(t) for t in texts])
                fake.stats.embeddings_in_flight += 1
            try:
                if fake.embed_latency:
                    time.sleep(fake.embed_latency)
                data = [
                    {"object": "embedding", "index": i, "embedding": word_vector(t, fake.embed_dim)}
                    for i, t in enumerate(texts)
                ]
            finally:
                with fake._lock:
                    fake.stats.embeddings_in_flight -= 1
            self._send(200, {"object": "list", "model": body["model"], "data": data})

        def _chat(self, raw: bytes, fault: Fault | None) -> None:
            try:
                body = json.loads(raw)
            except ValueError:
                self._send(400, {"error": {"message": "body is not JSON"}})
                return
            if fake.record_bodies:
                with fake._lock:
                    fake.stats.bodies.append(body)
            if fake.latency:
                time.sleep(fake.latency)
            fmt = (body.get("response_format") or {}).get("type")
            if fault is not None and self._fault(fault):
                return
            if (fmt == "json_schema" and fake.reject_json_schema) or (
                fmt == "json_object" and fake.reject_json_object
            ):
                self._send(
                    400,
                    {
                        "error": {
                            "message": f"response_format type {fmt} is not supported",
                            "type": "invalid_request_error",
                        }
                    },
                )
                return
            content = fake.content_for(body)
            kind = fault.kind if fault is not None else None
            if kind == "malformed":
                content = "I found these: PRICE is probably the first number."
            elif kind == "truncated":
                content = content[: max(1, len(content) * 2 // 3)]
            elif kind == "huge":
                # A runaway generation: valid JSON padded past any answer nerloop reads.
                content = content + " " * (600 * 1024)
            elif kind == "nested_content":
                content = "[" * 120_000 + "]" * 120_000
            elif kind == "echo_auth":
                auth = self.headers.get("Authorization") or ""
                content = json.dumps({"spans": [], "note": f"you sent {auth}"})
            prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
            usage: dict[str, Any] = {
                "prompt_tokens": prompt_chars // 4 + 1,
                "completion_tokens": len(content) // 4 + 1,
                "total_tokens": prompt_chars // 4 + len(content) // 4 + 2,
            }
            if kind == "bad_usage":
                pick = fake.stats.chat_requests % len(BAD_USAGE_VALUES)
                usage = {
                    "prompt_tokens": BAD_USAGE_VALUES[pick],
                    "completion_tokens": BAD_USAGE_VALUES[-1 - pick],
                }
            answer = {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", fake.model),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "length"
                        if fault is not None and fault.kind == "truncated"
                        else "stop",
                    }
                ],
                "usage": usage,
            }
            if kind == "nested":
                # The envelope itself nested past Python's recursion limit.
                self._send(200, b'{"choices": ' + b"[" * 120_000 + b"]" * 120_000 + b"}")
                return
            if kind == "drip":
                self._drip(json.dumps(answer, allow_nan=True).encode(), fault)
                return
            self._send(200, json.dumps(answer, allow_nan=True).encode())

        def _drip(self, raw: bytes, fault: Fault | None) -> None:
            """Headers at once, then the body a byte at a time, `hang` seconds in all."""
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.flush()
            step = (fault.hang if fault else 5.0) / max(1, len(raw))
            for i in range(len(raw)):
                self.wfile.write(raw[i : i + 1])
                self.wfile.flush()
                time.sleep(step)

        def _fault(self, fault: Fault) -> bool:
            """Serve a fault that replaces the answer; False for faults that alter it."""
            kind = fault.kind
            if kind == "429":
                headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
                self._send(429, {"error": {"message": "rate limited"}}, headers)
            elif kind in ("500", "503"):
                self._send(int(kind), {"error": {"message": "server error"}})
            elif kind == "400":
                self._send(400, {"error": {"message": "bad request: model not found"}})
            elif kind == "401":
                self._send(401, {"error": {"message": "invalid api key"}})
            elif kind == "401_echo":
                # Some proxies quote the credentials they refused.
                auth = self.headers.get("Authorization") or ""
                self._send(401, {"error": {"message": f"invalid api key: {auth}"}})
            elif kind == "500_echo_long":
                self._echo_long(500)
            elif kind == "escape_error":
                # OSC 52 (write the clipboard), a screen clear and a bell, as a hostile proxy
                # might send them.
                evil = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x9b31m bad gateway"
                self._send(502, {"error": {"message": evil}})
            elif kind == "bad_body":
                self._send(200, b"<html>proxy error</html>")
            elif kind == "timeout":
                time.sleep(fault.hang)
                self._send(504, {"error": {"message": "too late"}})
            elif kind == "close":
                self.close_connection = True
                self.wfile.flush()
                self.connection.shutdown(2)
            else:
                return False
            return True

    return Handler


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake OpenAI-compatible LLM server.")
    parser.add_argument("--gold", type=Path, help="JSONL with text and spans (start, end, label)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--recall", type=float, default=1.0)
    parser.add_argument("--invented", type=float, default=0.0, help="wrong spans per answer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--profile",
        choices=("strong", "realistic"),
        default="strong",
        help="realistic: tests/helpers/llm_profiles.py (per-label recall, sticky misses, boundary "
        "errors, confusions); strong: --recall and --invented",
    )
    parser.add_argument(
        "--faults",
        default="",
        help="comma-separated faults served to the first chat requests, in order: "
        + ", ".join(FAULTS),
    )
    parser.add_argument(
        "--fault-every",
        type=int,
        default=0,
        help="after the scripted ones, serve the --faults list again every N-th request (0: never)",
    )
    parser.add_argument(
        "--embed-faults",
        default="",
        help=f"comma-separated faults for the first embeddings requests: {', '.join(EMBED_FAULTS)}",
    )
    parser.add_argument(
        "--hang", type=float, default=5.0, help="seconds of a timeout or drip fault"
    )
    args = parser.parse_args(argv)
    faults = [f for f in args.faults.split(",") if f]
    embed_faults = [f for f in args.embed_faults.split(",") if f]
    for f in faults:
        if f not in FAULTS:
            parser.error(f"unknown fault {f!r}; one of {', '.join(FAULTS)}")
    for f in embed_faults:
        if f not in EMBED_FAULTS:
            parser.error(f"unknown embeddings fault {f!r}; one of {', '.join(EMBED_FAULTS)}")
    gold = load_gold_jsonl(args.gold) if args.gold else {}
    noise = Noise(recall=args.recall, invented_per_text=args.invented, seed=args.seed)
    if args.profile == "realistic":
        from tests.helpers.llm_profiles import realistic

        labels = sorted({g[0] for spans in gold.values() for g in spans})
        noise = Noise(seed=args.seed, profile=realistic(args.seed, labels))
    fake = FakeLLM(gold, noise=noise, latency=args.latency, record_bodies=False)
    fake.add_faults(*(Fault(f, hang=args.hang) for f in faults))
    fake.fault_every = args.fault_every
    fake.fault_cycle = [Fault(f, hang=args.hang) for f in faults]
    fake.embed_faults.extend(embed_faults)
    fake.start(args.port)
    print(f"READY {fake.url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    main()
