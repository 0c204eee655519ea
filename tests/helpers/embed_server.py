"""A small OpenAI-compatible `/v1/embeddings` server on 127.0.0.1 for tests.

Vectors are deterministic: each lower-cased word adds 1 to the bucket its blake2b hash picks, and
the vectors are deliberately NOT normalised (a scale factor of 3) so tests can check that the
client normalises them. `fail_next` answers the next requests with an HTTP error; `dim_override`
makes the server return vectors of another length.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WORD = re.compile(r"\w+")


def word_vector(text: str, dim: int) -> list[float]:
    vec = [0.0] * dim
    for word in WORD.findall(text.lower()):
        h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
        vec[h % dim] += 3.0
    return vec


class EmbedServer:
    def __init__(self, dim: int = 32) -> None:
        self.dim = dim
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[int] = []
        self.dim_override: int | None = None
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append(
                        {"path": self.path, "body": body, "auth": self.headers.get("Authorization")}
                    )
                    status = server.fail_next.pop(0) if server.fail_next else 200
                if self.path != "/v1/embeddings":
                    self._send(404, {"error": "not found"})
                    return
                if status != 200:
                    self._send(status, {"error": {"message": "injected failure"}})
                    return
                inputs = body.get("input")
                if isinstance(inputs, str):
                    inputs = [inputs]
                if not isinstance(inputs, list) or not body.get("model"):
                    self._send(400, {"error": {"message": "model and input are required"}})
                    return
                dim = server.dim_override or server.dim
                data = [
                    {"object": "embedding", "index": i, "embedding": word_vector(t, dim)}
                    for i, t in enumerate(inputs)
                ]
                # Out of order on purpose: clients must sort by index.
                data.reverse()
                self._send(200, {"object": "list", "model": body["model"], "data": data})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def __enter__(self) -> EmbedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
