"""Export: Prodigy JSONL, spaCy DocBin and CoNLL, and import(export(x)) == x for each format."""

from __future__ import annotations

import io
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core.export import (
    INCORRECT_SPANS_KEY,
    answered_texts,
    export,
    is_dev,
    non_overlapping,
)
from nerloop.core.ingest import import_file
from nerloop.core.project import Project
from nerloop.core.records import NewProposal, Source, Span, task_hash
from nerloop.core.tokens import token_span
from tests.helpers.io_helpers import answers, gold, make_project, texts

WHEAT = "heard wheat bid 250 usd/t fob rouen"
CORN = "corn offered cif rotterdam"
BRENT = "brent trades 82.10 usd/bbl"
ODD = "two  spaces\nand a line break: fob houston"
UNANSWERED = "nobody looked at this one"
GOLD_A = "soybeans 410 usd/t cfr qingdao"
GOLD_B = "nothing of interest"
GOLD_DRAFT = "gold that is not finished yet"


@pytest.fixture
def project(tmp_path: Path, taxonomy_file: Path) -> Iterator[Project]:
    p = make_project(tmp_path / "x", taxonomy_file)
    yield p
    p.close()


def fresh(tmp_path: Path, name: str, like: Project) -> Project:
    """An empty project with the taxonomy of `like`."""
    return make_project(tmp_path / name, like.taxonomy_path)


def _span(project: Project, text: str, sub: str, label: str, nth: int = 0) -> Span:
    start = -1
    for _ in range(nth + 1):
        start = text.index(sub, start + 1)
    fit = token_span(project.nlp.make_doc(text), start, start + len(sub))
    assert fit is not None, (text, sub)
    return Span(fit[0], fit[1], label, fit[2], fit[3])


def _propose(project: Project, text_id: int, span: Span, source: Source = "llm") -> int:
    (pid,) = project.store.add_proposals(
        [
            NewProposal(
                text_id,
                span.label,
                span.start,
                span.end,
                span.token_start or 0,
                span.token_end or 0,
                source,
            )
        ]
    )
    return pid


def populate(project: Project) -> None:
    """A project with the cases an export must carry: several annotators, accept/reject/ignore,
    an edited span, an undo, a text with odd whitespace, gold with and without spans, a gold
    draft, and a text nobody answered."""
    s = project.store
    t_wheat, _ = s.add_text(WHEAT, meta={"id": 1, "desk": "grains"})
    t_corn, _ = s.add_text(CORN)
    t_brent, _ = s.add_text(BRENT, meta={"nested": {"a": [1, 2]}})
    t_odd, _ = s.add_text(ODD)
    s.add_text(UNANSWERED)
    sp = lambda text, sub, label, nth=0: _span(project, text, sub, label, nth)  # noqa: E731
    s.add_answer(_propose(project, t_wheat, sp(WHEAT, "250 usd/t", "PRICE")), "accept", "alice")
    s.add_answer(_propose(project, t_wheat, sp(WHEAT, "wheat", "LOCATION")), "reject", "alice")
    s.add_answer(
        _propose(project, t_wheat, sp(WHEAT, "rouen", "LOCATION"), "model"), "accept", "bob"
    )
    s.add_answer(_propose(project, t_corn, sp(CORN, "rotterdam", "LOCATION")), "ignore", "bob")
    s.add_answer(
        _propose(project, t_corn, sp(CORN, "rotterdam", "LOCATION"), "rule"), "accept", "alice"
    )
    undone = s.add_answer(_propose(project, t_corn, sp(CORN, "corn", "PRICE")), "reject", "alice")
    s.undo_answer(undone, "alice")
    # The annotator moved the end of "82.10" to take the unit in before accepting.
    pid = _propose(project, t_brent, sp(BRENT, "82.10", "PRICE"))
    s.add_answer(pid, "accept", "alice", span=sp(BRENT, "82.10 usd/bbl", "PRICE"))
    s.add_answer(_propose(project, t_odd, sp(ODD, "houston", "LOCATION")), "accept", "alice")
    s.add_answer(_propose(project, t_odd, sp(ODD, "spaces", "PRICE")), "reject", "bob")
    g_a, _ = s.add_text(GOLD_A, meta={"from": "desk"})
    s.save_gold(
        g_a,
        "alice",
        [sp(GOLD_A, "410 usd/t", "PRICE"), sp(GOLD_A, "qingdao", "LOCATION")],
        done=True,
    )
    s.save_gold(g_a, "bob", [sp(GOLD_A, "qingdao", "LOCATION")], done=True)
    g_b, _ = s.add_text(GOLD_B)
    s.save_gold(g_b, "carol", [], done=True)
    g_d, _ = s.add_text(GOLD_DRAFT)
    s.save_gold(g_d, "alice", [], done=False)


def decisions(project: Project) -> dict[str, tuple[list[Span], list[Span]]]:
    return {t.text: (t.accepted, t.rejected) for t in answered_texts(project.store)}


