"""Scores on gold: precision, recall and F per label and overall, for the model, the rules and
the LLM (a learning curve over shares of the answers is core/training/curve.py).

Gold texts are annotated fully by hand, so they are the test set: the answers alone give a
biased picture (they only hold what some proposer proposed). A prediction counts when its
character offsets and label equal a gold span's (exact match, as the CoNLL/spaCy scorers do).

Each source is scored on what it is responsible for:
- the model on the taxonomy's ner labels, on every finished gold text;
- the rules on the rule labels, on every finished gold text;
- the LLM on its stored proposals (source `llm`), per label only on the gold texts it was asked
  about for that label: a text the LLM never saw did not "predict nothing".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerloop.core.records import Span

if TYPE_CHECKING:
    from spacy.language import Language

    from nerloop.core.project import Project

SpansByText = Mapping[int, Sequence[Span]]


def prf(tp: int, fp: int, fn: int) -> dict[str, float | int]:
    """Precision, recall and F1 from counts (0.0 where undefined)."""
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": round(p, 4), "r": round(r, 4), "f": round(f, 4), "tp": tp, "fp": fp, "fn": fn}


def score_spans(
    gold: SpansByText,
    pred: SpansByText,
    labels: Sequence[str],
    text_ids: Mapping[str, Iterable[int]] | Iterable[int],
) -> dict[str, Any]:
    """Exact-match scores per label and micro-averaged overall.

    `text_ids` is the texts to score on: one collection for all labels, or per label (the LLM).
    """
    per_label: dict[str, dict[str, float | int]] = {}
    total = [0, 0, 0]
    scored: set[int] = set()
    for label in labels:
        if isinstance(text_ids, Mapping) and label not in text_ids:
            continue
        ids = set(text_ids[label] if isinstance(text_ids, Mapping) else text_ids)
        tp = fp = fn = 0
        for tid in ids:
            g = {(s.start, s.end) for s in gold.get(tid, ()) if s.label == label}
            p = {(s.start, s.end) for s in pred.get(tid, ()) if s.label == label}
            tp += len(g & p)
            fp += len(p - g)
            fn += len(g - p)
        per_label[label] = {**prf(tp, fp, fn), "texts": len(ids)}
        total[0] += tp
        total[1] += fp
        total[2] += fn
        scored |= ids
    return {"texts": len(scored), "labels": per_label, "overall": prf(*total)}


def has_gold_spans(scores: Mapping[str, Any]) -> bool:
    """Whether a P/R/F entry rests on any gold span: on none, F says nothing (every source
    that predicts nothing would score 1.0 or 0.0 by convention), so it is shown as n/a."""
    return bool(scores.get("tp", 0) + scores.get("fn", 0))


def llm_coverage(project: Project) -> dict[str, dict[str, int]]:
    """Per ner label, on how many of the finished gold texts the LLM was asked (`asked`, of
    `gold_texts`): the LLM's scores rest on those alone."""
    texts, _ = gold_set(project)
    asked = project.store.llm_asked_on_gold()
    return {
        label.name: {
            "asked": len(asked.get(label.name, set()) & texts.keys()),
            "gold_texts": len(texts),
        }
        for label in project.taxonomy.ner_labels
    }


def gold_set(project: Project) -> tuple[dict[int, str], dict[int, list[Span]]]:
    """Finished gold texts: (text_id -> text, text_id -> spans)."""
    texts: dict[int, str] = {}
    spans: dict[int, list[Span]] = {}
    for text_id, text, gold in project.store.gold_examples():
        texts[text_id] = text
        spans[text_id] = list(gold)
    return texts, spans


def predict(nlp: Language, texts: Mapping[int, str]) -> dict[int, list[Span]]:
    """The entities a pipeline finds in each text."""
    ids = list(texts)
    out: dict[int, list[Span]] = {}
    for tid, doc in zip(ids, nlp.pipe(texts[i] for i in ids), strict=True):
        out[tid] = [Span(e.start_char, e.end_char, e.label_, e.start, e.end - 1) for e in doc.ents]
    return out


def evaluate_ner(project: Project, nlp: Language) -> dict[str, Any]:
    """The model's scores on gold for the taxonomy's ner labels."""
    texts, gold = gold_set(project)
    labels = [label.name for label in project.taxonomy.ner_labels]
    return score_spans(gold, predict(nlp, texts), labels, texts.keys())


