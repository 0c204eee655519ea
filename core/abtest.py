"""When to stop asking the LLM: model vs LLM per label, on gold and live on the pool.

On gold: per label, the F score of the LLM's proposals and of the model's predictions against
the hand-made gold spans (exact character offsets), each with a bootstrap confidence interval.
Only gold texts that BOTH sources were run on count (an LLM never asked about a text did not
"predict nothing"), and the bootstrap is paired: each resample draws gold texts with replacement
and scores both sources on the same draw, so the interval of the difference is much narrower than
the two intervals side by side suggest.

Live on the pool: the accept rate of each source's proposals over the last N answers per label.
It is evidence, not part of the rule: it measures precision on the questions that were asked and
says nothing of what a source missed, and the two sources are asked about different spans.

The rule (`recommend`). Stop the LLM for a label when both hold:
1. the paired texts hold at least `min_gold_spans` gold spans of the label (default 20): below
   that an F score moves by 5 points or more when one span changes, and no interval is honest;
2. the model is not worse than the LLM by more than `margin` (default 0.02 F) with bootstrap
   probability at least `min_probability` (default 0.9): the share of paired resamples in which
   F_model >= F_llm - margin. This is a one-sided non-inferiority test at the 10% level, the
   same as "the lower 90% one-sided bound of F_model - F_llm is above -margin".
The model need not beat the LLM: once it is as good, every LLM call is cost with no gain, and the
model's proposals are what the annotators see from then on. Otherwise: keep the LLM, with the
reason (too little gold, no model yet, LLM not run on gold, or the model is behind).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from nerloop.core.blind_ab import ab_tally, tally_text
from nerloop.core.evaluate import ModelOnGold, model_on_gold
from nerloop.core.records import Span
from nerloop.core.store import Store

if TYPE_CHECKING:
    from nerloop.core.project import Project

KEEP = "keep the LLM"
STOP = "the model is as good: stop the LLM"


@dataclass(frozen=True, slots=True)
class SourceScore:
    """One source's score on one label: F with its bootstrap interval, and the raw counts."""

    f: float
    precision: float
    recall: float
    low: float
    high: float
    tp: int
    fp: int
    fn: int


@dataclass(frozen=True, slots=True)
class LabelComparison:
    """Model vs LLM on the gold texts both were run on, for one label."""

    label: str
    n_texts: int
    n_gold_spans: int
    llm: SourceScore
    model: SourceScore
    diff: float
    """F_model - F_llm."""
    diff_low: float
    diff_high: float
    p_not_worse: float
    """Share of paired resamples with F_model >= F_llm - margin."""
    margin: float
    n_boot: int


@dataclass(frozen=True, slots=True)
class Recommendation:
    label: str
    stop_llm: bool
    verdict: str
    reason: str
    comparison: LabelComparison | None = None
    accept_rates: dict[str, tuple[int, int]] = field(default_factory=dict)
    """source -> (accepted, answered) over the last N live answers."""
    blind_ab: tuple[int, int, int] | None = None
    """Blind A/B choices (LLM better, model better, same), when any were made: evidence only."""


# -- scores ----------------------------------------------------------------------------------


def _f(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    # A resample with no gold span and no prediction has nothing to get wrong: F = 1.
    denom = 2 * tp + fp + fn
    safe = np.where(denom > 0, denom, 1)
    return np.where(denom > 0, 2 * tp / safe, 1.0)


def span_counts(
    text_ids: Sequence[int],
    gold: Mapping[int, Collection[Span]],
    pred: Mapping[int, Collection[Span]],
    label: str,
) -> np.ndarray:
    """Per text: (true positives, false positives, false negatives) of `label`, matching spans
    on exact character offsets. Shape (len(text_ids), 3)."""
    out = np.zeros((len(text_ids), 3), dtype=np.int64)
    for row, tid in enumerate(text_ids):
        g = {(s.start, s.end) for s in gold.get(tid, ()) if s.label == label}
        p = {(s.start, s.end) for s in pred.get(tid, ()) if s.label == label}
        tp = len(g & p)
        out[row] = (tp, len(p) - tp, len(g) - tp)
    return out


def _score(counts: np.ndarray, boot_f: np.ndarray, confidence: float) -> SourceScore:
    tp, fp, fn = (int(x) for x in counts.sum(axis=0))
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot_f, [alpha, 1 - alpha]) if len(boot_f) else (math.nan, math.nan)
    return SourceScore(
        f=float(_f(np.array(tp), np.array(fp), np.array(fn))),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        low=float(low),
        high=float(high),
        tp=tp,
        fp=fp,
        fn=fn,
    )