def test_answered_texts_latest_answer_decides_and_ignore_does_not(project: Project) -> None:
    populate(project)
    got = decisions(project)
    assert got[WHEAT] == (
        [Span(16, 25, "PRICE", 3, 6), Span(30, 35, "LOCATION", 8, 8)],
        [Span(6, 11, "LOCATION", 1, 1)],
    )
    # bob's ignore and alice's undone reject decide nothing; alice's accept stands.
    assert got[CORN] == ([Span(17, 26, "LOCATION", 3, 3)], [])
    # The edited span is the one accepted; the proposal's own span was judged wrong, as
    # training reads it.
    assert got[BRENT] == ([Span(13, 26, "PRICE", 2, 5)], [Span(13, 18, "PRICE", 2, 2)])
    assert UNANSWERED not in got and GOLD_A not in got
    # A later reject by another annotator overturns an accept.
    pid = project.store.proposals_for(1, "PRICE")[0].id
    project.store.add_answer(pid, "reject", "bob")
    assert decisions(project)[WHEAT][0] == [Span(30, 35, "LOCATION", 8, 8)]


def test_non_overlapping_keeps_longest() -> None:
    kept, dropped = non_overlapping([Span(0, 5, "A"), Span(3, 12, "B"), Span(13, 15, "C")])
    assert kept == [Span(3, 12, "B"), Span(13, 15, "C")]
    assert dropped == [Span(0, 5, "A")]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_prodigy_export_records(project: Project, tmp_path: Path) -> None:
    populate(project)
    out = tmp_path / "out.jsonl"
    summary = export(project, out, "prodigy")
    recs = _records(out)
    # Live answers on pool texts, the reject of the edited proposal's span, and done gold.
    assert summary.records == len(recs) == 8 + 1 + 3
    first = recs[0]
    assert set(first) >= {
        "text",
        "meta",
        "_input_hash",
        "_task_hash",
        "spans",
        "answer",
        "_view_id",
        "_session_id",
        "tokens",
    }
    assert first["text"] == WHEAT and first["meta"] == {"id": 1, "desk": "grains"}
    assert first["spans"] == [
        {"start": 16, "end": 25, "label": "PRICE", "token_start": 3, "token_end": 6}
    ]
    assert (first["answer"], first["_view_id"], first["_session_id"]) == ("accept", "ner", "alice")
    assert first["tokens"][3] == {"text": "250", "start": 16, "end": 19, "id": 3, "ws": True}
    edited = [(r["answer"], r["spans"][0]["end"]) for r in recs if r["text"] == BRENT]
    assert edited == [("accept", 26), ("reject", 18)]
    for r in recs[:9]:  # a binary task's hash is that of its text, label and span
        (span,) = r["spans"]
        assert r["_task_hash"] == task_hash(
            r["_input_hash"], span["label"], span["start"], span["end"]
        )
    gold_recs = [r for r in recs if r["_view_id"] == "ner_manual"]
    assert [(r["text"], r["_session_id"], r["answer"], r.get("_split")) for r in gold_recs] == [
        (GOLD_A, "alice", "accept", "gold"),
        (GOLD_A, "bob", "accept", "gold"),
        (GOLD_B, "carol", "accept", "gold"),
    ]
    assert [s["label"] for s in gold_recs[0]["spans"]] == ["PRICE", "LOCATION"]
    assert UNANSWERED not in out.read_text("utf-8") and GOLD_DRAFT not in out.read_text("utf-8")
    export(project, out, "prodigy", gold_only=True)
    assert [r["_view_id"] for r in _records(out)] == ["ner_manual"] * 3


def _exported_texts(project: Project) -> dict:
    """The texts an export carries: pool texts with answers, and finished gold texts."""
    keep = set(decisions(project)) | {text for text, _ in gold(project.store)}
    return {k: v for k, v in texts(project.store).items() if k in keep}


def test_prodigy_round_trip(project: Project, tmp_path: Path) -> None:
    populate(project)
    first = tmp_path / "first.jsonl"
    export(project, first, "prodigy")
    y = fresh(tmp_path, "y", project)
    summary = import_file(y, first)
    assert summary.format == "prodigy" and summary.rejected == 0
    # The copy holds the answers, and the edited accept as what it says: the proposal's own
    # span was rejected (so that training on the copy learns the same).
    assert answers(y.store) == answers(project.store) + Counter(
        [(BRENT, "PRICE", 13, 18, 2, 2, "reject", "alice")]
    )
    assert gold(y.store) == gold(project.store)
    assert texts(y.store) == _exported_texts(project)
    assert decisions(y) == decisions(project)
    # And the export of the copy is the same file (but for the time stamps).
    second = tmp_path / "second.jsonl"
    export(y, second, "prodigy")
    strip = lambda recs: [{k: v for k, v in r.items() if k != "_timestamp"} for r in recs]  # noqa: E731
    assert strip(_records(second)) == strip(_records(first))
    y.close()


