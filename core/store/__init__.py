"""The project database: the only code in nerloop that speaks SQL.

`Store` is composed of one mixin per concern (texts, taxonomy, proposals and answers, gold, ...),
all sharing the connection and transaction plumbing of `StoreBase`.
"""

from __future__ import annotations

from nerloop.core.store.abstats import ABStatsMixin
from nerloop.core.store.annotations import AnnotationsMixin
from nerloop.core.store.answered import AnsweredMixin
from nerloop.core.store.base import (
    BUSY_TIMEOUT_MS,
    CorruptDatabaseError,
    ForeignDatabaseError,
    ReadOnlyError,
    SchemaTooNewError,
    StoreBase,
    StoreError,
)
from nerloop.core.store.blind_ab import BlindABMixin
from nerloop.core.store.bulk import BulkLoadMixin
from nerloop.core.store.embeddings import EmbeddingsMixin
from nerloop.core.store.gold import GoldMixin
from nerloop.core.store.ingest import IngestMixin
from nerloop.core.store.llm import LLMMixin
from nerloop.core.store.marks import MarksMixin
from nerloop.core.store.queue import QueueMixin
from nerloop.core.store.runs import PretrainRunsMixin, RunsMixin
from nerloop.core.store.stats import StatsMixin
from nerloop.core.store.taxonomy import TaxonomyMixin
from nerloop.core.store.texts import TextsMixin


class Store(
    BlindABMixin,
    RunsMixin,
    PretrainRunsMixin,
    LLMMixin,
    ABStatsMixin,
    EmbeddingsMixin,
    IngestMixin,
    QueueMixin,
    BulkLoadMixin,
    StatsMixin,
    TextsMixin,
    TaxonomyMixin,
    AnsweredMixin,
    AnnotationsMixin,
    GoldMixin,
    MarksMixin,
    StoreBase,
):
    """A project's SQLite database (WAL, busy timeout, foreign keys), migrated on open."""


__all__ = [
    "BUSY_TIMEOUT_MS",
    "CorruptDatabaseError",
    "ForeignDatabaseError",
    "ReadOnlyError",
    "SchemaTooNewError",
    "Store",
    "StoreError",
]
