"""Labels as datasets spell them (`Amenity`, `restaurant_name`, `PER`): through the taxonomy,
import, an LLM answer, training, export (and back) and the app, kept exactly as spelt."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nerloop.core.align import answers_from_json
from nerloop.core.export import export
from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.taxonomy import TaxonomyError, load_taxonomy
from nerloop.core.training.runner import train
from tests.helpers.queue_helpers import propose
from tests.helpers.tui_helpers import app_for, shown, wait_for_question

TAXONOMY = """\
[project]
lang = "en"

[labels.Amenity]
kind = "ner"
description = "A feature of a place."

[labels.restaurant_name]
kind = "ner"
description = "The name of a restaurant."

[labels."Cuisine-Type"]
kind = "ner"
description = "A kind of food."
"""

TEMPLATES = [
    ("find {r} with {a} near me", "restaurant_name", "Amenity"),
    ("is {r} good for {a}", "restaurant_name", "Amenity"),
    ("any {c} place with {a}", "Cuisine-Type", "Amenity"),
]
NAMES = ["olive garden", "chez lou", "taco bell", "noodle bar", "pho king"]
AMENITIES = ["parking", "outdoor seating", "wifi", "live music"]


def records(n: int) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(n):
        template, first, second = TEMPLATES[i % len(TEMPLATES)]
        r = NAMES[i % len(NAMES)]
        a = AMENITIES[(i // 3) % len(AMENITIES)]
        text = template.format(r=r, a=a, c="thai")
        value = r if "{r}" in template else "thai"
        s1 = text.index(value)
        s2 = text.index(a)
        out.append(
            {
                "text": f"{text} {i}",
                "spans": [
                    {"start": s1, "end": s1 + len(value), "label": first},
                    {"start": s2, "end": s2 + len(a), "label": second},
                ],
            }
        )
    return out


@pytest.fixture
def project(tmp_path: Path) -> Project:
    tax = tmp_path / "tax.toml"
    tax.write_text(TAXONOMY, "utf-8")
    return Project.init(tmp_path / "proj", tax)


def write(path: Path, recs: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), "utf-8")
    return path


def test_any_spelling_spacy_accepts_is_a_label(project: Project) -> None:
    assert project.taxonomy.names == ["Amenity", "restaurant_name", "Cuisine-Type"]


def test_whitespace_inside_a_label_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[project]\nlang = "en"\n[labels."unit price"]\nkind = "ner"\n', "utf-8")
    with pytest.raises(TaxonomyError, match=r"label unit price: field name: .*without spaces"):
        load_taxonomy(bad)


def test_import_export_round_trip_keeps_the_spelling(project: Project, tmp_path: Path) -> None:
    summary = import_file(project, write(tmp_path / "a.jsonl", records(12)))
    assert summary.answers == 24
    labels = {row["label"] for row in project.store.query("SELECT label FROM proposals")}
    assert labels == {"Amenity", "restaurant_name", "Cuisine-Type"}
    for fmt, name in (("prodigy", "out.jsonl"), ("conll", "out.conll")):
        out = tmp_path / name
        export(project, out, fmt)  # type: ignore[arg-type]
        assert "restaurant_name" in out.read_text("utf-8")
        other = Project.init(tmp_path / f"again-{fmt}", tmp_path / "tax.toml")
        again = import_file(other, out)
        assert again.answers == 24, fmt
        got = {row["label"] for row in other.store.query("SELECT label FROM proposals")}
        assert got == labels
        other.close()
    export(project, tmp_path / "corpus", "spacy")
    assert (tmp_path / "corpus" / "train.spacy").exists()


def test_llm_answers_name_labels_case_insensitively_when_unambiguous() -> None:
    value = {
        "spans": [
            {"text": "wifi", "label": "amenity"},
            {"text": "thai", "label": "CUISINE-TYPE"},
            {"text": "x", "label": "restaurant_name"},
        ]
    }
    answers, dropped = answers_from_json(value, ["Amenity", "restaurant_name", "Cuisine-Type"])
    assert [a.label for a in answers] == ["Amenity", "Cuisine-Type", "restaurant_name"]
    assert not dropped
    # Two labels that differ only in case: an answer must name one exactly.
    answers, dropped = answers_from_json({"spans": [{"text": "a", "label": "per"}]}, ["PER", "Per"])
    assert answers == [] and dropped["unknown_label"] == 1


def test_training_learns_labels_as_spelt(project: Project, tmp_path: Path) -> None:
    import_file(project, write(tmp_path / "a.jsonl", records(30)))
    import_file(project, write(tmp_path / "g.jsonl", records(36)[30:]), gold=True)
    row = train(project, max_steps=20)
    assert row["status"] == "done", row
    assert set(row["scores"]["gold"]["labels"]) == {"Amenity", "restaurant_name", "Cuisine-Type"}
    meta = json.loads((Path(row["model_path"]) / "meta.json").read_text("utf-8"))
    assert set(meta["labels"]["ner"]) == {"Amenity", "restaurant_name", "Cuisine-Type"}


async def test_the_app_asks_about_a_lower_case_label(project: Project) -> None:
    [tid] = [project.store.add_text("find chez lou with wifi near me")[0]]
    propose(project, tid, "restaurant_name", "chez lou", "llm")
    app = app_for(project, label_pass="restaurant_name")
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_question(pilot)
        assert "restaurant_name" in shown(app, "ann-info")
        await pilot.press("y")
        await pilot.pause()
    live = project.store.query("SELECT answer FROM answers")
    assert [r["answer"] for r in live] == ["accept"]
