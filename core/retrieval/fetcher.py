"""Vectors fetched from an embeddings endpoint for the prompts of one event loop, batched."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

from nerloop.core.embed import HttpEmbedder
from nerloop.core.store import Store


class VectorFetcher:
    """Vectors that the prompts on one event loop wait for, fetched in batched requests: the
    texts asked for in one turn of the loop, or while a request is out, go in the next one."""

    def __init__(self, embedder: HttpEmbedder, store_of: Callable[[], Store]) -> None:
        self.embedder = embedder
        self.store_of = store_of
        self.loop = asyncio.get_running_loop()
        self._queued: dict[int, str] = {}
        self._waiting: dict[int, asyncio.Future[None]] = {}
        self._sender: asyncio.Task[None] | None = None

    async def fetch(self, texts: dict[int, str]) -> None:
        """Return once every text of `texts` (id -> text) has its vector stored; raises what
        the embedder raised (EmbedError) for the request that carried one of them."""
        futures = []
        for text_id, text in texts.items():
            future = self._waiting.get(text_id)
            if future is None:
                future = self._waiting[text_id] = self.loop.create_future()
                self._queued[text_id] = text
            futures.append(future)
        if self._sender is None:
            self._sender = self.loop.create_task(self._send())
        await asyncio.gather(*futures)

    async def _send(self) -> None:
        try:
            # One turn of the loop first, so the other prompts started in this turn queue
            # their texts too and share the request.
            await asyncio.sleep(0)
            while self._queued:
                ids = list(itertools.islice(self._queued, self.embedder.batch_size))
                texts = [self._queued.pop(t) for t in ids]
                error: Exception | None = None
                try:
                    vectors = await self.embedder.aembed(texts)
                    self.store_of().save_embeddings(self.embedder.name, ids, vectors)
                except Exception as exc:  # raised in each prompt that waits for these
                    error = exc
                for text_id in ids:
                    future = self._waiting.pop(text_id)
                    if future.done():
                        continue
                    if error is None:
                        future.set_result(None)
                    else:
                        future.set_exception(error)
        finally:
            self._sender = None
            # Cancelled (the job stops): nobody may wait for a request that is never sent.
            for future in self._waiting.values():
                future.cancel()
            self._waiting.clear()
            self._queued.clear()
