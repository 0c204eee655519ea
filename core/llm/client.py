"""An asynchronous client for OpenAI-compatible chat-completions endpoints.

Works with OpenAI, Ollama's /v1, vLLM, llama.cpp's server and LM Studio. It bounds the requests
in flight, spaces them to a requests-per-minute limit, retries what is worth retrying (connect
errors, timeouts, dropped connections, 429, 5xx) with exponential backoff and jitter, honours
Retry-After, and asks for JSON: `response_format` json_schema first, json_object when the server
rejects that, and no response_format at all (the tolerant parser reads the answer) when it
rejects both.

Every error message is composed here from parts that cannot hold the API key (status, URL
without credentials, the server's error text with the key masked): httpx exceptions are never
passed through as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from nerloop.core import secrets
from nerloop.core.config import Settings
from nerloop.core.display import safe_text
from nerloop.core.secrets import redact_short, safe_url

JsonMode = Literal["json_schema", "json_object", "none"]
_DOWNGRADE: dict[JsonMode, JsonMode] = {"json_schema": "json_object", "json_object": "none"}

Sleep = Callable[[float], Awaitable[None]]


class LLMError(Exception):
    """A request that failed for good (after any retries). The message is safe to show."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int = 1,
        waits: list[float] | None = None,
        status: int | None = None,
        latency_ms: float = 0.0,
    ) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.waits = waits or []
        self.status = status
        self.latency_ms = latency_ms


class LLMUnreachableError(LLMError):
    """Nothing answers at the base URL: the whole job should stop, not just this request."""


@dataclass(slots=True)
class ChatResult:
    content: str
    tokens_in: int
    tokens_out: int
    latency_ms: float
    attempts: int
    waits: list[float] = field(default_factory=list)
    json_mode: JsonMode = "json_schema"
    finish_reason: str | None = None


def tls_context(base_url: str) -> ssl.SSLContext:
    """The TLS context to give every httpx client of `base_url`: made once, since httpx builds
    one per client otherwise, which is slow (it loads the CA bundle). A plain-http endpoint
    never does TLS (redirects are not followed, so a request cannot move to https): it gets a
    cheap context never used."""
    if base_url.lower().startswith("https:"):
        return httpx.create_ssl_context()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class RateLimiter:
    """Spaces request starts evenly to at most `per_minute` a minute (0: no limit)."""

    def __init__(self, per_minute: float, sleep: Sleep) -> None:
        self.interval = 60.0 / per_minute if per_minute > 0 else 0.0
        self._next = 0.0
        self._sleep = sleep
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        if self.interval <= 0:
            return 0.0
        async with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        delay = start - now
        if delay > 0:
            await self._sleep(delay)
        return delay


