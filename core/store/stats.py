"""Counts for `nerloop stats`, the Data pane and the taxonomy browser."""

from __future__ import annotations

from typing import Any

from nerloop.core.store.annotations import LIVE_ANSWERS, AnnotationsMixin
from nerloop.core.store.texts import TextsMixin


class StatsMixin(TextsMixin, AnnotationsMixin):
    def label_counts(self) -> dict[str, dict[str, int]]:
        """Per label: proposals (all and by source) and live answers by kind."""
        out: dict[str, dict[str, int]] = {}

        def entry(label: str) -> dict[str, int]:
            return out.setdefault(label, {"proposals": 0, "accept": 0, "reject": 0, "ignore": 0})

        for r in self.query(
            "SELECT label, source, count(*) AS n FROM proposals GROUP BY label, source"
        ):
            e = entry(r["label"])
            e["proposals"] += r["n"]
            e[f"proposals_{r['source']}"] = r["n"]
        for r in self.query(
            f"SELECT p.label, a.answer, count(*) AS n FROM ({LIVE_ANSWERS}) a "
            "JOIN proposals p ON p.id = a.proposal_id JOIN texts t ON t.id = p.text_id "
            "WHERE t.split = 'pool' GROUP BY p.label, a.answer"
        ):
            entry(r["label"])[r["answer"]] = r["n"]
        return out

    def base_stats(self) -> dict[str, Any]:
        # Proposal totals come from the per-label counts (one scan of a covering index):
        # a GROUP BY source of its own was most of the Data tab's time on a large project.
        labels = self.label_counts()
        by_source: dict[str, int] = {}
        for counts in labels.values():
            for key, n in counts.items():
                if key.startswith("proposals_"):
                    source = key.removeprefix("proposals_")
                    by_source[source] = by_source.get(source, 0) + n
        splits = {
            r["split"]: r["n"]
            for r in self.query("SELECT split, count(*) AS n FROM texts GROUP BY split")
        }
        return {
            "texts": sum(splits.values()),
            "pool": splits.get("pool", 0),
            "gold": splits.get("gold", 0),
            "gold_done": int(self.scalar("SELECT count(DISTINCT text_id) FROM gold WHERE done")),
            "proposals": sum(counts["proposals"] for counts in labels.values()),
            "proposals_by_source": by_source,
            "answers": self.answer_counts(),
            "annotators": [
                r["annotator"]
                for r in self.query(
                    f"SELECT DISTINCT annotator FROM ({LIVE_ANSWERS}) ORDER BY annotator"
                )
            ],
            "labels": labels,
        }