def compare_label(
    label: str,
    text_ids: Sequence[int],
    gold: Mapping[int, Collection[Span]],
    llm: Mapping[int, Collection[Span]],
    model: Mapping[int, Collection[Span]],
    *,
    n_boot: int = 2000,
    margin: float = 0.02,
    confidence: float = 0.95,
    seed: int = 0,
) -> LabelComparison:
    """Score both sources on `text_ids` (gold texts both were run on) with a paired bootstrap.

    The resamples are drawn as multinomial counts of each text, so one resample's totals are a
    matrix product, and all `n_boot` resamples cost a few milliseconds for hundreds of texts.
    """
    ids = list(text_ids)
    c_llm = span_counts(ids, gold, llm, label)
    c_model = span_counts(ids, gold, model, label)
    n = len(ids)
    if n and n_boot > 0:
        rng = np.random.default_rng(seed)
        f_llm_parts: list[np.ndarray] = []
        f_model_parts: list[np.ndarray] = []
        # Chunks keep the (resamples x texts) weight matrix under ~32 MB for big gold sets.
        chunk = max(1, min(n_boot, 4_000_000 // n))
        for start in range(0, n_boot, chunk):
            b = min(chunk, n_boot - start)
            w = rng.multinomial(n, np.full(n, 1.0 / n), size=b)
            s_llm, s_model = w @ c_llm, w @ c_model
            f_llm_parts.append(_f(s_llm[:, 0], s_llm[:, 1], s_llm[:, 2]))
            f_model_parts.append(_f(s_model[:, 0], s_model[:, 1], s_model[:, 2]))
        f_llm_b = np.concatenate(f_llm_parts)
        f_model_b = np.concatenate(f_model_parts)
    else:
        f_llm_b = f_model_b = np.zeros(0)
    llm_score = _score(c_llm, f_llm_b, confidence)
    model_score = _score(c_model, f_model_b, confidence)
    d = f_model_b - f_llm_b
    alpha = (1 - confidence) / 2
    d_low, d_high = np.quantile(d, [alpha, 1 - alpha]) if len(d) else (math.nan, math.nan)
    return LabelComparison(
        label=label,
        n_texts=n,
        n_gold_spans=int(c_llm[:, 0].sum() + c_llm[:, 2].sum()),
        llm=llm_score,
        model=model_score,
        diff=model_score.f - llm_score.f,
        diff_low=float(d_low),
        diff_high=float(d_high),
        p_not_worse=float(np.mean(d >= -margin - 1e-12)) if len(d) else 0.0,
        margin=margin,
        n_boot=len(d),
    )


def wilson(accepted: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a proportion: sound at small n and near 0 or 1."""
    if n == 0:
        return 0.0, 1.0
    p = accepted / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


# -- the rule --------------------------------------------------------------------------------


def _rates_text(rates: Mapping[str, tuple[int, int]]) -> str:
    parts = []
    for source in ("llm", "model"):
        if source in rates and rates[source][1]:
            acc, n = rates[source]
            parts.append(f"{source} accepts {acc}/{n} ({acc / n:.0%})")
    return "; live: " + ", ".join(parts) if parts else ""


def recommend(
    comparison: LabelComparison,
    *,
    min_gold_spans: int = 20,
    min_probability: float = 0.9,
    accept_rates: Mapping[str, tuple[int, int]] | None = None,
) -> Recommendation:
    """Keep or stop the LLM for one label, by the rule in this module's docstring."""
    c = comparison
    rates = dict(accept_rates or {})
    live = _rates_text(rates)
    scores = (
        f"model F {c.model.f:.3f} [{c.model.low:.3f}, {c.model.high:.3f}], "
        f"LLM F {c.llm.f:.3f} [{c.llm.low:.3f}, {c.llm.high:.3f}], "
        f"P(model >= LLM - {c.margin:g}) = {c.p_not_worse:.2f}, "
        f"{c.n_gold_spans} gold spans in {c.n_texts} texts"
    )
    if c.n_gold_spans == 0:
        # No score on zero spans: both sources' F would be a convention, not a measurement.
        reason = (
            f"no gold span of {c.label} in the {c.n_texts} gold texts both were run on: "
            f"nothing to compare yet, need {min_gold_spans}{live}"
        )
        return Recommendation(c.label, False, KEEP, reason, c, rates)
    if c.n_gold_spans < min_gold_spans:
        reason = (
            f"too little gold to tell: {c.n_gold_spans} gold spans of {c.label} in the texts "
            f"both were run on, need {min_gold_spans} ({scores}){live}"
        )
        return Recommendation(c.label, False, KEEP, reason, c, rates)
    if c.p_not_worse >= min_probability:
        reason = f"the model is not worse by more than {c.margin:g} F ({scores}){live}"
        return Recommendation(c.label, True, STOP, reason, c, rates)
    reason = f"the model is behind ({scores}){live}"
    return Recommendation(c.label, False, KEEP, reason, c, rates)


def _missing(label: str, why: str, rates: Mapping[str, tuple[int, int]]) -> Recommendation:
    return Recommendation(label, False, KEEP, why + _rates_text(rates), None, dict(rates))


def ab_report(
    store: Store,
    labels: Sequence[str],
    model_predictions: Mapping[int, Collection[Span]] | None,
    *,
    last_n: int = 200,
    n_boot: int = 2000,
    margin: float = 0.02,
    min_gold_spans: int = 20,
    min_probability: float = 0.9,
    seed: int = 0,
) -> list[Recommendation]:
    """The recommendation for each of `labels` from what the store holds.

    `model_predictions` are the latest model's spans on the finished gold texts (text_id ->
    spans of all labels; a gold text missing from it counts as "predicted nothing"), or None
    when there is no model yet. The LLM's side is read from the store: its proposals on gold
    texts and the calls it answered.
    """
    gold_rows = store.gold_examples()
    gold = {tid: spans for tid, _text, spans in gold_rows}
    llm_props = store.proposals_on_gold("llm")
    llm_asked = store.llm_asked_on_gold()
    rates = store.accept_rates(last_n)
    out: list[Recommendation] = []
    for label in labels:
        live = rates.get(label, {})
        if not gold:
            out.append(
                _missing(label, "no finished gold texts: annotate some in the Gold tab", live)
            )
            continue
        if model_predictions is None:
            out.append(_missing(label, "no trained model yet", live))
            continue
        ids = sorted(t for t in gold if t in llm_asked.get(label, set()))
        if not ids:
            out.append(
                _missing(label, f"the LLM has not been run on the gold texts for {label}", live)
            )
            continue
        flat = {
            tid: [s for s in spans if s.label == label]
            for tid, spans in llm_props.get(label, {}).items()
        }
        comparison = compare_label(
            label, ids, gold, flat, model_predictions, n_boot=n_boot, margin=margin, seed=seed
        )
        out.append(
            recommend(
                comparison,
                min_gold_spans=min_gold_spans,
                min_probability=min_probability,
                accept_rates=live,
            )
        )
    tally = ab_tally(store)
    return [_with_blind_ab(rec, tally.get(rec.label)) for rec in out]


def _with_blind_ab(rec: Recommendation, counts: tuple[int, int, int] | None) -> Recommendation:
    if counts is None:
        return rec
    return replace(rec, blind_ab=counts, reason=f"{rec.reason}; {tally_text(counts)}")


def project_recommendations(
    project: Project,
    model_path: str | None = None,
    *,
    model: ModelOnGold | None = None,
    **options: Any,
) -> list[Recommendation]:
    """The recommendation for every ner label of a project, with the promoted model (or the
    pipeline at `model_path`, or `model` already run on gold) run on the finished gold texts.
    `options` go to `ab_report`.

    core/evaluation_report.py puts these beside the scores for the Evaluate tab and `nerloop
    evaluate`; rule labels are left out, since they never ask the LLM.
    """
    if model is None:
        model = model_on_gold(project, model_path)
    labels = [label.name for label in project.taxonomy.ner_labels]
    return ab_report(project.store, labels, model.predictions, **options)


def recommendation_dict(rec: Recommendation) -> dict[str, Any]:
    """A recommendation as plain JSON-able data (for `--json` output and the UI)."""
    out: dict[str, Any] = {
        "label": rec.label,
        "stop_llm": rec.stop_llm,
        "verdict": rec.verdict,
        "reason": rec.reason,
        "accept_rates": {src: list(v) for src, v in rec.accept_rates.items()},
    }
    if rec.blind_ab is not None:
        out["blind_ab"] = dict(zip(("llm", "model", "same"), rec.blind_ab, strict=True))
    c = rec.comparison
    if c is not None:
        out["comparison"] = {
            "texts": c.n_texts,
            "gold_spans": c.n_gold_spans,
            "margin": c.margin,
            "bootstrap": c.n_boot,
            "p_not_worse": round(c.p_not_worse, 4),
            "diff": round(c.diff, 4),
            "diff_interval": [round(c.diff_low, 4), round(c.diff_high, 4)],
            **{
                name: {
                    "f": round(sc.f, 4),
                    "p": round(sc.precision, 4),
                    "r": round(sc.recall, 4),
                    "interval": [round(sc.low, 4), round(sc.high, 4)],
                    "tp": sc.tp,
                    "fp": sc.fp,
                    "fn": sc.fn,
                }
                for name, sc in (("llm", c.llm), ("model", c.model))
            },
        }
    return out
