"""Silver data: the LLM's proposals on pool texts nobody reviewed train too (train set only,
never dev, never gold); `silver = "auto"` trains with and without and keeps the better on gold."""

from __future__ import annotations

from pathlib import Path

import spacy

from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Span
from nerloop.core.tokens import token_span
from nerloop.core.training.data import annotation_doc, build_training_data
from nerloop.core.training.runner import train
from nerloop.core.training.silver import silver_annotations, with_silver
from tests.helpers.training_fixtures import Sample, add_answered, add_gold, new_project, samples

STEPS = 60
SWAP = {"PRICE": "LOCATION", "LOCATION": "PRICE"}


def add_llm_only(
    project: Project, data: list[Sample], *, garbage: bool = False, labels: tuple[str, ...] = ()
) -> list[int]:
    """Texts the LLM ran over (for `labels`, default both) and proposed on, nobody answered.
    `garbage`: every span with the other label."""
    ids = []
    for sample in data:
        text_id, _ = project.store.add_text(sample.text)
        doc = project.nlp.make_doc(sample.text)
        for span in sample.spans:
            if labels and span.label not in labels:
                continue
            b = token_span(doc, span.start, span.end)
            assert b is not None
            label = SWAP[span.label] if garbage else span.label
            project.store.add_proposals([NewProposal(text_id, label, *b, "llm")])
        for label in labels or ("PRICE", "LOCATION"):
            project.store.mark_covered(label, "llm", [text_id])
        ids.append(text_id)
    return ids


def iob(doc: spacy.tokens.Doc) -> list[str]:
    return [t.ent_iob_ + ("-" + t.ent_type_ if t.ent_type_ else "") or "?" for t in doc]


def test_silver_texts_are_unreviewed_llm_texts_and_never_gold(project: Project) -> None:
    data = samples(8, seed=3)
    add_answered(project, data[:3])  # reviewed: never silver
    silver = add_llm_only(project, data[3:5])
    partial = add_llm_only(project, data[5:6], labels=("PRICE",))
    marked = add_llm_only(project, data[6:7])
    project.store.add_mark(marked[0], "flagged", "ann")  # looked at by a person: not silver
    gold, _ = project.store.add_text(data[7].text, split="gold")
    project.store.add_proposals(
        [NewProposal(gold, "PRICE", 0, 4, 0, 0, "llm")]  # the LLM on gold, for evaluate
    )
    project.store.mark_covered("PRICE", "llm", [gold])
    found = silver_annotations(project.store, project.taxonomy)
    assert [a.text_id for a in found] == [*silver, *partial]
    assert all(a.silver and not a.mark for a in found)
    by_id = {a.text_id: a for a in found}
    first = data[3]
    assert by_id[silver[0]].entities == [Span(s.start, s.end, s.label) for s in first.spans]
    nlp = spacy.blank("en")
    # Ran over for every ner label: O elsewhere (policy complete), as a reviewed text would be.
    doc = annotation_doc(nlp, by_id[silver[0]], "complete")
    assert "?" not in iob(doc) and len(doc.ents) == 2
    assert "O" not in iob(annotation_doc(nlp, by_id[silver[0]], "missing"))
    # Ran over for PRICE only: one missing-or-O value a token, so the rest stays missing.
    doc = annotation_doc(nlp, by_id[partial[0]], "complete")
    assert "O" not in iob(doc) and [e.label_ for e in doc.ents] == ["PRICE"]
    # Undoing the mark makes the text silver again.
    (flag,) = [r["id"] for r in project.store.query("SELECT id FROM text_marks")]
    project.store.undo_mark(flag, "ann")
    assert marked[0] in {a.text_id for a in silver_annotations(project.store, project.taxonomy)}


