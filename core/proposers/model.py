"""Proposals from the latest promoted model, source `model`, each with a confidence.

How the confidence is computed, and why: spaCy's default ner is a greedy transition-based
parser, whose per-action softmax says how sure it is of one move, not of a span. Its
`beam_parse` runs the same trained model with beam search instead: it keeps the `beam_width`
best partial analyses of each text, and `EntityRecognizer.scored_ents` turns the finished beam
into span marginals: the probability of (start, end, label) is the summed (softmax-normalised)
probability of the parses in the beam that contain that span. That is a per-span probability in
one extra pass over the text, with no second model to train and no change to the pipeline (a
`beam_ner` component would need its own training). It is the approach Prodigy's `ner.teach`
takes with the greedy model. Limits: the beam holds only the top parses, so probabilities are
relative to them and a greedy-trained model tends to be over-confident; they rank spans well
enough to put the uncertain ones first, which is all the queue needs. Monte-Carlo dropout (many
noisy passes) would be better calibrated but costs 10-20x the time, which an annotation loop
running on a shared CPU cannot afford.

The queue asks model proposals in informativeness order: score nearest 0.5 first (the model is
least sure, so the answer teaches it most), see `informativeness`.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from nerloop.core.records import NewProposal, Source, StoredText

if TYPE_CHECKING:
    from spacy.language import Language

    from nerloop.core.project import Project

BEAM_WIDTH = 16
"""Parses kept per text: wide enough that a plausible alternative span shows up, small enough
that scoring stays a few milliseconds a text."""
BEAM_DENSITY = 0.0001
"""Prune parses whose score falls below this share of the best one (spaCy's value in ner.teach-
style scoring)."""
MIN_SCORE = 0.1
"""Spans below this probability are not proposed: noise, not questions."""
BATCH = 64


class _Scored(Protocol):
    @property
    def score(self) -> float | None: ...


T = TypeVar("T", bound=_Scored)


def informativeness(proposal: _Scored) -> float:
    """Sort key, lower first: |score - 0.5| (unscored proposals last)."""
    if proposal.score is None:
        return 1.0
    return abs(proposal.score - 0.5)


def by_informativeness(proposals: Iterable[T]) -> list[T]:
    """Proposals with the most uncertain (most informative) first; stable for ties."""
    return sorted(proposals, key=informativeness)


class ModelProposer:
    """Proposes the spans a trained pipeline's ner finds, with beam-search probabilities."""

    source: Source = "model"
    commits = False

    def __init__(
        self,
        model: str | Path | Language,
        labels: Sequence[str] | None = None,
        *,
        detail: str = "",
        beam_width: int = BEAM_WIDTH,
        min_score: float = MIN_SCORE,
    ) -> None:
        # A model on disk is loaded when it is first asked (`nlp`): the queue makes every
        # proposer at start-up, and the first questions often come from stored proposals, so
        # the app's first question does not wait for spaCy to read a pipeline.
        self._model = model
        self._nlp: Language | None = None if isinstance(model, str | Path) else model
        known = self._known_labels()
        self._labels = [lab for lab in (labels or known) if lab in known]
        self.detail = detail or str(model if isinstance(model, str | Path) else "model")
        self.beam_width = beam_width
        self.min_score = min_score

    def _known_labels(self) -> list[str]:
        """The ner's labels: from the pipeline's meta.json when it is on disk and says them
        (spaCy writes them there), else from the loaded ner."""
        if self._nlp is None:
            meta = Path(self._model) / "meta.json"  # type: ignore[arg-type]
            with contextlib.suppress(OSError, ValueError):
                labels = json.loads(meta.read_text("utf-8")).get("labels", {}).get("ner")
                if isinstance(labels, list):
                    return [str(label) for label in labels]
        return list(self.ner.labels)

    @property
    def nlp(self) -> Language:
        """The pipeline, loaded on first use."""
        if self._nlp is None:
            import spacy

            self._nlp = spacy.load(self._model)  # type: ignore[arg-type]
        return self._nlp

    @property
    def ner(self) -> Any:
        # spaCy types get_pipe as a plain callable; the ner has labels and beam_parse.
        return cast(Any, self.nlp.get_pipe("ner"))

    @property
    def _after(self) -> list[str]:
        # Components before the ner (a shared tok2vec, say) must run first; the ones after it
        # (a ruler) must not, since their output is not the model's.
        names = self.nlp.pipe_names
        return names[names.index("ner") :]

    @classmethod
    def from_project(cls, project: Project) -> ModelProposer | None:
        """The proposer of the project's model in use (latest promoted run), or None."""
        run = project.store.promoted_run()
        if run is None or not Path(run["model_path"]).exists():
            return None
        labels = [label.name for label in project.taxonomy.ner_labels]
        return cls(run["model_path"], labels, detail=f"run-{run['id']}")

    def labels(self) -> Sequence[str]:
        return list(self._labels)

    def scored_spans(self, texts: Sequence[str]) -> list[dict[tuple[int, int, str], float]]:
        """Per text: (token_start, token_end_exclusive, label) -> probability."""
        out: list[dict[tuple[int, int, str], float]] = []
        for i in range(0, len(texts), BATCH):
            chunk = texts[i : i + BATCH]
            docs = list(self.nlp.pipe(chunk, disable=self._after))
            beams = self.ner.beam_parse(docs, beam_width=self.beam_width, beam_density=BEAM_DENSITY)
            out.extend(dict(scores) for scores in self.ner.scored_ents(beams))
        return out

    def propose_all(self, texts: Sequence[StoredText]) -> list[NewProposal]:
        """Proposals for every label in each text, text order then position."""
        out: list[NewProposal] = []
        wanted = set(self._labels)
        scored = self.scored_spans([t.text for t in texts])
        for stored, spans in zip(texts, scored, strict=True):
            doc: Any = None
            for (start, end, label), prob in sorted(spans.items()):
                if label not in wanted or prob < self.min_score:
                    continue
                if doc is None:
                    doc = self.nlp.make_doc(stored.text)
                span = doc[start:end]
                out.append(
                    NewProposal(
                        text_id=stored.id,
                        label=label,
                        start=span.start_char,
                        end=span.end_char,
                        token_start=start,
                        token_end=end - 1,
                        source=self.source,
                        source_detail=self.detail,
                        score=round(min(1.0, float(prob)), 4),
                    )
                )
        return out

    def propose(self, texts: Sequence[StoredText], label: str) -> list[NewProposal]:
        """Proposals for `label` in each of `texts`."""
        if label not in self._labels:
            return []
        return [p for p in self.propose_all(texts) if p.label == label]
