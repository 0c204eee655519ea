"""The import job: what each format stores, dedupe, gold, answers, and one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from nerloop.core.ingest import ImportFailed, import_file
from nerloop.core.project import Project
from nerloop.core.records import input_hash
from tests.helpers.io_helpers import DATA, answers, gold, make_project, snapshot, texts, write


@pytest.fixture
def project(tmp_path: Path, taxonomy_file: Path) -> Iterator[Project]:
    p = make_project(tmp_path / "proj", taxonomy_file)
    yield p
    p.close()


WHEAT = "heard wheat bid 250 usd/t fob rouen"
CORN = "corn offered cif rotterdam"


def test_jsonl_stores_texts_meta_and_spans_as_accepted_import_answers(project: Project) -> None:
    summary = import_file(project, DATA / "texts.jsonl")
    assert (summary.added, summary.duplicates, summary.rejected) == (3, 1, 0)
    assert summary.answers == 3
    assert texts(project.store) == {
        WHEAT: ("pool", {"id": 1}),
        CORN: ("pool", {"source": "desk"}),
        "brent trades 82.10 usd/bbl": ("pool", {}),
    }
    assert answers(project.store) == {
        (WHEAT, "PRICE", 16, 25, 3, 6, "accept", "import"): 1,
        (WHEAT, "LOCATION", 30, 35, 8, 8, "accept", "import"): 1,
        (CORN, "LOCATION", 17, 26, 3, 3, "accept", "import"): 1,
    }
    props = project.store.proposals_for(1)
    assert {p.source for p in props} == {"import"}
    assert project.store.imports()[-1] | {"created": None, "id": None} == {
        "id": None,
        "path": str(DATA / "texts.jsonl"),
        "format": "jsonl",
        "split": "pool",
        "added": 3,
        "duplicates": 1,
        "rejected": 0,
        "answers": 3,
        "created": None,
    }


def test_dedupe_within_and_across_files_and_reimport_adds_nothing(
    project: Project, tmp_path: Path
) -> None:
    import_file(project, DATA / "texts.txt")
    assert project.store.count_texts() == 2
    other = write(tmp_path / "more.txt", f"{CORN}\nsomething new\n{CORN}\n")
    summary = import_file(project, other)
    assert (summary.added, summary.duplicates) == (1, 2)
    before = snapshot(project.store)
    again = import_file(project, DATA / "texts.jsonl")
    assert again.added == 1  # only the brent text is new
    twice = import_file(project, DATA / "texts.jsonl")
    assert (twice.added, twice.duplicates, twice.answers) == (0, 4, 0)
    assert len(snapshot(project.store)["answers"]) == 3
    assert len(before["texts"]) + 1 == project.store.count_texts()


def test_csv_and_text_and_conll_import(project: Project) -> None:
    csv_summary = import_file(project, DATA / "texts.csv")
    assert csv_summary.added == 3
    assert texts(project.store)["two\nlines"] == ("pool", {"id": "3", "desk": "energy"})
    conll_summary = import_file(project, DATA / "sample.conll")
    assert (conll_summary.added, conll_summary.answers) == (2, 3)
    assert (
        answers(project.store)[
            ("heard wheat bid 250 usd/t fob  rouen", "LOCATION", 31, 36, 9, 9, "accept", "import")
        ]
        == 1
    )


def test_prodigy_answers_by_annotator_and_reimport_is_a_no_op(project: Project) -> None:
    summary = import_file(project, DATA / "prodigy.jsonl")
    assert summary.format == "prodigy"  # guessed from the records, not the extension
    assert (summary.added, summary.duplicates, summary.answers) == (3, 1, 5)
    assert answers(project.store) == {
        (WHEAT, "PRICE", 16, 25, 3, 6, "accept", "heards-alice"): 1,
        (WHEAT, "LOCATION", 6, 11, 1, 1, "reject", "heards-alice"): 1,
        (CORN, "LOCATION", 17, 26, 3, 3, "ignore", "heards-bob"): 1,
        ("soybeans 410 usd/t cfr qingdao", "PRICE", 9, 18, 1, 4, "accept", "import"): 1,
        ("soybeans 410 usd/t cfr qingdao", "LOCATION", 23, 30, 6, 6, "accept", "import"): 1,
    }
    again = import_file(project, DATA / "prodigy.jsonl")
    assert (again.added, again.answers) == (0, 0)
    assert sum(answers(project.store).values()) == 5


def test_prodigy_record_without_answer_is_a_plain_record(project: Project, tmp_path: Path) -> None:
    f = write(
        tmp_path / "stream.jsonl",
        json.dumps(
            {"text": CORN, "_input_hash": 1, "spans": [{"start": 0, "end": 4, "label": "PRICE"}]}
        ),
    )
    summary = import_file(project, f)
    assert summary.format == "prodigy"
    assert answers(project.store) == {(CORN, "PRICE", 0, 4, 0, 0, "accept", "import"): 1}


def test_gold_import(project: Project, tmp_path: Path) -> None:
    import_file(project, DATA / "texts.txt")  # WHEAT and CORN in the pool
    f = write(
        tmp_path / "gold.jsonl",
        "\n".join(
            json.dumps(r)
            for r in [
                {"text": WHEAT, "spans": [{"start": 16, "end": 25, "label": "PRICE"}]},
                {"text": "nothing to see here"},  # gold with no entities is gold too
            ]
        ),
    )
    summary = import_file(project, f, gold=True)
    assert (summary.added, summary.duplicates, summary.gold, summary.moved_to_gold) == (1, 1, 2, 1)
    assert texts(project.store)[WHEAT][0] == "gold"
    assert texts(project.store)["nothing to see here"][0] == "gold"
    assert texts(project.store)[CORN][0] == "pool"
    assert gold(project.store) == {
        (WHEAT, "import"): [(16, 25, "PRICE")],
        ("nothing to see here", "import"): [],
    }
    assert project.store.count_gold() == 2
    assert not answers(project.store)  # gold never becomes training answers
    wheat = project.store.text_by_hash(input_hash(WHEAT))
    assert wheat is not None
    assert project.store.gold_for(wheat.id)[0]["spans"][0].token_start == 3


def test_prodigy_gold_merges_binary_records_and_skips_rejects(project: Project) -> None:
    summary = import_file(project, DATA / "prodigy.jsonl", gold=True)
    assert summary.skipped == 2  # the reject and the ignore
    assert gold(project.store) == {
        (WHEAT, "heards-alice"): [(16, 25, "PRICE")],
        ("soybeans 410 usd/t cfr qingdao", "import"): [(9, 18, "PRICE"), (23, 30, "LOCATION")],
    }
    assert CORN not in texts(project.store)


def test_prodigy_gold_records_of_one_text_and_annotator_add_up(
    project: Project, tmp_path: Path
) -> None:
    recs = [
        {
            "text": WHEAT,
            "spans": [{"start": 16, "end": 25, "label": "PRICE"}],
            "answer": "accept",
            "_session_id": "a",
        },
        {
            "text": WHEAT,
            "spans": [{"start": 30, "end": 35, "label": "LOCATION"}],
            "answer": "accept",
            "_session_id": "a",
        },
    ]
    f = write(tmp_path / "g.jsonl", "\n".join(json.dumps(r) for r in recs))
    import_file(project, f, gold=True, batch=1)  # across batches too
    assert gold(project.store) == {(WHEAT, "a"): [(16, 25, "PRICE"), (30, 35, "LOCATION")]}
    # A later import of the same file replaces, it does not pile up.
    import_file(project, f, gold=True)
    assert gold(project.store) == {(WHEAT, "a"): [(16, 25, "PRICE"), (30, 35, "LOCATION")]}


def test_bom_and_crlf_are_accepted(project: Project, tmp_path: Path) -> None:
    f = write(tmp_path / "a.jsonl", b'\xef\xbb\xbf{"text": "a b"}\r\n{"text": "c d"}\r\n')
    import_file(project, f)
    c = write(tmp_path / "b.csv", b"\xef\xbb\xbftext,id\r\ne f,1\r\n")
    import_file(project, c)
    assert set(texts(project.store)) == {"a b", "c d", "e f"}


# -- bad input ---------------------------------------------------------------------------------

GOOD = json.dumps({"text": WHEAT}) + "\n"


def _span_rec(text: str, **span: object) -> str:
    return json.dumps({"text": text, "spans": [span]})


BAD_JSONL = [
    (
        '{"text": "a",}',
        "f.jsonl:2: invalid JSON: Expecting property name enclosed in double quotes (column 14)",
    ),
    ('{"meta": {}}', "f.jsonl:2: field text: is missing"),
    ('{"text": 5}', "f.jsonl:2: field text: must be a string, not a number"),
    ('{"text": null}', "f.jsonl:2: field text: must be a string, not null"),
    ('{"text": "   "}', "f.jsonl:2: field text: is empty (or only whitespace)"),
    ('{"text": "a\\u0000b"}', "f.jsonl:2: field text: contains a NUL character at character 1"),
    ('{"text": "a", "meta": [1]}', "f.jsonl:2: field meta: must be an object, not an array"),
    ("[1, 2]", "f.jsonl:2: must be a JSON object, not an array (JSONL needs one object per line)"),
    ('{"text": "a", "spans": {}}', "f.jsonl:2: field spans: must be an array, not an object"),
    (
        _span_rec(WHEAT, start=0, end=99, label="PRICE"),
        "f.jsonl:2: field spans[0]: span 0-99 is out of range: the text has 35 characters",
    ),
    (
        _span_rec(WHEAT, start=-1, end=3, label="PRICE"),
        "f.jsonl:2: field spans[0]: span -1-3 is out of range: the text has 35 characters",
    ),
    (
        _span_rec(WHEAT, start=1, end=5, label="PRICE"),
        "f.jsonl:2: field spans[0]: span 1-5 ('eard') is not on token boundaries; "
        "the nearest token span is 0-5",
    ),
    (
        _span_rec(WHEAT, start=0, end=5, label="FOO"),
        "f.jsonl:2: field spans[0].label: unknown label 'FOO' "
        "(taxonomy: COMMODITY, INCOTERM, LOCATION, PRICE)",
    ),
    (
        _span_rec(WHEAT, start="0", end=5, label="PRICE"),
        'f.jsonl:2: field spans[0].start: must be an integer, not "0"',
    ),
    (
        _span_rec(WHEAT, start=0, end=5.0, label="PRICE"),
        "f.jsonl:2: field spans[0].end: must be an integer, not 5.0",
    ),
    (_span_rec(WHEAT, start=0, label="PRICE"), "f.jsonl:2: field spans[0].end: is missing"),
    (_span_rec(WHEAT, start=0, end=5), "f.jsonl:2: field spans[0].label: is missing"),
    (
        _span_rec(WHEAT, start=5, end=5, label="PRICE"),
        "f.jsonl:2: field spans[0]: start 5 must be less than end 5",
    ),
    (
        json.dumps(
            {
                "text": WHEAT,
                "spans": [
                    {"start": 16, "end": 25, "label": "PRICE"},
                    {"start": 20, "end": 25, "label": "LOCATION"},
                ],
            }
        ),
        "f.jsonl:2: field spans[1]: span 20-25 LOCATION overlaps span 16-25 PRICE (spans[0])",
    ),
]


@pytest.mark.parametrize(("line", "message"), BAD_JSONL)
def test_bad_jsonl_line_fails_the_whole_file(
    project: Project, tmp_path: Path, line: str, message: str
) -> None:
    f = write(tmp_path / "f.jsonl", GOOD + line + "\n" + json.dumps({"text": CORN}) + "\n")
    with pytest.raises(ImportFailed) as err:
        import_file(project, f)
    first = str(err.value).splitlines()[0]
    assert first == message.replace("f.jsonl", str(f))
    assert project.store.count_texts() == 0


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (
            b'{"text": "caf\xe9"}\n',
            "jsonl",
            "f:1: not valid UTF-8 (byte 0xe9 at byte 13 of the line); save the file as UTF-8",
        ),
        (
            b'{"text": "a", "answer": "maybe"}\n',
            "prodigy",
            'f:1: field answer: must be accept, reject or ignore, not "maybe"',
        ),
        (
            b'{"text": "a", "answer": "accept", "_session_id": 3}\n',
            "prodigy",
            "f:1: field _session_id: must be a string, not a number",
        ),
        (
            b'{"text": "a b", "answer": "accept", "spans": '
            b'[{"start": 0, "end": 1, "label": "PRICE", "token_start": "0"}]}\n',
            "prodigy",
            'f:1: field spans[0].token_start: must be an integer, not "0"',
        ),
        (b"text,id\na,1\nb,2,3\n", "csv", "f:3: row has 3 fields, the header has 2"),
        (b"text,id\na,1\n,2\n", "csv", "f:3: field text: is empty (or only whitespace)"),
        (
            b"id,text\n1,a\n2,caf\xe9\n",
            "csv",
            "f:3: not valid UTF-8 (byte 0xe9 at byte 5 of the line); save the file as UTF-8",
        ),
        (
            b"id,body\n1,a\n",
            "csv",
            "f:1: field text: the header has no column 'text' (columns: id, body); "
            "name the text column with --text-column",
        ),
        (
            b"fine\nnul\x00here\n",
            "text",
            "f:2: field text: contains a NUL character at character 3",
        ),
        ("hi\n".encode("utf-16"), "text", "f:1: the file is UTF-16 encoded; save it as UTF-8"),
        (
            b"fine\n\xff\xfe\n",
            "text",
            "f:2: not valid UTF-8 (byte 0xff at byte 0 of the line); save the file as UTF-8",
        ),
        (
            b"a\tO\nb\tX-PRICE\n",
            "conll",
            "f:2: field tag: 'X-PRICE' is not a BIO tag (O, B-LABEL or I-LABEL)",
        ),
        (
            b"a\tO\n\nb\tO\nc\tB-FOO\n",
            "conll",
            "f:4: field tag: unknown label 'FOO' in 'B-FOO' "
            "(taxonomy: COMMODITY, INCOTERM, LOCATION, PRICE)",
        ),
        (
            b"a\tO\nlonely\n",
            "conll",
            "f:2: expected a token and a tag separated by a tab or a space",
        ),
        (
            b"# text = heard wheat\nheard\tO\nbarley\tO\n",
            "conll",
            "f:3: field token: 'barley' is not the next token of the `# text` line (line 1), "
            "which has 'wheat' at character 6",
        ),
        (
            b"# text = heard wheat now\nheard\tO\nwheat\tO\n",
            "conll",
            "f:1: field text: the text goes on after the last token: ' now'",
        ),
        (
            b"# text = wheat\nwh\tB-PRICE\neat\tO\n",
            "conll",
            "f:2: field tag: span 0-2 ('wh') is not on token boundaries; "
            "the nearest token span is 0-5",
        ),
        (
            b"x\tO\ny\tB-PRICE\n\nbad\xe9\tO\n",
            "conll",
            "f:4: not valid UTF-8 (byte 0xe9 at byte 3 of the line); save the file as UTF-8",
        ),
    ],
)
def test_bad_input_per_format(
    project: Project, tmp_path: Path, content: bytes, fmt: str, message: str
) -> None:
    f = write(tmp_path / "f", content)
    with pytest.raises(ImportFailed) as err:
        import_file(project, f, fmt=fmt)  # type: ignore[arg-type]
    assert str(err.value).splitlines()[0] == message.replace("f:", f"{f}:", 1)
    assert project.store.count_texts() == 0


def test_failed_import_leaves_earlier_data_untouched_across_batches(
    project: Project, tmp_path: Path
) -> None:
    import_file(project, DATA / "prodigy.jsonl")
    before = snapshot(project.store)
    lines = [
        json.dumps(
            {"text": f"text number {i}", "spans": [{"start": 0, "end": 4, "label": "PRICE"}]}
        )
        for i in range(450)
    ]
    lines.append('{"text": ')
    f = write(tmp_path / "big.jsonl", "\n".join(lines) + "\n")
    with pytest.raises(ImportFailed) as err:
        import_file(project, f, batch=100)  # four batches reach the database, then a bad line
    assert f"{f}:451: invalid JSON" in str(err.value)
    assert "nothing imported: 1 invalid record." in str(err.value)
    assert snapshot(project.store) == before


def test_failure_lists_twenty_errors_and_a_count(project: Project, tmp_path: Path) -> None:
    f = write(tmp_path / "bad.txt", "ok\n" + "nul\x00\n" * 25)
    with pytest.raises(ImportFailed) as err:
        import_file(project, f)
    lines = str(err.value).splitlines()
    assert lines[0] == f"{f}:2: field text: contains a NUL character at character 3"
    assert lines[19] == f"{f}:21: field text: contains a NUL character at character 3"
    assert lines[20] == "... and 5 more"
    assert "nothing imported: 25 invalid records" in lines[21]
    assert err.value.summary is not None and err.value.summary.rejected == 25


def test_skip_invalid_stores_the_rest_and_lists_the_bad(project: Project, tmp_path: Path) -> None:
    f = write(
        tmp_path / "mixed.jsonl",
        "\n".join(
            [
                json.dumps({"text": WHEAT, "spans": [{"start": 16, "end": 25, "label": "PRICE"}]}),
                '{"text": 1}',
                json.dumps({"text": CORN, "spans": [{"start": 0, "end": 4, "label": "NOPE"}]}),
                "not json",
                json.dumps({"text": "last one"}),
            ]
        ),
    )
    summary = import_file(project, f, skip_invalid=True)
    assert (summary.added, summary.rejected, summary.answers) == (2, 3, 1)
    assert [e.split(": ")[0] for e in summary.errors] == [f"{f}:2", f"{f}:3", f"{f}:4"]
    assert set(texts(project.store)) == {WHEAT, "last one"}
    assert project.store.imports()[-1]["rejected"] == 3


def test_json_document_over_many_lines_is_explained(project: Project, tmp_path: Path) -> None:
    f = write(tmp_path / "a.json", '[\n  {"text": "a"}\n]\n')
    with pytest.raises(ImportFailed, match=r"a\.json:1: '\[' alone on the first line.*jq -c"):
        import_file(project, f, skip_invalid=True)


def test_streaming_import_keeps_memory_flat(project: Project, tmp_path: Path) -> None:
    """A large file imports with Python memory far below the file's size (nothing is held)."""
    import tracemalloc

    n = 20_000
    filler = "x" * 480
    f = tmp_path / "big.jsonl"
    with f.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(json.dumps({"text": f"line {i} {filler}", "meta": {"i": i}}) + "\n")
    size = f.stat().st_size
    assert size > 9_000_000
    tracemalloc.start()
    try:
        summary = import_file(project, f)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.added == n
    assert project.store.count_texts() == n
    assert peak < size / 5, f"peak {peak} bytes for a {size}-byte file"


def test_checking_spans_does_not_grow_the_vocab(project: Project, tmp_path: Path) -> None:
    """Every new token string would stay in the vocab for good; imports free them (but for the
    first WARM_DOCS docs a pipeline sees, kept to warm its cache)."""
    from nerloop.core.ingest import WARM_DOCS, job_pipeline

    strings = job_pipeline("en").vocab.strings

    def unique_file(name: str, offset: int, n: int) -> Path:
        f = tmp_path / name
        with f.open("w", encoding="utf-8") as fh:
            for i in range(offset, offset + n):
                word = f"lot{i}"
                span = {"start": 0, "end": len(word), "label": "PRICE"}
                fh.write(json.dumps({"text": f"{word} at {i}.5{i}usd", "spans": [span]}) + "\n")
        return f

    import_file(project, unique_file("warm.jsonl", 0, WARM_DOCS))  # warms it if nothing did
    before = len(strings)
    summary = import_file(project, unique_file("unique.jsonl", WARM_DOCS, 2500))
    assert summary.added == 2500 and summary.answers == 2500
    assert len(strings) - before < 100  # without memory zones: about 5,000 more
