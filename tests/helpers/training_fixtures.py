"""A small synthetic commodities project with y/n answers, for the training tests.

Texts look like the case study's heards ("heard wheat bid 250 usd/t fob rouen march"); PRICE and
LOCATION are ner labels (conftest.TAXONOMY). Answers simulate an LLM that proposes the true
spans plus a wrong one now and then, and an annotator who accepts the true ones and rejects the
wrong ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Span
from nerloop.core.tokens import token_span
from tests.conftest import TAXONOMY

COMMODITIES = ["wheat", "corn", "soybeans", "barley", "rapeseed", "brent", "sugar", "cocoa"]
PLACES = [
    "rouen",
    "paris",
    "hamburg",
    "santos",
    "odessa",
    "chicago",
    "rotterdam",
    "antwerp",
    "houston",
    "singapore",
    "durban",
    "gdansk",
]
UNITS = ["usd/t", "eur/t", "usd/bu", "c/bu", "usd/bbl"]
VERBS = ["bid", "offered", "traded", "heard at", "indicated at"]
MONTHS = ["march", "april", "may", "june", "sept", "dec", "spot"]
TEMPLATES = [
    "heard {c} {v} {p} {l} {m}",
    "{c} {v} {p} fob {l}",
    "{l} {c} {v} {p} for {m}",
    "{c} cif {l} {v} {p}",
    "{v} {p} {c} ex works {l} {m}",
]


def new_project(root: Path) -> Project:
    """A project with conftest's taxonomy in `root`/proj."""
    root.mkdir(parents=True, exist_ok=True)
    tax = root / "taxonomy-src.toml"
    tax.write_text(TAXONOMY, "utf-8")
    return Project.init(root / "proj", tax)


def leftovers(project: Project) -> list[str]:
    """What is in the project's models folder (models, weights, temporary folders)."""
    models = project.path / "models"
    return sorted(p.name for p in models.iterdir()) if models.exists() else []


@dataclass
class Sample:
    text: str
    spans: list[Span]


def make_sample(rng: random.Random) -> Sample:
    price = f"{rng.randint(90, 990)} {rng.choice(UNITS)}"
    place = rng.choice(PLACES)
    values = {
        "c": rng.choice(COMMODITIES),
        "v": rng.choice(VERBS),
        "p": price,
        "l": place,
        "m": rng.choice(MONTHS),
    }
    template = rng.choice(TEMPLATES)
    text = template.format(**values)
    spans = []
    for key, label in (("p", "PRICE"), ("l", "LOCATION")):
        # Each placeholder occurs once in every template: find where it went.
        start = _placeholder_start(template, key, values)
        spans.append(Span(start, start + len(values[key]), label))
    return Sample(text, sorted(spans, key=lambda s: s.start))


def _placeholder_start(template: str, key: str, values: dict[str, str]) -> int:
    head = template[: template.index("{" + key + "}")]
    return len(head.format(**values))


def samples(n: int, seed: int) -> list[Sample]:
    rng = random.Random(seed)
    out: list[Sample] = []
    seen: set[str] = set()
    while len(out) < n:
        s = make_sample(rng)
        if s.text not in seen:
            seen.add(s.text)
            out.append(s)
    return out


def add_answered(
    project: Project,
    data: list[Sample],
    *,
    reject_every: int = 3,
    cover: bool = True,
    accept: bool = True,
) -> None:
    """Store texts, LLM proposals (true spans, plus a wrong span on every `reject_every`-th
    text) and answers; `cover` records that the LLM ran over each text for both ner labels."""
    store = project.store
    nlp = project.nlp
    for i, sample in enumerate(data):
        text_id, _ = store.add_text(sample.text)
        doc = nlp.make_doc(sample.text)
        proposed: list[tuple[Span, str]] = [
            (s, "accept" if accept else "reject") for s in sample.spans
        ]
        if reject_every and i % reject_every == 0:
            # A wrong span, as an LLM invents them: a random token outside the true spans.
            rng = random.Random(i)
            free = [t for t in doc if all(not (s.start <= t.idx < s.end) for s in sample.spans)]
            tok = rng.choice(free)
            proposed.append(
                (Span(tok.idx, tok.idx + len(tok), rng.choice(["PRICE", "LOCATION"])), "reject")
            )
        for span, answer in proposed:
            bounds = token_span(doc, span.start, span.end)
            assert bounds is not None, (sample.text, span)
            (pid,) = store.add_proposals(
                [
                    NewProposal(
                        text_id, span.label, bounds[0], bounds[1], bounds[2], bounds[3], "llm"
                    )
                ]
            )
            store.add_answer(pid, answer, "ann")  # type: ignore[arg-type]
        if cover:
            for label in ("PRICE", "LOCATION"):
                store.mark_covered(label, "llm", [text_id])


def add_gold(project: Project, data: list[Sample]) -> None:
    for sample in data:
        text_id, _ = project.store.add_text(sample.text, split="gold")
        project.store.save_gold(text_id, "ann", sample.spans, done=True)
