"""Data and environment of the loop benchmark: the dataset split, the project, the fake LLM.

- Pool: the texts of the train file, without spans (their spans are what the simulated LLM and
  the simulated annotator know, nothing else does).
- Gold: `gold_n` records of the test file, imported as the project's gold split (used by the
  training code for model selection, as in a real project).
- Test: the other records of the test file; only the scoring after each retrain reads them.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.records import Span

# The fake OpenAI-compatible server lives with the tests (it is not shipped with nerloop).
from tests.helpers.fake_llm import FakeLLM, GoldSpan, Noise
from tests.helpers.llm_profiles import realistic

REPO = Path(__file__).resolve().parents[2]

GoldSet = frozenset[tuple[int, int, str]]


@dataclass(frozen=True, slots=True)
class Record:
    text: str
    spans: tuple[Span, ...]

    def gold(self) -> GoldSet:
        return frozenset((s.start, s.end, s.label) for s in self.spans)

    def as_json(self) -> str:
        spans = [{"start": s.start, "end": s.end, "label": s.label} for s in self.spans]
        return json.dumps({"text": self.text, "spans": spans}, ensure_ascii=False)


def read_jsonl(path: Path) -> list[Record]:
    """Records of a `{"text", "spans": [{start, end, label}]}` file; a bad line names itself."""
    out: list[Record] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                spans = tuple(
                    Span(int(s["start"]), int(s["end"]), str(s["label"]))
                    for s in rec.get("spans") or []
                )
                out.append(Record(str(rec["text"]), spans))
            except (ValueError, KeyError, TypeError) as exc:
                raise SystemExit(f"{path}:{n}: not a text/spans record ({exc})") from None
    return out


@dataclass(frozen=True, slots=True)
class Dataset:
    pool: list[Record]
    """Train records in the order the loop takes them (seeded shuffle, duplicates dropped)."""
    gold: list[Record]
    test: list[Record]
    labels: list[str]

    @property
    def pool_gold(self) -> dict[str, GoldSet]:
        return {r.text: r.gold() for r in self.pool}


def load_dataset(
    train: Path, test: Path, *, gold_n: int, seed: int, test_limit: int | None = None
) -> Dataset:
    """The pool (shuffled), the gold split and the test split (disjoint from gold)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    pool = []
    for r in read_jsonl(train):
        if r.text not in seen:
            seen.add(r.text)
            pool.append(r)
    rng.shuffle(pool)
    held = [r for r in read_jsonl(test) if r.text not in seen]
    rng.shuffle(held)
    if len(held) < gold_n + 10:
        raise SystemExit(f"{test}: {len(held)} records; need more than gold_n={gold_n}")
    gold, rest = held[:gold_n], held[gold_n:]
    if test_limit is not None:
        rest = rest[:test_limit]
    labels = sorted({s.label for r in [*pool, *gold, *rest] for s in r.spans})
    return Dataset(pool, gold, rest, labels)


def taxonomy_toml(labels: Iterable[str]) -> str:
    lines = ['[project]\nlang = "en"\n']
    for label in labels:
        name = label.replace("_", " ").lower()
        # Quoted: a dataset's label may hold characters a bare TOML key may not ("I-PER.x").
        key = json.dumps(label, ensure_ascii=False)
        lines.append(f'[labels.{key}]\nkind = "ner"\ndescription = {json.dumps(f"A {name}.")}\n')
    return "\n".join(lines)


def make_project(path: Path, data: Dataset, settings: dict[str, object]) -> Project:
    """A new project with the dataset's labels, `settings` in nerloop.toml and the gold split
    imported through the real importer."""
    path.mkdir(parents=True)
    (path / "taxonomy.toml").write_text(taxonomy_toml(data.labels), "utf-8")
    toml = []
    for key, value in settings.items():
        toml.append(f"{key} = {json.dumps(value)}")
    (path / "nerloop.toml").write_text("\n".join(toml) + "\n", "utf-8")
    project = Project.init(path)
    gold_file = path / "gold.jsonl"
    gold_file.write_text("".join(r.as_json() + "\n" for r in data.gold), "utf-8")
    summary = import_file(project, gold_file, gold=True)
    if summary.gold != len(data.gold):
        raise RuntimeError(f"gold import stored {summary.gold} of {len(data.gold)}: {summary}")
    return project


@dataclass(frozen=True, slots=True)
class LLMNoise:
    """The simulated LLM's departures from the gold spans (command-line parameters)."""

    recall: float = 0.8
    invented: float = 0.2
    """Wrong spans per text (spread over the labels' requests in per-label mode)."""
    surface: float = 0.1
    """Share of answered spans with a surface error, split evenly over case, whitespace,
    partial word and extra word."""
    seed: int = 0
    profile: str = "strong"
    """`strong`: the three figures above; `realistic`: tests/helpers/llm_profiles.py (they are
    unused)."""

    def for_requests(self, n_labels: int, batch: bool, labels: Sequence[str] = ()) -> Noise:
        if self.profile == "realistic":
            return Noise(seed=self.seed, profile=realistic(self.seed, labels))
        per = self.surface / 4
        invented = self.invented if batch else self.invented / max(1, n_labels)
        return Noise(
            recall=self.recall,
            invented_per_text=invented,
            case=per,
            whitespace=per,
            partial=per,
            extra_words=per,
            seed=self.seed,
        )


def start_fake_llm(
    records: Sequence[Record], noise: LLMNoise, n_labels: int, batch: bool
) -> FakeLLM:
    """The loopback OpenAI-compatible server, answering from the records' spans."""
    gold: dict[str, list[GoldSpan]] = {
        r.text: [(s.label, s.start, s.end) for s in r.spans] for r in records
    }
    labels = sorted({s.label for r in records for s in r.spans})
    fake = FakeLLM(gold, noise=noise.for_requests(n_labels, batch, labels), record_bodies=False)
    return fake.start()


def llm_scores(records: Sequence[Record], noise: LLMNoise, labels: Sequence[str]) -> dict[str, Any]:
    """The simulated LLM's own micro P/R/F (x100) on `records`, one request a text for all
    labels: an answered substring counts at its first occurrence in the text, exactly as
    answered (a garbled surface of the strong profile counts as wrong, though nerloop's
    alignment may recover it)."""
    gold = {r.text: [(s.label, s.start, s.end) for s in r.spans] for r in records}
    fake = FakeLLM(gold, noise=noise.for_requests(len(labels), True, labels), record_bodies=False)
    tp = fp = fn = 0
    by_label = {label: [0, 0, 0] for label in labels}
    for r in records:
        said = set()
        for item in fake.answer_spans(r.text, list(labels), "batch"):
            at = r.text.find(item["text"])
            if at >= 0:
                said.add((at, at + len(item["text"]), item["label"]))
            else:
                fp += 1
        truth = r.gold()
        tp += len(said & truth)
        fp += len(said - truth)
        fn += len(truth - said)
        for i, part in enumerate((said & truth, said - truth, truth - said)):
            for span in part:
                by_label.setdefault(span[2], [0, 0, 0])[i] += 1
    return {**_prf(tp, fp, fn), "labels": {k: _prf(*v)["f"] for k, v in by_label.items()}}


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    p = tp / max(1, tp + fp)
    rec = tp / max(1, tp + fn)
    f = 2 * p * rec / max(1e-9, p + rec)
    return {"p": round(100 * p, 1), "r": round(100 * rec, 1), "f": round(100 * f, 1)}
