"""One strategy of the loop benchmark, run through nerloop's own code paths.

Per strategy: a fresh project (real store, gold imported by the real importer); texts come from
the pool in chunks; when a chunk arrives the proposers cover it (the real `LLMProposer` over HTTP
to the loopback fake server, with alignment; the real model proposer when the strategy has the
model in the loop); the simulated annotator answers through the real `Queue` and `Session`
(one all-labels pass; each key press is one decision) and accepts a question if and only if
its span and label equal a gold span of the text (with `accept_text`, a text whose held
questions are all right and cover its gold spans is accepted with one key press instead);
every `retrain_every` decisions the real training runner trains a model (a separate process,
`max_steps` capped), which is scored on the held-out test records and, with the model in the
loop, proposes on the next chunks.

Chunks, not the whole pool at once. The chunks were first needed because the all-labels pass
walked one label over every pool text before the next (no text would have been reviewed for
every label within a few thousand decisions); the queue now goes text first by itself, so the
chunks only keep the proposers' work in step with the annotator. Proposers cover a chunk
eagerly, before any of it is asked, so that the same span from the LLM and the model is one
question (the queue merges open proposals of one span; a span answered through one source is
not asked again from another).

Limits of the simulation: every question of a chunk is asked, so the queue's informativeness
order (model proposals with a score nearest 0.5 first) only reorders questions within a chunk;
it does not choose which texts get asked. Training runs while the annotator waits (the app
retrains in the background while annotation goes on), and the model proposes only on chunks
that arrive after it was trained. The simulated LLM ignores few-shot examples.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bench.loop.data import Dataset, GoldSet, make_project
from nerloop.core.annotate.queue import Queue
from nerloop.core.annotate.session import Session
from nerloop.core.annotate.shown import spacy_tokenizer
from nerloop.core.config import Settings
from nerloop.core.evaluate import predict, score_spans
from nerloop.core.project import DB_FILE, Project
from nerloop.core.prompts import FewShot
from nerloop.core.proposers.llm import LLMProposer
from nerloop.core.proposers.llm_task import ShotsFrom
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.records import Span, StoredText, input_hash
from nerloop.core.retrieval import Retriever
from nerloop.core.training.data import Policy
from nerloop.core.training.runner import train

ANNOTATOR = "simulated"


@dataclass(frozen=True, slots=True)
class Strategy:
    name: str
    policy: Policy
    model: bool = False
    """The latest model proposes too (its proposals asked in informativeness order)."""
    fewshot: bool = False
    """LLM prompts carry few-shot examples retrieved from the accepted answers."""
    model_min_score: float | None = None
    """Lowest probability of a model proposal (None: the model proposer's own default)."""
    accept_text: bool = False
    """The annotator presses the accept-text key (`Session.accept_text`, one decision) when
    every question held for the text is right and they cover all its gold spans."""
    missing: Literal["none", "fix", "flag"] = "none"
    """On each text it reviews, when a gold span is neither asked nor accepted, the annotator
    marks every such span (`fix`: Session.mark_missing) or flags the text (`flag`:
    Session.flag_missing)."""
    silver: Literal["auto", "on", "off"] = "off"
    """Training's silver setting: the LLM's proposals on unreviewed pool texts as data."""
    switch_llm_off: bool = False
    """After each retrain the annotator turns the LLM off (`nerloop abtest switch LABEL off`,
    Store.set_llm_off) for every label whose model scores better on gold than the LLM does:
    from then on only the model proposes that label (with `model`)."""


# Effort units of a key press: y, n, space, `a` and the flag key 1 each; a span marked in the
# editor 3 (select its start and end, give its label); committing the editor with none 1.
EFFORT_KEY = 1
EFFORT_SPAN = 3


@dataclass(frozen=True, slots=True)
class LoopConfig:
    budget: int
    """Effort units per strategy (see EFFORT_KEY, EFFORT_SPAN)."""
    retrain_every: int
    """Effort units between two trainings (each scored on test)."""
    max_steps: int
    chunk: int
    """Texts taken from the pool at a time."""
    batch: bool
    """One LLM request per text for all labels (else one per text and label)."""
    points: tuple[int, ...] = ()
    """Effort units at which to retrain and score; by default every `retrain_every`."""
    ahead: int = 0
    """Pool texts the LLM proposes on beyond the chunks handed to the annotator, taken at the
    start (what silver data can use: the LLM's pass over the pool nobody reviewed)."""

    llm_gold_f: dict[str, float] = field(default_factory=dict)
    """The simulated LLM's F (x100) on the gold split, per label (for `switch_llm_off`)."""

    concurrency: int = 1
    """LLM requests in flight. 1 keeps runs repeatable: the queue asks in proposal id order, and
    with concurrent requests the ids follow the order the answers happen to arrive in."""

    def __post_init__(self) -> None:
        if not self.points:
            marks = list(range(self.retrain_every, self.budget + 1, self.retrain_every))
            if not marks or marks[-1] != self.budget:
                marks.append(self.budget)
            object.__setattr__(self, "points", tuple(marks))


@dataclass
class StrategyResult:
    strategy: Strategy
    points: list[dict[str, Any]] = field(default_factory=list)
    llm: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    wall_s: float = 0.0
    train_s: float = 0.0
    llm_s: float = 0.0
    """Time in LLM requests (HTTP to the loopback server, parsing, alignment, storing)."""
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.name,
            "policy": self.strategy.policy,
            "model_in_loop": self.strategy.model,
            "fewshot": self.strategy.fewshot,
            "accept_text": self.strategy.accept_text,
            "missing": self.strategy.missing,
            "silver": self.strategy.silver,
            "points": self.points,
            "llm": self.llm,
            "counts": self.counts,
            "wall_s": round(self.wall_s, 1),
            "train_s": round(self.train_s, 1),
            "llm_s": round(self.llm_s, 1),
            "error": self.error,
        }


