"""Which embedder retrieval uses, and embedding the texts that have no vector yet."""

from __future__ import annotations

from collections.abc import Callable

from nerloop.core.config import Settings
from nerloop.core.embed import Embedder, HashingEmbedder, HttpEmbedder
from nerloop.core.records import StoredText
from nerloop.core.store import Store


def local_embedder(dim: int = 128) -> HashingEmbedder:
    """The embedder used when no endpoint is configured: hashed n-grams (core/embed.py)."""
    return HashingEmbedder(dim)


def embedder_from_settings(settings: Settings) -> Embedder:
    """The configured `/v1/embeddings` endpoint, or the local fallback when none is set."""
    if settings.embed_base_url and settings.embed_model:
        key = settings.embed_api_key or settings.llm_api_key
        return HttpEmbedder(
            settings.embed_base_url,
            settings.embed_model,
            api_key=key.get_secret_value() if key else None,
            timeout=settings.llm_timeout,
            max_retries=settings.llm_max_retries,
        )
    return local_embedder(settings.embed_dim)


def embed_missing(
    store: Store,
    embedder: Embedder,
    *,
    batch: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> int:
    """Embed every text that has no vector of `embedder` yet; returns how many were embedded.

    `progress(done, total)` is called after each batch. Each batch is committed on its own, so
    an interrupted run keeps what it did and the next run carries on.
    """
    total = store.count_texts_without_embedding(embedder.name)
    done = 0
    if progress:
        progress(0, total)
    pending: list[StoredText] = []

    def flush() -> None:
        nonlocal done
        vectors = embedder.embed([t.text for t in pending])
        store.save_embeddings(embedder.name, [t.id for t in pending], vectors)
        done += len(pending)
        pending.clear()
        if progress:
            progress(done, total)

    # Pages are read whole and by id (core/store/embeddings.py), so writing vectors between
    # pages neither disturbs the paging nor holds a read open across a write.
    for text in store.iter_texts_without_embedding(embedder.name, batch=batch):
        pending.append(text)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return done
