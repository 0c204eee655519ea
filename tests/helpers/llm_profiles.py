"""Named behaviours of the simulated LLM: how its answers depart from the gold spans.

`strong` is the fake server's plain `Noise` (independent misses at one recall, a few invented
words). `realistic` is what published zero-shot LLM NER looks like on short queries: recall
differs by label, misses stick to a surface form (the LLM that misses "the godfather" as a
title misses it every time), it invents spans (words of the text that are no entity, and
neighbours of real entities), gets boundaries off by a token and confuses some labels with
others. Every parameter is generic: labels are paired and given recalls by a seeded draw over
whatever label names the dataset has; nothing names a dataset's labels.

The numbers of `realistic` were calibrated once, on MIT Movie's test split (micro F of the
proposals about 52, the published ChatGPT zero-shot figure is macro F about 52), and not tuned
afterwards.

Every draw is seeded by (seed, text, span) or (seed, label, surface), so a text gets the same
answer in one request for all labels as in one request per label, in any request order.
"""

from __future__ import annotations

import hashlib
import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

GoldSpan = tuple[str, int, int]
"""(label, char start, char end)"""


def _unit(*parts: object) -> float:
    """A seeded uniform draw in [0, 1) from the parts (stable across processes, unlike hash)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _words(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]


@dataclass
class ProfileCounts:
    """What the profile did, per gold label: the fake server's own counts."""

    gold: dict[str, int] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    """Gold spans answered (whatever their boundary or label)."""
    invented: int = 0
    boundary: int = 0
    confused: int = 0

    def recall(self, label: str) -> float:
        return self.found.get(label, 0) / max(1, self.gold.get(label, 0))


@dataclass
class Profile:
    name: str
    recall_range: tuple[float, float]
    """Each label's recall is drawn uniformly from this range (seeded by the label name)."""
    sticky: float
    """Share of a label's misses decided by the surface form rather than per occurrence: a
    surface's (label, lowercased text) hash decides, for that share, whether it is found at
    all. Recall per label stays the drawn recall in expectation."""
    invented_per_text: float
    """Expected wrong spans per text, over all labels."""
    neighbour_share: float
    """Share of the invented spans that are a word next to a gold span (plausible ones)."""
    boundary: float
    """Probability that a found span has one token more or one less."""
    confusion: float
    """Probability that a found span is given its label's confusion partner instead."""
    seed: int = 0
    labels: tuple[str, ...] = ()
    """Every label of the taxonomy (empty: the request's labels)."""
    counts: ProfileCounts = field(default_factory=ProfileCounts)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def label_recall(self, label: str) -> float:
        lo, hi = self.recall_range
        return lo + (hi - lo) * _unit(self.seed, "recall", label)

    def partner(self, label: str, labels: Sequence[str]) -> str | None:
        """The label this one is confused with: labels paired after a seeded shuffle."""
        order = sorted(set(labels), key=lambda name: _unit(self.seed, "pair", name))
        if label not in order:
            return None
        i = order.index(label)
        j = i + 1 if i % 2 == 0 else i - 1
        return order[j] if j < len(order) else None

    def found(self, text: str, label: str, start: int, end: int) -> bool:
        recall = self.label_recall(label)
        surface = text[start:end].lower()
        if _unit(self.seed, "sticky?", label, surface) < self.sticky:
            return _unit(self.seed, "surface", label, surface) < recall
        return _unit(self.seed, "occurrence", text, label, start) < recall

    def spans(
        self,
        text: str,
        gold: Sequence[GoldSpan],
        labels: Sequence[str],
        *,
        count: bool = True,
    ) -> list[GoldSpan]:
        """The (label, start, end) spans answered for `labels` (a request's labels), from the
        text's gold spans. Confusion partners and invented labels come from `self.labels` (the
        taxonomy), so a text's answer does not depend on how its labels were split in
        requests."""
        wanted = set(labels)
        all_labels = self.labels or tuple(labels)
        words = _words(text)
        out: list[GoldSpan] = []
        for label, start, end in gold:
            hit = self.found(text, label, start, end)
            if count and label in wanted:
                with self._lock:
                    self.counts.gold[label] = self.counts.gold.get(label, 0) + 1
                    self.counts.found[label] = self.counts.found.get(label, 0) + int(hit)
            if not hit:
                continue
            s, e = start, end
            if _unit(self.seed, "boundary?", text, start) < self.boundary:
                s, e = self._shift(text, words, s, e, _unit(self.seed, "boundary", text, start))
            said = label
            partner = self.partner(label, all_labels)
            if partner and _unit(self.seed, "confuse?", text, start) < self.confusion:
                said = partner
            if said in wanted:
                out.append((said, s, e))
                if count:
                    with self._lock:
                        self.counts.boundary += int((s, e) != (start, end))
                        self.counts.confused += int(said != label)
        out.extend(self._invented(text, gold, words, wanted, all_labels, count))
        return out

    @staticmethod
    def _shift(
        text: str, words: list[tuple[int, int]], s: int, e: int, draw: float
    ) -> tuple[int, int]:
        """One token more (a neighbour word) or one less (the first or last of several)."""
        inside = [w for w in words if w[0] >= s and w[1] <= e]
        before = [w for w in words if w[1] <= s]
        after = [w for w in words if w[0] >= e]
        if len(inside) > 1 and draw < 0.5:
            return (inside[1][0], e) if draw < 0.25 else (s, inside[-2][1])
        if after and (draw < 0.75 or not before):
            return s, after[0][1]
        if before:
            return before[-1][0], e
        return s, e

    def _invented(
        self,
        text: str,
        gold: Sequence[GoldSpan],
        words: list[tuple[int, int]],
        wanted: set[str],
        all_labels: Sequence[str],
        count: bool,
    ) -> list[GoldSpan]:
        rng = random.Random(f"{self.seed}|invent|{text}")
        expected = self.invented_per_text
        n = int(expected) + (1 if rng.random() < expected - int(expected) else 0)
        taken = [(s, e) for _, s, e in gold]
        free = [w for w in words if not any(w[0] < e and s < w[1] for s, e in taken)]
        near = [
            w
            for w in free
            if any(abs(w[1] + 1 - s) <= 1 or abs(e + 1 - w[0]) <= 1 for s, e in taken)
        ]
        ordered = sorted(set(all_labels))
        out: list[GoldSpan] = []
        for _ in range(n):
            pick = near if near and rng.random() < self.neighbour_share else free
            if not pick or not ordered:
                break
            s, e = rng.choice(pick)
            label = rng.choice(ordered)
            if label in wanted:
                out.append((label, s, e))
                if count:
                    with self._lock:
                        self.counts.invented += 1
        return out


def realistic(seed: int = 0, labels: Sequence[str] = ()) -> Profile:
    """Calibrated once on MIT Movie test (proposal micro F about 52); see the module doc."""
    return Profile(
        "realistic",
        recall_range=(0.4, 0.9),
        sticky=0.6,
        invented_per_text=0.5,
        neighbour_share=0.5,
        boundary=0.15,
        confusion=0.08,
        seed=seed,
        labels=tuple(sorted(set(labels))),
    )


PROFILES = ("realistic", "strong")
