"""Keeping credentials out of everything nerloop stores or prints: one registry, one function.

Settings register every secret they hold when they are loaded: the LLM and embeddings API keys,
and the user:password and secret-looking query values (`?api-key=`, `?token=`, ...) of the base
URLs. `redact(text)` masks each of them in every form it could take in a string: as typed, in
base64 (a Basic or echoed header), URL-encoded, and JSON-escaped. Everything that stores or
prints a string that may have met a secret calls it *before* cutting the string short, so that
a secret split by the cut cannot survive half-masked.

`safe_url(url)` is how a URL is shown: without credentials and with secret query values masked.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from urllib.parse import parse_qsl, quote, urlsplit, urlunsplit

MASK = "***"
MIN_SECRET = 8
"""Shorter values are not masked: masking "user" everywhere would garble ordinary text (API
keys are far longer)."""

SECRET_QUERY_KEYS = frozenset(
    {
        "api-key",
        "api_key",
        "apikey",
        "key",
        "token",
        "access_token",
        "auth",
        "password",
        "secret",
        "sig",
        "signature",
        "code",
    }
)
"""Query parameters whose values are credentials (Azure's `api-key`, Google's `key`, ...)."""

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def forms(secret: str) -> set[str]:
    """The spellings of `secret` that can appear in a stored or printed string."""
    out = {secret, quote(secret, safe=""), json.dumps(secret, ensure_ascii=False)[1:-1]}
    out.add(json.dumps(secret)[1:-1])
    raw = secret.encode("utf-8", "surrogatepass")
    for off in range(3):
        # In base64 the secret's characters depend on where its bytes fall in a 3-byte group
        # (a Basic header, an echoed "Authorization: Bearer ..."): keep, for each of the three
        # alignments, the characters made of the secret's bits alone.
        start, end = -(-off * 8 // 6), (off + len(raw)) * 8 // 6
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            out.add(encode(bytes(off) + raw).decode("ascii")[start:end])
    return {f for f in out if len(f) >= MIN_SECRET}


def register(*secrets: str | None) -> None:
    """Mask these values from now on, in this process (empty and very short values are not)."""
    global _pattern
    new = {s.strip() for s in secrets if s and len(s.strip()) >= MIN_SECRET}
    with _lock:
        if new <= _secrets:
            return
        _secrets.update(new)
        spelled = sorted({f for s in _secrets for f in forms(s)}, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(f) for f in spelled))


def register_url(url: str | None) -> None:
    """Register the credentials a URL carries: user:password and secret query values."""
    register(*url_secrets(url or ""))


def url_secrets(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
        # The password, or a user name that stands alone (a token passed as the user name).
        found = [parts.password or parts.username or ""] if "@" in parts.netloc else []
        query = parse_qsl(parts.query, keep_blank_values=True)
    except ValueError:
        return []
    found += [v for k, v in query if k.lower() in SECRET_QUERY_KEYS]
    return [s for s in found if s]


def redact(text: str) -> str:
    """`text` with every registered secret, in every form, replaced by ***."""
    pattern = _pattern
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_short(text: str, limit: int) -> str:
    """Redact, then cut to `limit` characters: never the other way round."""
    return redact(text)[:limit]


def safe_url(url: str) -> str:
    """`url` as it may be shown: no user:password@, secret query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(re.sub(r"//[^/@]*@", "//", url))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = parts.query
    if query:
        pairs = []
        for item in query.split("&"):
            key, eq, _value = item.partition("=")
            secret = eq and key.lower() in SECRET_QUERY_KEYS
            pairs.append(f"{key}={MASK}" if secret else item)
        query = "&".join(pairs)
    return redact(urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)))


def forget_all() -> None:
    """Drop every registered secret (tests: one process runs many projects' settings)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None
