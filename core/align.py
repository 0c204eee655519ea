"""Placing an LLM's answers in the text: answer -> character span -> token span.

An answer is a substring the LLM says is a LABEL, with a few words of context. It is looked for:
1. exactly;
2. ignoring case, accents and runs of whitespace (a character map leads back to the original);
3. with rapidfuzz's partial alignment, accepted at or above a threshold.
The span found is snapped to token boundaries with `Doc.char_span` (mode strict, contract or
expand). An answer found more than once is placed by its context when the context pins down
one occurrence; otherwise every occurrence becomes its own proposal. When some occurrences sit
on token boundaries and others inside words ("corn" in "popcorn and corn"), only the former
count.

Answers that cannot be placed are dropped and counted by reason, never shown as wrong spans:
`empty`, `malformed` (not a span object), `unknown_label`, `not_found` (nothing like it in the
text), `below_threshold` (something like it, but under the threshold), `crosses_tokens` (the
span does not fit token boundaries under the alignment mode).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from rapidfuzz import fuzz

from nerloop.core.tokens import AlignMode, token_span

if TYPE_CHECKING:
    from spacy.tokens import Doc

DROP_REASONS = (
    "empty",
    "malformed",
    "unknown_label",
    "not_found",
    "below_threshold",
    "crosses_tokens",
)
# Below this rapidfuzz score an answer is `not_found`; between it and the threshold it is
# `below_threshold` (something similar is there, just not similar enough).
NOT_FOUND_SCORE = 60.0

Method = Literal["exact", "normalized", "fuzzy"]


@dataclass(frozen=True, slots=True)
class LLMAnswer:
    """One span as the LLM gave it."""

    text: str
    label: str
    context: str | None = None


@dataclass(frozen=True, slots=True)
class Placed:
    """An answer placed on token boundaries."""

    label: str
    start: int
    end: int
    token_start: int
    token_end: int
    """Inclusive."""
    score: float
    """rapidfuzz ratio (0-100) of the answer and the text of the placed span."""
    method: Method
    context: str | None


@dataclass(slots=True)
class Alignment:
    placed: list[Placed]
    dropped: Counter[str]


def answers_from_json(
    value: Any, labels: Sequence[str], *, label: str | None = None
) -> tuple[list[LLMAnswer], Counter[str]]:
    """The answers in a parsed JSON reply: `{"spans": [...]}` or a bare list; each item an
    object with text, context (and label in batch mode), or just a string.

    `label` is the label asked for in per-label mode; in batch mode (None) each item names its
    own, matched case-insensitively against `labels`.
    """
    dropped: Counter[str] = Counter()
    items = value.get("spans") if isinstance(value, dict) else value
    if not isinstance(items, list):
        dropped["malformed"] += 1
        return [], dropped
    # A label as given, else the one label it equals ignoring case (an LLM writes "person"
    # for "PERSON"); none when two labels differ only in case.
    exact = set(labels)
    folded: dict[str, list[str]] = {}
    for name_ in labels:
        folded.setdefault(name_.casefold(), []).append(name_)
    out: list[LLMAnswer] = []
    for item in items:
        if isinstance(item, str):
            item = {"text": item}
        if not isinstance(item, dict):
            dropped["malformed"] += 1
            continue
        text = item.get("text", item.get("span"))
        if not isinstance(text, str):
            dropped["malformed"] += 1
            continue
        context = item.get("context")
        context = context if isinstance(context, str) and context.strip() else None
        if label is not None:
            name: str | None = label
        else:
            raw = item.get("label")
            name = None
            if isinstance(raw, str):
                raw = raw.strip()
                same = folded.get(raw.casefold(), [])
                name = raw if raw in exact else (same[0] if len(same) == 1 else None)
        if name is None:
            dropped["unknown_label"] += 1
            continue
        out.append(LLMAnswer(text=text, label=name, context=context))
    return out, dropped


_QUOTES = {
    '"': '"',
    "'": "'",
    "`": "`",
    "\u201c": "\u201d",  # “ ”
    "\u2018": "\u2019",  # ‘ ’
    "\u201e": "\u201c",  # „ “
    "\u201a": "\u2018",  # ‚ ‘
    "\u00ab": "\u00bb",  # « »
    "\u00bb": "\u00ab",  # » «
    "\u2039": "\u203a",  # ‹ ›
    "\u300c": "\u300d",  # 「 」
}
_BULLET = re.compile(r"^(?:[-*+\u2022\u00b7\u2023\u2013\u2014>]|\d{1,3}[.)])\s+")
_SEPARATORS = frozenset({",", ";", ":", "!", "?", "\u3001", "\uff0c"})
_TRAILING = re.compile(r"[.,;:!?\u3002\uff0c]+$")


def undecorate(answer: str, label: str) -> list[str]:
    """`answer` stripped, step by step, of what LLMs write around the span: a list bullet ("- ",
    "1. "), the label as a prefix ("LOC: Rouen", "PRICE - 250 usd/t"), quotes (straight or
    typographic) and trailing punctuation. Every stage is returned, least stripped first, so
    that punctuation the text really has ("u.s.") is found before it is taken away."""
    prefix = re.compile(rf"^{re.escape(label)}\s*[:=\-\u2013\u2014>]+\s*", re.IGNORECASE)
    out = answer.strip()
    stages = [out]
    for step in (
        lambda t: _BULLET.sub("", t),
        lambda t: prefix.sub("", t),
        _unquote,
        lambda t: _TRAILING.sub("", t).strip(),
    ) * 3:
        out = step(out).strip()
        if out != stages[-1]:
            stages.append(out)
    return [s for s in stages if s]


def _unquote(text: str) -> str:
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
        return text[1:-1]
    if text[:1] in _QUOTES and _QUOTES[text[:1]] not in text[1:]:
        return text[1:]  # an opening quote the answer never closed
    if text[-1:] in _QUOTES.values() and not any(q in text[:-1] for q in _QUOTES):
        return text[:-1]
    return text


def normalize(s: str) -> tuple[str, list[int]]:
    """Case-folded, accent-free text with whitespace runs collapsed to one space, and for each
    character of it the index of the original character it came from."""
    out: list[str] = []
    index: list[int] = []
    pending_space = -1
    for i, ch in enumerate(s):
        if ch.isspace():
            if pending_space < 0:
                pending_space = i
            continue
        if pending_space >= 0 and out:
            out.append(" ")
            index.append(pending_space)
        pending_space = -1
        for c in unicodedata.normalize("NFKD", ch):
            if unicodedata.combining(c):
                continue
            for folded in c.casefold():
                out.append(folded)
                index.append(i)
    return "".join(out), index


class Aligner:
    """Aligns answers in one text; reuse it for every answer about that text."""

    def __init__(self, doc: Doc, *, threshold: float = 85.0, mode: AlignMode = "expand") -> None:
        self.doc = doc
        self.text = doc.text
        self.threshold = threshold
        self.mode = mode
        self._norm: tuple[str, list[int]] | None = None

    @property
    def norm(self) -> tuple[str, list[int]]:
        if self._norm is None:
            self._norm = normalize(self.text)
        return self._norm

    # -- finding strings in the text ----------------------------------------------------------

    def _exact(self, needle: str) -> list[tuple[int, int]]:
        found = []
        i = self.text.find(needle)
        while i >= 0:
            found.append((i, i + len(needle)))
            i = self.text.find(needle, i + 1)
        return found

    def _normalized(self, needle: str) -> list[tuple[int, int]]:
        ntext, index = self.norm
        nneedle = normalize(needle)[0]
        if not nneedle:
            return []
        found = []
        i = ntext.find(nneedle)
        while i >= 0:
            found.append((index[i], index[i + len(nneedle) - 1] + 1))
            i = ntext.find(nneedle, i + 1)
        return found

    def _fuzzy(self, needle: str) -> tuple[float, tuple[int, int] | None]:
        ntext, index = self.norm
        nneedle = normalize(needle)[0]
        if not nneedle or not ntext:
            return 0.0, None
        res = fuzz.partial_ratio_alignment(nneedle, ntext)
        if res is None or res.dest_end <= res.dest_start:
            return 0.0, None
        start, end = index[res.dest_start], index[res.dest_end - 1] + 1
        # Trim whitespace the window may have caught at its edges.
        while start < end and self.text[start].isspace():
            start += 1
        while end > start and self.text[end - 1].isspace():
            end -= 1
        return float(res.score), ((start, end) if start < end else None)

    def find(
        self, needle: str, stages: Sequence[str] = ()
    ) -> tuple[list[tuple[int, int]], Method | None, float]:
        """Occurrences of `needle`, the method that found them, and the fuzzy score. `stages`
        are the needle less what an LLM adds around an answer (`undecorate`), tried in order
        after the needle as given; the fuzzy search uses the barest."""
        candidates = [needle, *(s for s in stages if s != needle)]
        for candidate in candidates:
            found = self._exact(candidate)
            if found:
                return found, "exact", 100.0
            found = self._normalized(candidate)
            if found:
                return found, "normalized", 100.0
        bare = candidates[-1]
        score, span = self._fuzzy(bare)
        if span is not None and score >= self.threshold:
            return [span], "fuzzy", score
        return [], None, score

    # -- placing answers ----------------------------------------------------------------------

    def _by_context(
        self, answer: str, context: str, found: list[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        windows, _, _ = self.find(context)
        inside = [(s, e) for s, e in found if any(ws <= s and e <= we for ws, we in windows)]
        if not inside:
            return found
        if len(inside) > 1 and len(windows) == 1:
            # The context holds the answer more than once or was placed fuzzily: take the
            # occurrence nearest to where the answer sits inside the context.
            offset = normalize(context)[0].find(normalize(answer)[0])
            expected = windows[0][0] + max(offset, 0)
            inside = [min(inside, key=lambda se: abs(se[0] - expected))]
        return inside

    def place(self, answer: LLMAnswer) -> tuple[list[Placed], str | None]:
        """The proposals for one answer, or ([], reason) when it cannot be placed."""
        needle = answer.text.strip()
        stages = undecorate(needle, answer.label)
        if not stages:
            return [], "empty"
        bare = stages[-1]
        found, method, score = self.find(needle, stages)
        if method is None:
            return [], ("below_threshold" if score >= NOT_FOUND_SCORE else "not_found")
        if len(found) > 1:
            on_tokens = [se for se in found if token_span(self.doc, *se, "strict")]
            if on_tokens:
                found = on_tokens
        if len(found) > 1 and answer.context:
            found = self._by_context(bare, answer.context, found)
        placed = []
        for s, e in found:
            snapped = token_span(self.doc, s, e, self.mode)
            if snapped is None:
                continue
            cs, ce, ts, te = snapped
            # A comma or the like the answer added after the span ("march," where the text
            # goes on "march, shipped") is a token of its own, not part of the span. A dot may
            # be the span's own ("u.s." at the end of a text, which spaCy splits), so it stays.
            while (
                te > ts
                and self.doc[te].text in _SEPARATORS
                and not bare.endswith(self.doc[te].text)
            ):
                te -= 1
                ce = self.doc[te].idx + len(self.doc[te])
            placed.append(
                Placed(
                    label=answer.label,
                    start=cs,
                    end=ce,
                    token_start=ts,
                    token_end=te,
                    score=round(
                        max(
                            fuzz.ratio(needle, self.text[cs:ce]), fuzz.ratio(bare, self.text[cs:ce])
                        ),
                        1,
                    ),
                    method=method,
                    context=answer.context,
                )
            )
        return placed, (None if placed else "crosses_tokens")

    def align(self, answers: Iterable[LLMAnswer]) -> Alignment:
        """Place every answer; one proposal per (label, span), the best-scored kept."""
        best: dict[tuple[str, int, int], Placed] = {}
        dropped: Counter[str] = Counter()
        for answer in answers:
            placed, reason = self.place(answer)
            if reason is not None:
                dropped[reason] += 1
            for p in placed:
                key = (p.label, p.start, p.end)
                if key not in best or p.score > best[key].score:
                    best[key] = p
        spans = sorted(best.values(), key=lambda p: (p.start, p.end, p.label))
        return Alignment(placed=spans, dropped=dropped)


def align_answers(
    doc: Doc,
    answers: Iterable[LLMAnswer],
    *,
    threshold: float = 85.0,
    mode: AlignMode = "expand",
) -> Alignment:
    """Place `answers` in `doc` (see the module docstring)."""
    return Aligner(doc, threshold=threshold, mode=mode).align(answers)
