"""The format readers on their own: records, line numbers, fields, and format guessing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import pytest

from nerloop.core.formats import (
    FormatError,
    FormatGuessError,
    ImportedRecord,
    ImportFormat,
    LineError,
    Lines,
    guess_format,
    read_records,
)
from nerloop.core.formats.conll import write_text
from nerloop.core.records import Span
from tests.helpers.io_helpers import DATA, write


def read(content: bytes | str, fmt: str, name: str = "f", **kw: Any) -> list[Any]:
    raw = content.encode("utf-8") if isinstance(content, str) else content
    lines = Lines(io.BytesIO(raw))
    return list(read_records(lines, cast(ImportFormat, fmt), path=Path(name), **kw))


def test_lines_strip_bom_crlf_and_number_lines() -> None:
    lines = Lines(io.BytesIO(b"\xef\xbb\xbfone\r\ntwo\n\nthree"))
    assert list(lines) == [(1, "one"), (2, "two"), (3, ""), (4, "three")]
    assert lines.bytes_read == 18  # every byte, BOM and CR included


def test_lines_report_bad_utf8_on_its_line_and_go_on() -> None:
    out = list(Lines(io.BytesIO(b"ok\ncaf\xe9\nok again\n")))
    assert out[0] == (1, "ok")
    assert isinstance(out[1][1], LineError)
    assert out[1][1].line == 2
    assert "not valid UTF-8 (byte 0xe9 at byte 3" in out[1][1].message
    assert out[2] == (3, "ok again")


def test_jsonl_records_keep_meta_extra_keys_and_line_numbers() -> None:
    recs = read((DATA / "texts.jsonl").read_bytes(), "jsonl")
    assert [r.line for r in recs] == [1, 2, 4, 5]
    first, second = recs[0], recs[1]
    assert first.meta == {"id": 1}
    assert first.spans == [Span(16, 25, "PRICE"), Span(30, 35, "LOCATION")]
    # Unknown top-level keys go into meta, as CSV's other columns do.
    assert second.meta == {"source": "desk"}
    assert second.answer is None and second.annotator is None


def test_prodigy_records_carry_answer_annotator_and_gold_marker() -> None:
    recs = read((DATA / "prodigy.jsonl").read_bytes(), "prodigy")
    assert [r.answer for r in recs] == ["accept", "reject", "ignore", "accept"]
    assert [r.annotator for r in recs] == ["heards-alice", "heards-alice", "heards-bob", None]
    assert recs[3].meta == {"source": "chat"}  # `tokens` and `_` keys are not meta
    gold = read('{"text": "a", "answer": "accept", "_split": "gold"}\n', "prodigy")
    assert gold[0].gold is True
    # A span without a label takes the record's top-level label (ner.teach style).
    labelled = read(
        '{"text": "a b", "label": "PRICE", "spans": [{"start": 0, "end": 1}], "answer": "accept"}',
        "prodigy",
    )
    assert labelled[0].spans == [Span(0, 1, "PRICE")]


def test_csv_takes_text_column_and_other_columns_as_meta() -> None:
    recs = read((DATA / "texts.csv").read_bytes(), "csv")
    assert [(r.line, r.text) for r in recs] == [
        (2, "heard wheat bid 250 usd/t fob rouen"),
        (3, "corn offered cif rotterdam, prompt"),
        (5, "two\nlines"),
    ]
    assert recs[0].meta == {"id": "1", "desk": "grains"}


def test_csv_other_text_column_and_tsv(tmp_path: Path) -> None:
    recs = read("body,id\nhello there,7\n", "csv", text_column="body")
    assert recs[0].text == "hello there" and recs[0].meta == {"id": "7"}
    tsv = read("text\tid\nhello, there\t7\n", "csv", name="x.tsv")
    assert tsv[0].text == "hello, there"


def test_csv_without_the_text_column_is_a_file_error() -> None:
    with pytest.raises(FormatError) as err:
        read("body,id\nhello,1\n", "csv")
    assert err.value.format("f.csv") == (
        "f.csv:1: field text: the header has no column 'text' (columns: body, id); "
        "name the text column with --text-column"
    )


def test_text_skips_blank_lines_and_keeps_lines_exactly() -> None:
    recs = read((DATA / "texts.txt").read_bytes(), "text")
    assert [(r.line, r.text) for r in recs] == [
        (1, "heard wheat bid 250 usd/t fob rouen"),
        (4, "corn offered cif rotterdam"),
        (5, "heard wheat bid 250 usd/t fob rouen"),
    ]


def test_conll_reads_text_line_docstart_and_conll2003_columns() -> None:
    recs = read((DATA / "sample.conll").read_bytes(), "conll")
    assert len(recs) == 2
    first, second = recs
    assert first.text == "heard wheat bid 250 usd/t fob  rouen"  # exact, from `# text =`
    assert first.spans == [Span(16, 25, "PRICE"), Span(31, 36, "LOCATION")]
    assert first.line == 3
    assert first.span_where == [(7, "tag"), (12, "tag")]
    assert second.text == "corn offered cif rotterdam"  # tokens joined by single spaces
    assert second.spans == [Span(17, 26, "LOCATION")]


def test_conll_tag_schemes() -> None:
    # IOB1 (I- starts an entity), BILUO and BIOES all give the same spans.
    for tags in (
        ["I-PRICE", "I-PRICE", "O", "B-LOCATION"],
        ["B-PRICE", "L-PRICE", "O", "U-LOCATION"],
        ["B-PRICE", "E-PRICE", "O", "S-LOCATION"],
    ):
        body = "".join(
            f"{tok}\t{tag}\n" for tok, tag in zip(["250", "usd", "fob", "rouen"], tags, strict=True)
        )
        (rec,) = read(body, "conll")
        assert rec.spans == [Span(0, 7, "PRICE"), Span(12, 17, "LOCATION")], tags
    # Two B- in a row are two entities.
    (rec,) = read("a\tB-PRICE\nb\tB-PRICE\n", "conll")
    assert rec.spans == [Span(0, 1, "PRICE"), Span(2, 3, "PRICE")]


def test_conll_hash_token_is_not_a_comment() -> None:
    (rec,) = read("# sent_id = 4\n#\tO\n1\tB-PRICE\n", "conll")
    assert rec.text == "# 1"
    assert rec.spans == [Span(2, 3, "PRICE")]


@pytest.mark.parametrize(
    "text",
    [
        "heard  wheat\tbid 250 usd/t",
        "  leading and trailing  ",
        "two\nlines with # hash",
        "ünïcödé €250/t — fob",
        "#1 O B-PRICE",
    ],
)
def test_conll_writer_round_trips_exact_text(text: str) -> None:
    import spacy

    doc = spacy.blank("en").make_doc(text)
    tokens = [(t.text, t.idx, t.idx + len(t.text)) for t in doc]
    words = [t for t in doc if not t.is_space]
    spans = [Span(words[1].idx, words[2].idx + len(words[2].text), "PRICE")]
    out = io.StringIO()
    write_text(out, text=text, tokens=tokens, spans=spans, meta={"k": [1]}, gold=True)
    (rec,) = read(out.getvalue(), "conll")
    assert isinstance(rec, ImportedRecord)
    assert rec.text == text
    assert rec.spans == spans
    assert rec.meta == {"k": [1]}
    assert rec.gold is True


def test_guess_format(tmp_path: Path) -> None:
    assert guess_format(write(tmp_path / "a.jsonl", '{"text": "a"}\n')) == "jsonl"
    assert (
        guess_format(write(tmp_path / "b.json", '\n{"text": "a", "answer": "accept"}\n'))
        == "prodigy"
    )
    assert (
        guess_format(write(tmp_path / "c.jsonl", '{"text": "a", "_input_hash": 1}\n')) == "prodigy"
    )
    assert guess_format(tmp_path / "d.CSV") == "csv"
    assert guess_format(tmp_path / "d.tsv") == "csv"
    assert guess_format(tmp_path / "e.txt") == "text"
    for ext in ("conll", "bio", "iob"):
        assert guess_format(tmp_path / f"f.{ext}") == "conll"
    with pytest.raises(FormatGuessError, match=r"g\.xml: cannot tell the format .* give --format"):
        guess_format(tmp_path / "g.xml")