class LLMClient:
    """One client per event loop; use `async with LLMClient(settings) as client:`."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_retry_after: float = 300.0,
    ) -> None:
        self.base_url = settings.llm_base_url.rstrip("/")
        self.model = settings.llm_model
        self.temperature = settings.llm_temperature
        self.max_tokens = settings.llm_max_tokens
        self.max_retries = settings.llm_max_retries
        self.concurrency = settings.llm_concurrency
        self.json_mode: JsonMode = "json_schema"
        # Stripped: a key read from a file often ends in a newline, which no header may hold.
        self._key = settings.llm_api_key.get_secret_value().strip() if settings.llm_api_key else ""
        secrets.register(self._key)
        secrets.register_url(self.base_url)
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._max_retry_after = max_retry_after
        self._rate = RateLimiter(settings.llm_requests_per_minute, sleep)
        # Parsed once: httpx would parse the string again for every request.
        self._chat_url: httpx.URL | None
        try:
            self._chat_url = httpx.URL(f"{self.base_url}/chat/completions")
            # httpx keeps a port over 65535; the socket would raise at the first request.
            if not 0 <= (self._chat_url.port or 0) <= 65535:
                self._chat_url = None
        except (httpx.InvalidURL, ValueError, TypeError):
            self._chat_url = None
        self._headers = {"Authorization": f"Bearer {self._key}"} if self._key else {}
        self._timeout = httpx.Timeout(settings.llm_timeout)
        self._deadline = settings.llm_timeout
        self._transport = transport
        # One TLS context for every lane: building one per httpx client reloads the CA bundle.
        self._verify = tls_context(self.base_url)
        # One lane a request in flight, each an httpx client with a single connection. The
        # lanes bound concurrency (a request waits for a free lane), and they keep httpcore's
        # pool small: one pool shared by N requests rescans all its connections for every
        # request event, which at 16 in flight cost more CPU than the rest of a call.
        self._lanes: asyncio.Queue[httpx.AsyncClient | None] = asyncio.Queue()
        for _ in range(settings.llm_concurrency):
            self._lanes.put_nowait(None)
        self._open: list[httpx.AsyncClient] = []

    def _new_lane(self) -> httpx.AsyncClient:
        lane = httpx.AsyncClient(
            headers=self._headers,
            timeout=self._timeout,
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            transport=self._transport,
            verify=self._verify,
        )
        self._open.append(lane)
        return lane

    @contextlib.asynccontextmanager
    async def _lane(self) -> AsyncIterator[httpx.AsyncClient]:
        lane = await self._lanes.get()
        if lane is None:
            lane = self._new_lane()
        try:
            yield lane
        finally:
            self._lanes.put_nowait(lane)

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for lane in self._open:
            await lane.aclose()
        self._open.clear()

    @property
    def where(self) -> str:
        return safe_url(self.base_url)

    def unreachable(self, reason: str, **kw: Any) -> LLMUnreachableError:
        return LLMUnreachableError(
            f"cannot reach the LLM at {self.where} ({reason}); "
            "set NERLOOP_LLM_BASE_URL or start the server",
            **kw,
        )

    async def check(self) -> None:
        """Raise LLMUnreachableError when nothing listens at the base URL.

        Any HTTP answer (even a 404 from a server without /models) counts as reachable.
        """
        if self._chat_url is None:
            raise self.unreachable("not a valid URL")
        try:
            async with self._lane() as http:
                await http.get(f"{self.base_url}/models", timeout=10.0)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
            raise self.unreachable(_connect_reason(exc)) from None
        except httpx.HTTPError:
            return

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _body(self, messages: list[dict[str, str]], schema: dict[str, Any] | None) -> dict:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
        }
        if schema is not None and self.json_mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "spans", "strict": True, "schema": schema},
            }
        elif schema is not None and self.json_mode == "json_object":
            body["response_format"] = {"type": "json_object"}
        return body

    async def chat(
        self, messages: list[dict[str, str]], schema: dict[str, Any] | None = None
    ) -> ChatResult:
        """One chat completion: the answer's content, token counts, latency and attempts."""
        url = self._chat_url
        if url is None:
            raise self.unreachable("not a valid URL")
        attempts = 0
        waits: list[float] = []
        started = time.perf_counter()

        def elapsed() -> float:
            return (time.perf_counter() - started) * 1000

        while True:
            attempts += 1
            mode = self.json_mode
            body = self._body(messages, schema)
            await self._rate.wait()
            failure: str
            retry_after: float | None = None
            connect_failed = False
            async with self._lane() as http:
                try:
                    # llm_timeout bounds the whole request, not only each read: a server that
                    # drips a byte at a time would otherwise hold a lane for ever.
                    async with asyncio.timeout(self._deadline):
                        resp = await self._post(http, url, body)
                except AnswerTooLargeError as exc:
                    raise LLMError(
                        f"the LLM at {self.where} sent an answer over {exc.limit:,} bytes",
                        attempts=attempts,
                        waits=waits,
                        latency_ms=elapsed(),
                    ) from None
                except TimeoutError:
                    failure, resp = "timed out", None
                except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                    failure, connect_failed = _connect_reason(exc), True
                    resp = None
                except httpx.UnsupportedProtocol:
                    raise self.unreachable(
                        "not an http(s) URL", attempts=attempts, waits=waits
                    ) from None
                except httpx.TimeoutException:
                    failure, resp = "timed out", None
                except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
                    failure, resp = "the connection was closed", None
                except httpx.HTTPError as exc:
                    failure, resp = type(exc).__name__, None
            if resp is not None:
                if resp.status_code == 200:
                    return self._result(resp, attempts, waits, elapsed(), mode)
                detail = _error_detail(resp)
                if resp.status_code == 400 and mode in _DOWNGRADE and _rejects_format(detail):
                    # The server does not do this JSON mode: step down (once per client, since
                    # every later request would fail the same way) and ask again at once.
                    if self.json_mode == mode:
                        self.json_mode = _DOWNGRADE[mode]
                    attempts -= 1
                    continue
                failure = f"HTTP {resp.status_code}" + (f": {detail}" if detail else "")
                if resp.status_code != 429 and resp.status_code < 500:
                    raise LLMError(
                        f"the LLM at {self.where} refused the request ({failure})",
                        attempts=attempts,
                        waits=waits,
                        status=resp.status_code,
                        latency_ms=elapsed(),
                    )
                retry_after = retry_after_seconds(resp.headers.get("retry-after"))
            if attempts > self.max_retries:
                kw: dict[str, Any] = {"attempts": attempts, "waits": waits, "latency_ms": elapsed()}
                if connect_failed:
                    raise self.unreachable(failure, **kw)
                status = resp.status_code if resp is not None else None
                raise LLMError(
                    f"the LLM at {self.where} failed after {attempts} attempts ({failure})",
                    status=status,
                    **kw,
                )
            if retry_after is not None:
                wait = min(retry_after, self._max_retry_after)
            else:
                wait = self._backoff(attempts)
            waits.append(wait)
            await self._sleep(wait)

    async def _post(
        self, http: httpx.AsyncClient, url: httpx.URL, body: dict[str, Any]
    ) -> httpx.Response:
        """POST `body`, reading at most MAX_RESPONSE_BYTES of the answer."""
        async with http.stream("POST", url, json=body) as resp:
            data = bytearray()
            async for chunk in resp.aiter_bytes():
                data += chunk
                if len(data) > MAX_RESPONSE_BYTES:
                    raise AnswerTooLargeError(MAX_RESPONSE_BYTES)
        # The bytes are decoded already: the new response must not decode them again.
        headers = [
            (k, v)
            for k, v in resp.headers.multi_items()
            if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            resp.status_code, headers=headers, content=bytes(data), request=resp.request
        )

    def _result(
        self, resp: httpx.Response, attempts: int, waits: list[float], ms: float, mode: JsonMode
    ) -> ChatResult:
        try:
            data = resp.json()
            choice = data["choices"][0]
            content = choice["message"]["content"]
            if not isinstance(content, str):
                raise TypeError("content is not a string")
        except (ValueError, KeyError, IndexError, TypeError, RecursionError) as exc:
            raise LLMError(
                f"the LLM at {self.where} sent a response that is not a chat completion "
                f"({type(exc).__name__})",
                attempts=attempts,
                waits=waits,
                status=resp.status_code,
                latency_ms=ms,
            ) from None
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        return ChatResult(
            content=content,
            tokens_in=_token_count(usage.get("prompt_tokens")),
            tokens_out=_token_count(usage.get("completion_tokens")),
            latency_ms=ms,
            attempts=attempts,
            waits=waits,
            json_mode=mode,
            finish_reason=choice.get("finish_reason"),
        )


MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""Most bytes of one HTTP answer read: far above any chat completion nerloop asks for, far
below what would strain memory when many requests are in flight."""


class AnswerTooLargeError(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.limit = limit


MAX_TOKEN_COUNT = 10_000_000
"""More tokens than any one answer can have: a count above it is a server's mistake."""


def _token_count(value: object) -> int:
    """A `usage` count as the server sent it, or 0 when it is not a plausible count (a string,
    a list, a negative number, inf or NaN, a float, an absurd size): the ledger's totals must
    stay true, and one bad answer must not stop a job."""
    if isinstance(value, bool) or not isinstance(value, int):
        return 0
    return value if 0 <= value <= MAX_TOKEN_COUNT else 0


def _connect_reason(exc: BaseException) -> str:
    """A short reason from the exception chain (anyio hides the refusal a level or two down)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.ConnectTimeout | TimeoutError):
            return "connection timed out"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "unknown host"
        if isinstance(seen, httpx.UnsupportedProtocol):
            return "not an http(s) URL"
        seen = seen.__cause__ or seen.__context__
    return "cannot connect"


def _error_detail(resp: httpx.Response) -> str:
    """The server's own error message, short: OpenAI-style {"error": {"message"}} or text;
    secrets masked before it is cut short, and control characters made visible."""
    try:
        data = resp.json()
    except (ValueError, RecursionError):
        return safe_text(redact_short(resp.text.strip(), 200))
    msg: object = ""
    if isinstance(data, dict):
        err = data.get("error", data)
        msg = (err.get("message") or err.get("detail") or "") if isinstance(err, dict) else err
    return safe_text(redact_short(str(msg), 200))


def _rejects_format(detail: str) -> bool:
    d = detail.lower()
    return "response_format" in d or "json_schema" in d or "json_object" in d
