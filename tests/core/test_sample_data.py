"""The commodities sample project: its taxonomy loads, its texts and gold set are well formed,
and its rule labels agree with the hand-checked gold set."""

from __future__ import annotations

import importlib.util
import itertools
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import spacy
from spacy.language import Language
from spacy.matcher import Matcher, PhraseMatcher

from nerloop.core.rules import add_rules
from nerloop.core.taxonomy import Taxonomy, load_taxonomy

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "commodities"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            assert line.strip(), f"{path.name}:{n}: empty line"
            records.append(json.loads(line))
    return records


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(SAMPLE / "taxonomy.toml")


@pytest.fixture(scope="module")
def nlp(taxonomy: Taxonomy) -> Language:
    return spacy.blank(taxonomy.lang)


@pytest.fixture(scope="module")
def pool() -> list[dict[str, Any]]:
    return _read_jsonl(SAMPLE / "texts.jsonl")


@pytest.fixture(scope="module")
def gold() -> list[dict[str, Any]]:
    return _read_jsonl(SAMPLE / "gold.jsonl")


class Rules:
    """The taxonomy's rule labels as the packaged pipeline applies them: nerloop's SpanRuler
    writing `doc.ents` (terms case-insensitive; on overlap the longest match wins)."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.nlp = spacy.blank(taxonomy.lang)
        add_rules(self.nlp, taxonomy, annotate_ents=True)

    def __call__(self, text: str) -> set[tuple[int, int, str]]:
        return {(e.start_char, e.end_char, e.label_) for e in self.nlp(text).ents}


def test_taxonomy_has_rule_and_ner_labels(taxonomy: Taxonomy) -> None:
    assert taxonomy.lang == "en"
    assert len(taxonomy.rule_labels) >= 3
    assert len(taxonomy.ner_labels) >= 4
    assert "COMMODITY" in [label.name for label in taxonomy.rule_labels]
    for label in taxonomy.labels:
        assert len(label.description) > 40, f"{label.name}: description too thin for a prompt"
        assert label.examples, f"{label.name}: no examples"


def test_pool_texts(pool: list[dict[str, Any]]) -> None:
    assert len(pool) >= 300
    ids = [r["meta"]["id"] for r in pool]
    assert len(set(ids)) == len(ids), "duplicate meta.id"
    texts = [r["text"] for r in pool]
    assert all(isinstance(t, str) and t.strip() == t and t for t in texts)
    assert len(set(texts)) == len(texts), "duplicate texts would be dropped on import"
    assert not any("spans" in r for r in pool), "the pool is unlabelled"


def test_pool_is_varied(pool: list[dict[str, Any]]) -> None:
    """Not one template repeated: many distinct first words and word shapes."""
    first_words = Counter(r["text"].split()[0].lower() for r in pool)
    assert len(first_words) >= 60
    assert first_words.most_common(1)[0][1] < len(pool) * 0.15
    no_digit = [r for r in pool if not any(c.isdigit() for c in r["text"])]
    assert len(no_digit) >= 10, "some heards carry no price or quantity"


def test_gold_records_are_well_formed(
    gold: list[dict[str, Any]], pool: list[dict[str, Any]], taxonomy: Taxonomy, nlp: Language
) -> None:
    assert len(gold) >= 60
    pool_texts = {r["text"] for r in pool}
    assert sum(r["text"] not in pool_texts for r in gold) >= 60, "gold should be held out"
    assert len({r["text"] for r in gold}) == len(gold)
    for r in gold:
        doc = nlp.make_doc(r["text"])
        spans = sorted(r["spans"], key=lambda s: (s["start"], s["end"]))
        for s in spans:
            where = f"{r['meta']['id']} {r['text'][s['start'] : s['end']]!r}"
            assert s["label"] in taxonomy.names, f"{where}: unknown label {s['label']}"
            assert doc.char_span(s["start"], s["end"]) is not None, f"{where}: not on tokens"
        for a, b in itertools.pairwise(spans):
            assert b["start"] >= a["end"], f"{r['meta']['id']}: {a} overlaps {b}"


def test_every_label_is_annotated_in_gold(gold: list[dict[str, Any]], taxonomy: Taxonomy) -> None:
    counts = Counter(s["label"] for r in gold for s in r["spans"])
    for name in taxonomy.names:
        assert counts[name] >= 15, f"{name}: only {counts[name]} gold spans"


def test_rule_terms_and_patterns_occur_in_texts(
    pool: list[dict[str, Any]], taxonomy: Taxonomy, nlp: Language
) -> None:
    # One matcher with a key per term and pattern, run once over the pool.
    phrases = PhraseMatcher(nlp.vocab, attr="LOWER")
    tokens = Matcher(nlp.vocab)
    wanted = []
    for label in taxonomy.rule_labels:
        for term in label.terms:
            key = f"{label.name} term {term!r}"
            phrases.add(key, [nlp.make_doc(term)])
            wanted.append(key)
        for i, pattern in enumerate(label.patterns):
            key = f"{label.name} patterns[{i}]"
            tokens.add(key, [list(pattern)])
            wanted.append(key)
    seen = set()
    for doc in nlp.pipe(r["text"] for r in pool):
        for match_id, _, _ in list(phrases(doc)) + list(tokens(doc)):
            seen.add(nlp.vocab.strings[match_id])
    missing = [key for key in wanted if key not in seen]
    assert not missing, missing


def test_rule_label_examples_are_matched_by_their_rules(taxonomy: Taxonomy) -> None:
    rules = Rules(taxonomy)
    for label in taxonomy.rule_labels:
        for example in label.examples:
            found = rules(example)
            assert found == {(0, len(example), label.name)}, (label.name, example, found)


def test_rules_agree_with_gold(gold: list[dict[str, Any]], taxonomy: Taxonomy) -> None:
    """Every rule match in a gold text is a gold span of that label (so rule labels never fall
    inside a PRICE or QUANTITY), and the rules find nearly every gold rule span; the few they
    miss are typos in the texts ('cpoper')."""
    rules = Rules(taxonomy)
    rule_names = {label.name for label in taxonomy.rule_labels}
    wrong, missed, total = [], [], 0
    for r in gold:
        expected = {(s["start"], s["end"], s["label"]) for s in r["spans"]}
        expected = {x for x in expected if x[2] in rule_names}
        found = rules(r["text"])
        total += len(expected)
        wrong += [(r["text"][s:e], label, r["text"]) for s, e, label in found - expected]
        missed += [(r["text"][s:e], label, r["text"]) for s, e, label in expected - found]
    assert not wrong, wrong
    assert total >= 200
    assert len(missed) <= total * 0.03, missed


def test_output_is_what_the_generator_writes() -> None:
    """The committed files are exactly what make_texts.py produces (it is deterministic)."""
    spec = importlib.util.spec_from_file_location("make_texts", SAMPLE / "make_texts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pool, gold = module.build()
    assert pool == _read_jsonl(SAMPLE / "texts.jsonl")
    assert gold == _read_jsonl(SAMPLE / "gold.jsonl")
