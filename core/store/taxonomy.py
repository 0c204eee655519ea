"""Taxonomy versions: every change to the label set is stored as a new version."""

from __future__ import annotations

import json
from typing import Any

from nerloop.core.store.base import StoreBase, dumps
from nerloop.core.taxonomy import Label, Taxonomy


class TaxonomyMixin(StoreBase):
    def sync_taxonomy(self, taxonomy: Taxonomy, source: str) -> int:
        """Record `taxonomy` as a new version unless it equals the latest; returns the version."""
        digest = taxonomy.content_hash()
        with self.write():
            row = self.db.conn.execute(
                "SELECT version, content_hash FROM taxonomy_versions ORDER BY version DESC LIMIT 1"
            ).fetchone()
            if row is not None and row[1] == digest:
                return int(row[0])
            version = 1 if row is None else int(row[0]) + 1
            self.db.conn.execute(
                "INSERT INTO taxonomy_versions (version, content_hash, source) VALUES (?, ?, ?)",
                (version, digest, source),
            )
            for position, label in enumerate(taxonomy.labels):
                self.db.conn.execute(
                    "INSERT INTO labels (version, position, name, description, kind, terms,"
                    " patterns, examples) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        version,
                        position,
                        label.name,
                        label.description,
                        label.kind,
                        dumps(list(label.terms)),
                        dumps([list(p) for p in label.patterns]),
                        dumps(list(label.examples)),
                    ),
                )
            return version

    def latest_taxonomy_hash(self) -> str | None:
        """Content hash of the latest stored version (None before the first)."""
        return self.scalar(
            "SELECT content_hash FROM taxonomy_versions ORDER BY version DESC LIMIT 1"
        )

    def taxonomy_version(self) -> int:
        return int(self.scalar("SELECT coalesce(max(version), 0) FROM taxonomy_versions"))

    def taxonomy_versions(self) -> list[dict[str, Any]]:
        return self.query("SELECT * FROM taxonomy_versions ORDER BY version")

    def stored_taxonomy(self, version: int | None = None) -> list[Label]:
        """The labels of one version (the latest by default), as stored."""
        version = version or self.taxonomy_version()
        rows = self.query("SELECT * FROM labels WHERE version = ? ORDER BY position", [version])
        return [
            Label(
                name=r["name"],
                kind=r["kind"],
                description=r["description"],
                terms=tuple(json.loads(r["terms"])),
                patterns=tuple(tuple(p) for p in json.loads(r["patterns"])),
                examples=tuple(json.loads(r["examples"])),
            )
            for r in rows
        ]
