"""Write the generated part of the bad input corpus and list it in cases.json.

    .venv/bin/python tests/data/bad/make_more_cases.py

Hand-made files stay as they are; the files this script makes (deep nesting, long numbers,
lone surrogates, UTF-16, cross-record conflicts, settings and taxonomy cases) are written
again and their entries in cases.json replaced, so the corpus can be regenerated. The texts
are those of tests/reliability_helpers.heard() so that cases meet the seeded project's data
(its gold texts are heard(10000), heard(10001), ...).
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # tests/, for the seeded project's texts

from tests.helpers.reliability_helpers import heard  # noqa: E402

MARK = "generated"
GOLD_TEXT = heard(10_000)  # gold, with its spans, in reliability_helpers.seed_project
TEXT = "heard corn bid 250 usd/t fob santos lot 1"
PRICE = {"start": 15, "end": 24, "label": "PRICE"}  # "250 usd/t"


def line(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False)


def jsonl(*objs: Any) -> bytes:
    return "".join(line(o) + "\n" for o in objs).encode("utf-8")


DEEP = "[" * 100_000 + "]" * 100_000

# name -> (bytes, expected messages, extra import arguments)
FILES: dict[str, tuple[bytes, list[str], list[str]]] = {
    "deep_nesting.jsonl": (
        ('{"text": ' + DEEP + "}\n").encode(),
        ["{file}:1: invalid JSON: nested too deeply"],
        [],
    ),
    "deep_meta.jsonl": (
        ('{"text": "a text", "meta": {"x": ' + DEEP + "}}\n").encode(),
        ["{file}:1: invalid JSON: nested too deeply"],
        [],
    ),
    "big_int_meta.jsonl": (
        ('{"text": "a text", "meta": {"n": ' + "9" * 5000 + "}}\n").encode(),
        ["{file}:1: invalid JSON: a number too long"],
        [],
    ),
    "big_int_span.jsonl": (
        ('{"text": "a text", "spans": [{"start": ' + "1" * 5000 + ', "end": 2}]}\n').encode(),
        ["{file}:1: invalid JSON: a number too long"],
        [],
    ),
    "huge_float_meta.jsonl": (
        b'{"text": "a text", "meta": {"x": 1e999}}\n',
        ["{file}:1: invalid JSON: 1e999"],
        [],
    ),
    "lone_surrogate_text.jsonl": (
        b'{"text": "heard \\ud800 wheat"}\n',
        ["{file}:1: field text: holds a lone surrogate"],
        [],
    ),
    "lone_surrogate_meta.jsonl": (
        b'{"text": "a fine text", "meta": {"k": "\\udfff"}}\n',
        ["{file}:1: field meta: holds a lone surrogate"],
        [],
    ),
    "lone_surrogate_extra_key.jsonl": (
        b'{"text": "a fine text", "source": "\\ud83d"}\n',
        ["{file}:1: field meta: holds a lone surrogate"],
        [],
    ),
    "lone_surrogate_prodigy.jsonl": (
        b'{"text": "x \\udc00", "_input_hash": 1, "answer": "accept"}\n',
        ["{file}:1: field text: holds a lone surrogate"],
        [],
    ),
    "nan_meta.jsonl": (
        b'{"text": "a text", "meta": {"x": NaN}}\n',
        ["{file}:1: invalid JSON: NaN is not a JSON value"],
        [],
    ),
    "infinity_meta.jsonl": (
        b'{"text": "a text", "meta": {"x": Infinity}}\n',
        ["{file}:1: invalid JSON: Infinity is not a JSON value"],
        [],
    ),
    "negative_infinity_meta.jsonl": (
        b'{"text": "a text", "meta": {"x": -Infinity}}\n',
        ["{file}:1: invalid JSON: -Infinity is not a JSON value"],
        [],
    ),
    "nan_span.jsonl": (
        b'{"text": "a text", "spans": [{"start": NaN, "end": 3, "label": "PRICE"}]}\n',
        ["{file}:1: invalid JSON: NaN"],
        [],
    ),
    "utf16_le_bom.jsonl": (
        codecs.BOM_UTF16_LE + '{"text": "hello"}\n'.encode("utf-16-le"),
        ["{file}:1: the file is UTF-16"],
        [],
    ),
    "utf16_be_bom.jsonl": (
        codecs.BOM_UTF16_BE + '{"text": "hello"}\n'.encode("utf-16-be"),
        ["{file}:1: the file is UTF-16"],
        [],
    ),
    "utf16_bom.csv": (
        codecs.BOM_UTF16_LE + "text\nhello\n".encode("utf-16-le"),
        ["{file}:1: the file is UTF-16"],
        [],
    ),
    "utf16_bom.txt": (
        codecs.BOM_UTF16_LE + "hello\n".encode("utf-16-le"),
        ["{file}:1: the file is UTF-16"],
        [],
    ),
    "utf16_bom_prodigy_guess.json": (
        codecs.BOM_UTF16_LE + '{"text": "hello", "answer": "accept"}\n'.encode("utf-16-le"),
        ["{file}:1: the file is UTF-16"],
        [],
    ),
    "two_labels_same_chars.jsonl": (
        jsonl(
            {"text": TEXT, "spans": [{"start": 6, "end": 10, "label": "COMMODITY"}]},
            {"text": "another text"},
            {"text": TEXT, "spans": [{"start": 6, "end": 10, "label": "PRICE"}]},
        ),
        ["{file}:3: field spans: characters 6-10 ('corn') are accepted as both COMMODITY and"],
        [],
    ),
    "two_labels_prodigy.jsonl": (
        jsonl(
            {"text": TEXT, "answer": "accept", "spans": [PRICE]},
            {"text": TEXT, "answer": "accept", "spans": [{**PRICE, "label": "LOCATION"}]},
        ),
        ["{file}:2: field spans: characters 15-24", "LOCATION and PRICE"],
        [],
    ),
    "gold_replaces_hand_annotation.jsonl": (
        jsonl({"text": GOLD_TEXT, "spans": []}),
        ["{file}:1: field spans: the text is already gold", "--replace-gold"],
        ["--gold"],
    ),
    "gold_replaces_prodigy.jsonl": (
        jsonl({"text": GOLD_TEXT, "_split": "gold", "answer": "accept", "spans": []}),
        ["{file}:1: field spans: the text is already gold"],
        [],
    ),
    "text_number.jsonl": (jsonl({"text": 5}), ["{file}:1: field text: must be a string"], []),
    "text_null.jsonl": (jsonl({"text": None}), ["{file}:1: field text: must be a string"], []),
    "text_list.jsonl": (jsonl({"text": ["a"]}), ["{file}:1: field text: must be a string"], []),
    "text_object.jsonl": (
        jsonl({"text": {"a": 1}}),
        ["{file}:1: field text: must be a string"],
        [],
    ),
    "text_missing.jsonl": (
        jsonl({"body": "no text key"}),
        ["{file}:1: field text: is missing"],
        [],
    ),
    "text_whitespace.jsonl": (jsonl({"text": " \t "}), ["{file}:1: field text: is empty"], []),
    "duplicate_keys.jsonl": (
        b'{"text": "first", "text": "   "}\n',
        ["{file}:1: field text: given twice in one object"],
        [],
    ),
    "span_label_huge.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "label": "P" * 100_000}]}),
        ["{file}:1: field spans[0].label: unknown label 'PPP", "characters) … PPP"],
        [],
    ),
    "duplicate_huge_key.jsonl": (
        (
            '{"text": "' + TEXT + '", "' + "k" * 100_000 + '": 1, "' + "k" * 100_000 + '": 2}\n'
        ).encode(),
        ["{file}:1: field kkk", "given twice in one object"],
        [],
    ),
    "duplicate_span_key.jsonl": (
        (
            '{"text": "' + TEXT + '", "spans": [{"start": 15, "end": 24, "start": 0, '
            '"label": "PRICE"}]}\n'
        ).encode(),
        ["{file}:1: field start: given twice in one object"],
        [],
    ),
    "duplicate_meta_key.jsonl": (
        ('{"text": "' + TEXT + '", "meta": {"source": "a", "source": "b"}}\n').encode(),
        ["{file}:1: field source: given twice in one object"],
        [],
    ),
    "duplicate_answer_prodigy.jsonl": (
        (
            '{"text": "' + TEXT + '", "spans": [], "answer": "accept", "answer": "reject"}\n'
        ).encode(),
        ["{file}:1: field answer: given twice in one object"],
        [],
    ),
    "meta_list.jsonl": (
        jsonl({"text": "a", "meta": [1]}),
        ["{file}:1: field meta: must be an object"],
        [],
    ),
    "meta_string.jsonl": (
        jsonl({"text": "a", "meta": "m"}),
        ["{file}:1: field meta: must be an object"],
        [],
    ),
    "spans_string.jsonl": (
        jsonl({"text": "a", "spans": "PRICE"}),
        ["{file}:1: field spans: must be an array"],
        [],
    ),
    "spans_numbers.jsonl": (
        jsonl({"text": "a", "spans": [1, 2]}),
        ["{file}:1: field spans[0]: must be an object"],
        [],
    ),
    "span_float_start.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "start": 15.0}]}),
        ["{file}:1: field spans[0].start: must be an integer"],
        [],
    ),
    "span_bool_end.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "end": True}]}),
        ["{file}:1: field spans[0].end: must be an integer"],
        [],
    ),
    "span_missing_end.jsonl": (
        jsonl({"text": TEXT, "spans": [{"start": 15, "label": "PRICE"}]}),
        ["{file}:1: field spans[0].end: is missing"],
        [],
    ),
    "span_start_equals_end.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "end": 15}]}),
        ["{file}:1: field spans[0]: start 15 must be less than end 15"],
        [],
    ),
    "span_negative_start.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "start": -3}]}),
        ["{file}:1: field spans[0]:"],
        [],
    ),
    "span_past_the_text.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "end": 4000}]}),
        ["{file}:1: field spans[0]:", "out of range"],
        [],
    ),
    "span_unknown_label.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "label": "Price"}]}),
        ["{file}:1: field spans[0].label:"],
        [],
    ),
    "span_label_empty.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "label": ""}]}),
        ["{file}:1: field spans[0].label:"],
        [],
    ),
    "span_label_number.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "label": 7}]}),
        ["{file}:1: field spans[0].label:"],
        [],
    ),
    "span_mid_token.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "start": 16}]}),
        ["{file}:1: field spans[0]:"],
        [],
    ),
    "span_token_start_string.jsonl": (
        jsonl({"text": TEXT, "spans": [{**PRICE, "token_start": "3"}]}),
        ["{file}:1: field spans[0].token_start: must be an integer"],
        [],
    ),
    "trailing_garbage.jsonl": (b'{"text": "a"} x\n', ["{file}:1: invalid JSON"], []),
    "single_quotes.jsonl": (b"{'text': 'a'}\n", ["{file}:1: invalid JSON"], []),
    "bad_escape.jsonl": (b'{"text": "a \\x41"}\n', ["{file}:1: invalid JSON"], []),
    "unterminated_string.jsonl": (b'{"text": "never closed}\n', ["{file}:1: invalid JSON"], []),
    "array_line.jsonl": (b'["text", "a"]\n', ["{file}:1: must be a JSON object"], []),
    "string_line.jsonl": (b'"just a string"\n', ["{file}:1: must be a JSON object"], []),
    "number_line.jsonl": (b"42\n", ["{file}:1: must be a JSON object"], []),
    "prodigy_answer_number.jsonl": (
        jsonl({"text": "a", "_input_hash": 1, "answer": 1}),
        ["{file}:1: field answer:"],
        [],
    ),
    "prodigy_session_number.jsonl": (
        jsonl({"text": "a", "answer": "accept", "_session_id": 5}),
        ["{file}:1: field _session_id: must be a string"],
        [],
    ),
    "csv_unclosed_quote.csv": (
        b'text,source\n"an unclosed quote,a\nsecond row,b\nthird row,c\n',
        ["{file}:2: not valid CSV: a quoted field that starts here is never closed"],
        [],
    ),
    "csv_too_many_fields.csv": (
        b"text,source\nfine,a\ntoo,many,fields\n",
        ["{file}:3: row has 3 fields, the header has 2"],
        [],
    ),
    "csv_too_few_fields.csv": (
        b"text,source\nfine,a\nalone\n",
        ["{file}:3: row has 1 fields, the header has 2"],
        [],
    ),
    "csv_non_utf8.csv": (b"text\nfine\ncaf\xe9\n", ["{file}:3: not valid UTF-8"], []),
    "csv_empty_text.csv": (b"text,n\nfine,1\n   ,2\n", ["{file}:3: field text: is empty"], []),
    "csv_nul.csv": (b"text\nfine\nnul \x00 here\n", ["{file}:3: field text: contains a NUL"], []),
    "tsv_no_text_column.tsv": (b"body\tsource\nhello\ta\n", ["{file}:1: field text:"], []),
    "text_non_utf8.txt": (b"fine\n\xff\xfe broken\n", ["{file}:2: not valid UTF-8"], []),
    "conll_non_utf8.conll": (b"heard\tO\ncaf\xe9\tO\n\n", ["{file}:2: not valid UTF-8"], []),
    "conll_unknown_label.conll": (
        b"heard\tO\nwheat\tB-GRAIN\n\n",
        ["{file}:2: field tag:"],
        [],
    ),
    "conll_bad_column.conll": (b"heard\nwheat\tO\n\n", ["{file}:1:"], []),
    "jsonl_read_as_csv.jsonl": (
        jsonl({"body": "x"}),
        ["{file}:1: field text:", "--text-column"],
        ["--format", "csv"],
    ),
}

TAXONOMIES: dict[str, tuple[str, list[str]]] = {
    "taxonomy_lang_ja.toml": (
        '[project]\nlang = "ja"\n\n[labels.PRICE]\nkind = "ner"\n',
        ["field lang", "'ja' needs a package that is not installed"],
    ),
    "taxonomy_lang_unknown.toml": (
        '[project]\nlang = "klingon"\n\n[labels.PRICE]\nkind = "ner"\n',
        ["field lang", "is not a spaCy language code"],
    ),
    "taxonomy_bad_pattern.toml": (
        '[project]\nlang = "en"\n\n[labels.INCO]\nkind = "rule"\n'
        'patterns = [[{NOT_AN_ATTR = "x"}]]\n',
        ["label INCO", "field patterns[0]"],
    ),
    "taxonomy_not_utf8.toml": ('[project]\nlang = "en"\n# caf\udce9\n', ["not UTF-8"]),
}

# Settings that nerloop must refuse in one line naming the variable or field (run: `stats`).
SETTINGS: list[dict[str, Any]] = [
    {"env": {"NERLOOP_KEYMAP": "notjson"}, "messages": ["NERLOOP_KEYMAP: not valid JSON"]},
    {
        "env": {"NERLOOP_SOURCE_ORDER": "llm,rule"},
        "messages": ["NERLOOP_SOURCE_ORDER: not valid JSON"],
    },
    {"env": {"NERLOOP_SOURCE_ORDER": '["nope"]'}, "messages": ["field source_order"]},
    {
        "env": {"NERLOOP_LLM_REQUESTS_PER_MINUTE": "0.001"},
        "messages": ["field llm_requests_per_minute", "use 0 for no limit"],
    },
    {
        "env": {"NERLOOP_LLM_BASE_URL": "http://127.0.0.1:99999/v1"},
        "messages": ["field llm_base_url: ", "not a usable URL"],
    },
    {
        "env": {"NERLOOP_EMBED_BASE_URL": "not a url"},
        "messages": ["field embed_base_url: ", "not a usable URL"],
    },
    {
        "env": {"NERLOOP_LLM_API_KEY": "sk-ключ-1234567890"},
        "messages": ["must be ASCII"],
        "secret": "ключ-1234567890",
    },
    {"env": {"NERLOOP_LLM_TIMEOUT": "-1"}, "messages": ["field llm_timeout"]},
    {"env": {"NERLOOP_LLM_CONCURRENCY": "0"}, "messages": ["field llm_concurrency"]},
    {"env": {"NERLOOP_POLICY": "sometimes"}, "messages": ["field policy"]},
    {"toml": "settings_syntax.toml", "messages": ["nerloop.toml"]},
    {"toml": "settings_unknown_key.toml", "messages": ["nerloop.toml", "llm_modle"]},
    {"toml": "settings_wrong_type.toml", "messages": ["nerloop.toml", "field retrain_every"]},
    {"toml_folder": True, "messages": ["nerloop.toml: not a file"]},
    {
        "toml": "settings_not_utf8.toml",
        "messages": ["nerloop.toml: not UTF-8 (byte 0xe9 on line 2)"],
    },
    {"toml": "settings_utf16.toml", "messages": ["nerloop.toml: not UTF-8 (byte 0xff on line 1)"]},
    {"toml": "settings_duplicate_key.toml", "messages": ["nerloop.toml", "line 2"]},
    {"toml": "settings_nul.toml", "messages": ["nerloop.toml", "line 1"]},
    {
        "toml": "settings_bom_bad_value.toml",
        "messages": ["nerloop.toml: field llm_timeout: Input should be greater than 0"],
    },
    {"env": {"NERLOOP_LLM_TIMEOUT": "abc"}, "messages": ["environment: field llm_timeout"]},
    {
        "env": {"NERLOOP_LLM_REQUESTS_PER_MINUTE": "-5"},
        "messages": ["environment: field llm_requests_per_minute"],
    },
    {"env": {"NERLOOP_KEYMAP": "[1, 2]"}, "messages": ["environment: field keymap"]},
    {"env": {"NERLOOP_LLM_CONCURRENCY": "1e400"}, "messages": ["field llm_concurrency"]},
]
SETTINGS_FILES = {
    "settings_syntax.toml": 'llm_model = "unterminated\n',
    "settings_unknown_key.toml": 'llm_modle = "typo"\n',
    "settings_wrong_type.toml": 'retrain_every = "often"\n',
    "settings_duplicate_key.toml": "llm_timeout = 5\nllm_timeout = 6\n",
    "settings_nul.toml": "llm_timeout = 5\x00\n",
    "settings_bom_bad_value.toml": "\ufeffllm_timeout = -5\n",
}
# Settings files that are not UTF-8 (written as bytes).
SETTINGS_BYTES = {
    "settings_not_utf8.toml": b"llm_timeout = 5\n# caf\xe9\n",
    "settings_utf16.toml": codecs.BOM_UTF16_LE + "llm_timeout = 5\n".encode("utf-16-le"),
}


def main() -> None:
    cases = json.loads((HERE / "cases.json").read_text("utf-8"))
    cases["refused"] = [c for c in cases["refused"] if not c.get(MARK)]
    for name, (data, messages, args) in FILES.items():
        (HERE / name).write_bytes(data)
        entry: dict[str, Any] = {"file": name, "exit": 1, "messages": messages, MARK: True}
        if args:
            entry["args"] = args
        cases["refused"].append(entry)
    for name, (text, messages) in TAXONOMIES.items():
        (HERE / name).write_bytes(text.encode("utf-8", "surrogateescape"))
        cases["refused"].append(
            {"file": name, "exit": 1, "taxonomy": True, "messages": messages, MARK: True}
        )
    for name, text in SETTINGS_FILES.items():
        (HERE / name).write_text(text, "utf-8")
    for name, data in SETTINGS_BYTES.items():
        (HERE / name).write_bytes(data)
    cases["settings"] = SETTINGS
    (HERE / "cases.json").write_text(json.dumps(cases, indent=1, ensure_ascii=False) + "\n")
    total = len(cases["refused"]) + len(cases["stored"]) + len(cases["settings"])
    print(f"{total} cases in cases.json")


if __name__ == "__main__":
    main()