def fewshot_adapter(project: Project) -> Callable[[StoredText, Sequence[str]], list[FewShot]]:
    """Retriever examples -> prompt examples (the glue core does not have yet)."""
    retriever = Retriever.from_settings(project.store, project.settings)

    def examples_for(text: StoredText, labels: Sequence[str]) -> list[FewShot]:
        by_text: dict[int, tuple[str, list[tuple[str, str]]]] = {}
        for label in labels:
            for ex in retriever.examples_for(text, label):
                entry = by_text.setdefault(ex.text_id, (ex.text, []))
                entry[1].extend((label, sub) for sub in ex.answers)
        ranked = list(by_text.values())[: project.settings.fewshot_k]
        return [FewShot(t, tuple(spans)) for t, spans in ranked]

    return examples_for


def model_proposer(project: Project, min_score: float | None = None) -> ModelProposer | None:
    """The project's model proposer (the promoted model), or None before the first model."""
    if min_score is None:
        return ModelProposer.from_project(project)
    run = project.store.promoted_run()
    if run is None:
        return None
    labels = [label.name for label in project.taxonomy.ner_labels]
    return ModelProposer(run["model_path"], labels, detail=f"run-{run['id']}", min_score=min_score)


class Simulation:
    """The state of one strategy's run."""

    def __init__(
        self, data: Dataset, cfg: LoopConfig, strategy: Strategy, workdir: Path, llm_url: str
    ) -> None:
        self.data = data
        self.cfg = cfg
        self.strategy = strategy
        settings: dict[str, object] = {
            "llm_base_url": llm_url,
            "llm_model": "fake-model",
            "llm_batch": cfg.batch,
            "llm_concurrency": cfg.concurrency,
            "llm_max_retries": 2,
            "policy": strategy.policy,
            "retrain_every": 0,  # the benchmark trains at fixed decision counts itself
            "train_max_steps": cfg.max_steps,
            "fewshot_k": 3 if strategy.fewshot else 0,
        }
        if "silver" in Settings.model_fields:
            # Explicit: the setting's default ("auto") would give every strategy silver data.
            settings["silver"] = strategy.silver
        self.project = make_project(workdir / strategy.name.replace("/", "-"), data, settings)
        self.store = self.project.store
        examples = ShotsFrom(fewshot_adapter(self.project)) if strategy.fewshot else None
        self.llm = LLMProposer.from_project(self.project, examples_for=examples)
        self.model: ModelProposer | None = None
        self.queue = Queue(
            self.project.path / DB_FILE,
            self.project.taxonomy,
            self.project.settings,
            ANNOTATOR,
            proposers=[self.llm],
            # As in the app: once a model is promoted the queue proposes with it on every text
            # it has not covered yet, the texts the LLM ran over ahead (silver) among them.
            make_model=(lambda: self.model) if strategy.model else None,
        )
        self.session = Session(self.store, self.queue, spacy_tokenizer(self.project.nlp))
        self.gold: dict[str, GoldSet] = data.pool_gold
        self.next_text = 0
        self.decisions = 0
        self.effort = 0
        self.reviewed: set[int] = set()
        self.seen: set[int] = set()
        """Texts the annotator was shown a question of."""
        self.ahead_ids: set[int] = set()
        """Texts the LLM already proposed on (propose_ahead): a chunk does not ask it again."""
        """Texts the annotator has looked at for missed spans."""
        self.counts = {
            "accept": 0,
            "reject": 0,
            "texts": 0,
            "model_proposals": 0,
            "text_key_presses": 0,
            "text_key_accepts": 0,
            "marked_spans": 0,
            "mark_presses": 0,
            "flags": 0,
            "ahead_texts": 0,
        }
        self.accepted: dict[int, set[tuple[int, int, str]]] = {}
        """Spans accepted so far, per text id (what the annotator has already said yes to)."""
        self.result = StrategyResult(strategy)
        self.f_in_use: float | None = None

    # -- the pool, a chunk at a time ---------------------------------------------------------

    def feed_chunk(self) -> bool:
        """Import the next chunk and let the proposers cover it; False when the pool is empty."""
        records = self.data.pool[self.next_text : self.next_text + self.cfg.chunk]
        if not records:
            return False
        self.next_text += len(records)
        self.store.bulk_add_texts(r.text for r in records)
        texts = [self.store.text_by_hash(input_hash(r.text)) for r in records]
        stored = [t for t in texts if t is not None]
        ids = [t.id for t in stored]
        labels = self.llm.labels()
        # Labels switched off (switch_llm_off) are not asked of the LLM, as in the app.
        todo = [t for t in stored if t.id not in self.ahead_ids] if labels else []
        t0 = time.perf_counter()
        summary = asyncio.run(self.llm.run([(t, labels) for t in todo], batch=self.cfg.batch))
        self.result.llm_s += time.perf_counter() - t0
        if summary.errors:
            raise RuntimeError(f"LLM errors on a chunk: {dict(summary.error_messages)}")
        for label in labels:
            self.store.mark_covered(label, "llm", ids)
        if self.model is not None:
            proposals = self.model.propose_all(stored)
            self.store.add_proposals(proposals)
            for label in self.model.labels():
                self.store.mark_covered(label, "model", ids)
        self.counts["texts"] += len(stored)
        return True

    # -- the annotator -----------------------------------------------------------------------

    def propose_ahead(self) -> None:
        """The LLM over `cfg.ahead` pool texts past the first chunk, before any review: in the
        app the LLM proposes over the pool ahead of the annotator; silver training uses it."""
        records = self.data.pool[: self.cfg.ahead] if self.strategy.silver != "off" else []
        if not records:
            return
        self.store.bulk_add_texts(r.text for r in records)
        texts = [self.store.text_by_hash(input_hash(r.text)) for r in records]
        stored = [t for t in texts if t is not None]
        labels = self.llm.labels()
        t0 = time.perf_counter()
        summary = asyncio.run(self.llm.run([(t, labels) for t in stored], batch=self.cfg.batch))
        self.result.llm_s += time.perf_counter() - t0
        if summary.errors:
            raise RuntimeError(f"LLM errors ahead: {dict(summary.error_messages)}")
        for label in labels:
            self.store.mark_covered(label, "llm", [t.id for t in stored])
        self.counts["ahead_texts"] = len(stored)
        self.ahead_ids = {t.id for t in stored}

    def annotate_until(self, target: int) -> bool:
        """Answer questions until `target` effort units; False when the pool ran out first."""
        while self.effort < target:
            shown = self.session.current()
            if shown is None:
                fetch = self.queue.fetch(None, n=32, held=self.session.held())
                self.session.add_tasks(fetch.tasks)
                if fetch.tasks or fetch.empty is None:
                    continue
                if fetch.empty.reason not in ("finished", "no_source", "no_texts"):
                    raise RuntimeError(f"queue: {fetch.empty.message}")
                if not self.feed_chunk():
                    return False
                continue
            self.seen.add(shown.task.text.id)
            if self.strategy.missing != "none" and shown.task.text.id not in self.reviewed:
                self.review_missing(shown.task.text)
            if self.strategy.accept_text and self.text_all_right(shown.task.text):
                self.press_accept_text(shown.task.text.id)
            else:
                self.answer_one(shown.task.text, shown.start, shown.end, shown.question.label)
            self.decisions += 1
            self.effort += EFFORT_KEY
        return True

    def review_missing(self, text: StoredText) -> None:
        """The careful annotator's look at a text when it first shows: the gold spans that no
        question held for it asks and that were not accepted before are missing; `fix` marks
        each of them in the editor, `flag` presses the flag key once."""
        self.reviewed.add(text.id)
        asked = {(q.start, q.end, q.label) for q in self.session.text_questions()}
        missed = self.gold[text.text] - asked - self.accepted.get(text.id, set())
        if not missed:
            return
        if self.strategy.missing == "flag":
            self.session.flag_missing()
            self.counts["flags"] += 1
            self.effort += EFFORT_KEY
            return
        spans = [Span(s, e, label) for s, e, label in sorted(missed)]
        stored = self.session.mark_missing(spans)
        self.counts["marked_spans"] += stored
        self.counts["mark_presses"] += 1
        self.accepted.setdefault(text.id, set()).update((s.start, s.end, s.label) for s in spans)
        self.effort += EFFORT_SPAN * len(spans)

    def answer_one(self, text: StoredText, start: int, end: int, label: str) -> None:
        ok = (start, end, label) in self.gold[text.text]
        self.session.answer("accept" if ok else "reject")
        self.counts["accept" if ok else "reject"] += 1
        if ok:
            self.accepted.setdefault(text.id, set()).add((start, end, label))

    def text_all_right(self, text: StoredText) -> bool:
        """Whether accepting every question held for the text makes it complete and correct:
        each of them is a gold span, and with the spans accepted before they cover every gold
        span of the text (the pass asks all labels). Only worth a key press for two or more
        questions (for one, the key and y are the same decision)."""
        held = {(q.start, q.end, q.label) for q in self.session.text_questions()}
        gold = self.gold[text.text]
        return len(held) > 1 and held <= gold and gold <= held | self.accepted.get(text.id, set())

    def press_accept_text(self, text_id: int) -> None:
        held = {(q.start, q.end, q.label) for q in self.session.text_questions()}
        accepted = self.session.accept_text()
        self.counts["accept"] += accepted
        self.counts["text_key_presses"] += 1
        self.counts["text_key_accepts"] += accepted
        self.accepted.setdefault(text_id, set()).update(held)

    # -- training and scoring ----------------------------------------------------------------

    def checkpoint(self) -> dict[str, Any]:
        """Train on the answers so far (real runner, separate process), score on test."""
        started = time.perf_counter()
        options: dict[str, Any] = {}
        if "silver" in Settings.model_fields:
            options["silver"] = self.strategy.silver
        row = train(
            self.project,
            max_steps=self.cfg.max_steps,
            policy=self.strategy.policy,
            purpose="retrain",
            nice=0,  # measured wall time: compete for the CPU like an interactive run
            **options,
        )
        train_s = time.perf_counter() - started
        self.result.train_s += train_s
        point: dict[str, Any] = {
            "effort": self.effort,
            "decisions": self.decisions,
            "texts": self.counts["texts"],
            "accepted": self.counts["accept"],
            "train_s": round(train_s, 1),
            "load_avg": round(os.getloadavg()[0], 1),
        }
        if row["status"] != "done":
            point["error"] = str(row["scores"].get("error", row["status"]))[:300]
            point["f"] = 0.0
            return point
        import spacy

        nlp = spacy.load(row["model_path"])
        texts = {i: r.text for i, r in enumerate(self.data.test)}
        gold = {i: list(r.spans) for i, r in enumerate(self.data.test)}
        scores = score_spans(gold, predict(nlp, texts), self.data.labels, texts.keys())
        counts = row.get("counts") or {}
        point.update(
            f=round(100 * scores["overall"]["f"], 2),
            p=round(100 * scores["overall"]["p"], 2),
            r=round(100 * scores["overall"]["r"], 2),
            gold_f=round(100 * float(row["scores"]["gold"]["overall"]["f"]), 2),
            train_texts=counts.get("train_texts"),
            complete_texts=counts.get("complete_texts"),
            silver_texts=counts.get("silver_texts"),
            silver=row["scores"].get("silver"),
            promoted=row["promoted"],
        )
        if row["promoted"]:
            self.f_in_use = point["f"]
        # The model a project would be using now: the latest one that scored no worse on gold.
        point["f_in_use"] = self.f_in_use
        if self.strategy.model:
            self.model = model_proposer(self.project, self.strategy.model_min_score)
        if self.strategy.switch_llm_off and row["promoted"]:
            per_label = row["scores"]["gold"].get("labels") or {}
            for label, f in self.cfg.llm_gold_f.items():
                model_f = 100 * float((per_label.get(label) or {}).get("f", 0.0))
                if model_f > f:
                    self.store.set_llm_off(label, True)
            point["llm_off"] = sorted(self.store.llm_off_labels())
        return point

    def run(self, on_point: Callable[[str, dict[str, Any]], None]) -> StrategyResult:
        started = time.perf_counter()
        try:
            self.propose_ahead()
            for target in self.cfg.points:
                more = self.annotate_until(target)
                point = {"at": target, **self.checkpoint()}
                self.result.points.append(point)
                on_point(self.strategy.name, point)
                if not more:
                    break
        except Exception as exc:  # one strategy failing must not lose the others' figures
            self.result.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.session.close()
        self.result.llm = self.store.llm_stats()
        # Counted in the store: the queue's own covering proposes too, not only feed_chunk.
        self.counts["model_proposals"] = self.store.count_rows("proposals", source="model")
        self.result.counts = dict(
            self.counts, decisions=self.decisions, effort=self.effort, texts_seen=len(self.seen)
        )
        self.result.wall_s = time.perf_counter() - started
        self.project.close()
        return self.result