def evaluate_rules(project: Project) -> dict[str, Any] | None:
    """The rules' scores on gold for the rule labels (None when there are none)."""
    from nerloop.core.rules import rules_pipeline

    nlp = rules_pipeline(project.taxonomy)
    if nlp is None:
        return None
    from nerloop.core.rules import RULES_SPANS_KEY

    texts, gold = gold_set(project)
    pred: dict[int, list[Span]] = {}
    ids = list(texts)
    for tid, doc in zip(ids, nlp.pipe(texts[i] for i in ids), strict=True):
        pred[tid] = [
            Span(s.start_char, s.end_char, s.label_, s.start, s.end - 1)
            for s in doc.spans.get(RULES_SPANS_KEY, [])
        ]
    labels = [label.name for label in project.taxonomy.rule_labels]
    return score_spans(gold, pred, labels, texts.keys())


def evaluate_llm(project: Project) -> dict[str, Any] | None:
    """The LLM's scores from its stored proposals on gold, per label on the texts it was asked
    about (None when it was never run on gold)."""
    texts, gold = gold_set(project)
    asked = {
        label: ids & texts.keys()
        for label, ids in project.store.llm_asked_on_gold().items()
        if ids & texts.keys()
    }
    if not asked:
        return None
    pred: dict[int, list[Span]] = {}
    for by_text in project.store.proposals_on_gold("llm").values():
        for tid, spans in by_text.items():
            pred.setdefault(tid, []).extend(spans)
    labels = [label.name for label in project.taxonomy.labels if label.name in asked]
    return score_spans(gold, pred, labels, asked)


def llm_coverage_line(coverage: dict[str, dict[str, int]]) -> str | None:
    """ "LLM asked on gold: PRICE 1/81, ..." when it was not asked about every gold text for
    every ner label (its scores then rest on fewer texts), else None."""
    if all(c["asked"] == c["gold_texts"] for c in coverage.values()):
        return None
    parts = ", ".join(f"{label} {c['asked']}/{c['gold_texts']}" for label, c in coverage.items())
    return f"LLM asked on gold texts: {parts}"


def load_model(path: str) -> Language:
    import spacy

    return spacy.load(path)


@dataclass(frozen=True, slots=True)
class ModelOnGold:
    """A model's output on the finished gold texts, read once for every score that needs it."""

    run: dict[str, Any] | None
    """The promoted run the model is from (None for a model given by path, or no model)."""
    path: str | None
    predictions: dict[int, list[Span]] | None
    """text_id -> the model's spans of every label; None when there is no model to run."""


def model_on_gold(
    project: Project, model_path: str | None = None, *, nlp: Language | None = None
) -> ModelOnGold:
    """The model (the promoted one, the pipeline at `model_path`, or an already loaded `nlp`)
    loaded at most once and run over the finished gold texts."""
    run = project.store.promoted_run() if model_path is None else None
    path = model_path or (run["model_path"] if run else None)
    if nlp is None and path is not None and Path(path).exists():
        nlp = load_model(path)
    if nlp is None:
        return ModelOnGold(run, path, None)
    texts, _ = gold_set(project)
    return ModelOnGold(run, path, predict(nlp, texts))


def evaluate_project(
    project: Project,
    model_path: str | None = None,
    *,
    nlp: Language | None = None,
    model: ModelOnGold | None = None,
) -> dict[str, Any]:
    """Model, rules and LLM on gold, side by side. The model is `model` when given (already
    run on gold), else as `model_on_gold` finds it."""
    if model is None:
        model = model_on_gold(project, model_path, nlp=nlp)
    texts, gold = gold_set(project)
    labels = [label.name for label in project.taxonomy.ner_labels]
    return {
        "gold_texts": len(texts),
        "model_run": model.run["id"] if model.run else None,
        "model_path": model.path,
        "model": (
            score_spans(gold, model.predictions, labels, texts.keys())
            if model.predictions is not None
            else None
        ),
        "rules": evaluate_rules(project),
        "llm": evaluate_llm(project),
        "llm_coverage": llm_coverage(project),
    }