def test_silver_goes_into_the_train_set_only(project: Project) -> None:
    data = samples(30, seed=4)
    add_answered(project, data[:10])
    silver = add_llm_only(project, data[10:])
    base = build_training_data(project.store, project.taxonomy, "complete")
    more = with_silver(base, project.store, project.taxonomy)
    assert more.dev == base.dev
    assert [a.text_id for a in more.train] == [a.text_id for a in base.train] + silver
    assert more.counts()["silver_texts"] == 20 and base.counts()["silver_texts"] == 0
    assert not {a.text_id for a in more.dev} & set(silver)


def auto_run(root: Path, *, garbage: bool) -> dict[str, object]:
    """Few reviewed texts, many silver ones (right, or with every label swapped), gold."""
    project = new_project(root)
    data = samples(186, seed=5)
    add_answered(project, data[:6])
    add_llm_only(project, data[6:156], garbage=garbage)
    add_gold(project, data[156:])
    try:
        return train(project, max_steps=STEPS, silver="auto")
    finally:
        project.close()


def test_auto_keeps_right_silver_and_drops_garbage(tmp_path: Path) -> None:
    right = auto_run(tmp_path / "right", garbage=False)
    assert right["status"] == "done", right["scores"]
    silver = right["scores"]["silver"]  # type: ignore[index]
    assert silver["chosen"] == "with", silver
    assert silver["gold_f_with"] > silver["gold_f_without"]
    assert right["counts"]["silver_texts"] == 150  # type: ignore[index]
    assert right["scores"]["gold"]["overall"]["f"] == silver["gold_f_with"]  # type: ignore[index]

    garbage = auto_run(tmp_path / "garbage", garbage=True)
    assert garbage["status"] == "done", garbage["scores"]
    silver = garbage["scores"]["silver"]  # type: ignore[index]
    assert silver["chosen"] == "without", silver
    assert silver["gold_f_with"] < silver["gold_f_without"]
    assert garbage["counts"]["silver_texts"] == 0  # type: ignore[index]
    assert garbage["counts"]["silver"]["available"] == 150  # type: ignore[index]


def test_auto_without_gold_trains_without_silver_and_says_so(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    data = samples(40, seed=6)
    add_answered(project, data[:10])
    add_llm_only(project, data[10:])
    row = train(project, max_steps=5, silver="auto")
    assert row["status"] == "done", row["scores"]
    silver = row["scores"]["silver"]
    assert silver["chosen"] == "without" and "no gold" in silver["note"]
    assert row["counts"]["silver_texts"] == 0 and silver["available"] == 30
    on = train(project, max_steps=5, silver="on")
    assert on["counts"]["silver_texts"] == 30 and on["scores"]["silver"]["chosen"] == "with"
    project.close()


def test_the_data_line_says_how_many_silver_texts_and_why_none() -> None:
    from nerloop.core.training.event_lines import event_line

    counts = {
        "train_texts": 12,
        "complete_texts": 12,
        "dev_texts": 3,
        "policy": "complete",
        "entities": {"PRICE": 4},
        "silver_texts": 9,
        "silver": {"setting": "on", "available": 9},
    }
    line = event_line({"event": "data", "counts": counts})
    assert line is not None and "; 9 silver texts" in line
    note = "no gold to decide by: trained without silver"
    counts |= {"silver_texts": 0, "silver": {"setting": "auto", "available": 9, "note": note}}
    line = event_line({"event": "data", "counts": counts})
    assert line is not None and "silver texts" not in line and line.endswith(note)


def test_nerloop_train_silver_overrides_the_setting(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from nerloop.tui.cli import main

    project = new_project(tmp_path)
    data = samples(30, seed=7)
    add_answered(project, data[:10])
    add_llm_only(project, data[10:])
    (project.path / "nerloop.toml").write_text('silver = "off"\n', "utf-8")
    path = str(project.path)
    project.close()
    args = ["train", "-p", path, "--max-steps", "3", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["counts"]["silver_texts"] == 0  # the setting: off
    result = CliRunner().invoke(main, [*args, "--silver", "on"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.output)["counts"]
    assert counts["silver_texts"] == 20 and counts["silver"]["setting"] == "on"