def test_conll_export_and_round_trip(project: Project, tmp_path: Path) -> None:
    populate(project)
    out = tmp_path / "out.conll"
    summary = export(project, out, "conll")
    body = out.read_text("utf-8")
    assert body.startswith(
        '# text = heard wheat bid 250 usd/t fob rouen\n# meta = {"id":1,"desk":"grains"}\n'
        "heard\tO\nwheat\tO\nbid\tO\n250\tB-PRICE\nusd\tI-PRICE\n/\tI-PRICE\nt\tI-PRICE\n"
        "fob\tO\nrouen\tB-LOCATION\n\n"
    )
    assert '# text_json = "two  spaces\\nand a line break: fob houston"\n' in body
    # Pool texts with an accepted span (4), then finished gold texts (latest annotation, 2).
    assert summary.texts == 6
    assert body.count("# split = gold") == 2
    y = fresh(tmp_path, "y", project)
    import_file(y, out)
    assert {k: v[0] for k, v in decisions(y).items()} == {
        k: v[0] for k, v in decisions(project).items() if v[0]
    }

    def gold_texts(p: Project) -> list[tuple[str, list[Span]]]:
        return sorted((text, spans) for _, text, spans in p.store.gold_examples())

    assert gold_texts(y) == gold_texts(project)
    assert texts(y.store) == {
        k: v for k, v in _exported_texts(project).items() if k in decisions(y) or v[0] == "gold"
    }
    second = tmp_path / "second.conll"
    export(y, second, "conll")
    assert second.read_text("utf-8") == body
    y.close()


def test_spacy_docbin_export(project: Project, tmp_path: Path) -> None:
    from spacy.tokens import DocBin

    populate(project)
    for i in range(20):  # enough texts that both train and dev get some
        text = f"offer number {i} at 30{i} usd/t"
        tid, _ = project.store.add_text(text)
        project.store.add_answer(
            _propose(project, tid, _span(project, text, f"30{i} usd/t", "PRICE")), "accept", "alice"
        )
    out = tmp_path / "corpus"
    summary = export(project, out, "spacy")
    vocab = project.nlp.vocab
    train = list(DocBin().from_disk(out / "train.spacy").get_docs(vocab))
    dev = list(DocBin().from_disk(out / "dev.spacy").get_docs(vocab))
    test = list(DocBin().from_disk(out / "test.spacy").get_docs(vocab))
    assert train and dev
    assert summary.files == {"train.spacy": len(train), "dev.spacy": len(dev), "test.spacy": 2}
    expected = decisions(project)
    assert {d.text for d in train + dev} == set(expected)
    for d in train + dev:
        accepted, rejected = expected[d.text]
        assert [(e.start_char, e.end_char, e.label_) for e in d.ents] == [
            (s.start, s.end, s.label) for s in accepted
        ]
        assert sorted(
            (e.start_char, e.end_char, e.label_) for e in d.spans[INCORRECT_SPANS_KEY]
        ) == [(s.start, s.end, s.label) for s in rejected]
        # Tokens no accepted span covers are missing, not O: answers are partial.
        assert all(t.ent_iob_ == "" for t in d if not t.ent_type_)
    from nerloop.core.records import input_hash

    assert all(is_dev(input_hash(d.text)) for d in dev)
    assert not any(is_dev(input_hash(d.text)) for d in train)
    gold_docs = {d.text: d for d in test}
    assert set(gold_docs) == {GOLD_A, GOLD_B}
    assert [(e.text, e.label_) for e in gold_docs[GOLD_A].ents] == [
        ("qingdao", "LOCATION")
    ]  # bob's, the latest
    assert all(t.ent_iob_ == "O" for t in gold_docs[GOLD_B])  # gold is complete
    export(project, tmp_path / "goldonly", "spacy", gold_only=True)
    assert sorted(p.name for p in (tmp_path / "goldonly").iterdir()) == ["test.spacy"]


def test_exports_never_contain_settings(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NERLOOP_LLM_API_KEY", "sk-very-secret-123")
    (project.path / "nerloop.toml").write_text('llm_model = "secret-model-name-xyz"\n', "utf-8")
    populate(project)
    export(project, tmp_path / "a.jsonl", "prodigy")
    export(project, tmp_path / "a.conll", "conll")
    export(project, tmp_path / "sp", "spacy")
    for f in [tmp_path / "a.jsonl", tmp_path / "a.conll", *sorted((tmp_path / "sp").iterdir())]:
        data = f.read_bytes()
        assert b"sk-very-secret-123" not in data and b"secret-model-name-xyz" not in data


def test_export_to_a_stream_and_atomic_file(project: Project, tmp_path: Path) -> None:
    populate(project)
    buf = io.StringIO()
    summary = export(project, tmp_path / "ignored", "conll", stdout=buf)
    assert summary.out == "-" and buf.getvalue().startswith("# text = ")
    assert not (tmp_path / "ignored").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    out = tmp_path / "a.conll"
    export(project, out, "conll")
    umask = os.umask(0o022)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_msgpack_registry_cache_is_undone() -> None:
    from srsly import msgpack

    from nerloop.core.export import msgpack_registries_cached

    before = msgpack.msgpack_encoders.get_all()
    with msgpack_registries_cached():
        assert msgpack.msgpack_encoders.get_all() == before
        assert "get_all" in vars(msgpack.msgpack_encoders)
    assert "get_all" not in vars(msgpack.msgpack_encoders)
    assert "get_all" not in vars(msgpack.msgpack_decoders)
