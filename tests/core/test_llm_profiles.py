"""The fake LLM server's `realistic` profile, measured on the server's own counts over HTTP:
each label is found at the recall the profile drew for it, misses stick to surface forms, and
the answers hold boundary errors, confusions and invented spans."""

from __future__ import annotations

import random
from itertools import pairwise

import httpx

from nerloop.core.prompts import batch_prompt
from nerloop.core.taxonomy import Label
from tests.helpers.fake_llm import FakeLLM, GoldSpan, Noise
from tests.helpers.llm_profiles import realistic

LABELS = ("GADGET", "PLACE", "HUE")


def corpus(n: int) -> dict[str, list[GoldSpan]]:
    """Texts of filler words with one entity per label; 150 surfaces per label, so each is
    seen about four times and a per-surface miss propensity shows."""
    rng = random.Random(7)
    out: dict[str, list[GoldSpan]] = {}
    while len(out) < n:
        words = ["please", "find", "me"]
        spans: list[GoldSpan] = []
        for label in LABELS:
            surface = f"{label.lower()}{rng.randrange(150)} thing"
            start = len(" ".join(words)) + 1
            words += [surface, rng.choice(["and", "with", "near", "or"])]
            spans.append((label, start, start + len(surface)))
        out[" ".join(words)] = spans
    return out


def test_realistic_profile_has_the_recall_it_was_given() -> None:
    gold = corpus(600)
    profile = realistic(seed=3, labels=LABELS)
    labels = [Label(name=name, description=f"A {name.lower()}.") for name in LABELS]
    answers: dict[str, list[dict[str, str]]] = {}
    with FakeLLM(gold, noise=Noise(seed=3, profile=profile)) as fake, httpx.Client() as client:
        for text in gold:
            prompt = batch_prompt(text, labels)
            reply = client.post(
                f"{fake.url}/chat/completions",
                json={"model": "fake-model", "messages": prompt.messages},
            )
            reply.raise_for_status()
            content = reply.json()["choices"][0]["message"]["content"]
            answers[text] = httpx.Response(200, content=content).json()["spans"]
    counts = profile.counts
    given = {name: profile.label_recall(name) for name in LABELS}
    assert all(0.4 <= r <= 0.9 for r in given.values())
    assert max(given.values()) - min(given.values()) > 0.05, "one recall for every label"
    for name in LABELS:
        assert counts.gold[name] == 600
        assert abs(counts.recall(name) - given[name]) < 0.07, (name, counts.recall(name), given)
    # The same surface tends to be missed again: after a miss of a surface, its next
    # occurrence is missed far more often than after a hit (independent misses: the same).
    by_surface: dict[tuple[str, str], list[bool]] = {}
    for text, spans in gold.items():
        said = " | ".join(a["text"] for a in answers[text])
        for label, s, e in spans:
            # A boundary error keeps the entity's own word in the answer.
            by_surface.setdefault((label, text[s:e]), []).append(text[s:e].split()[0] in said)
    pairs = [(a, b) for v in by_surface.values() for a, b in pairwise(v)]
    miss_after_miss = sum(not b for a, b in pairs if not a) / sum(not a for a, _ in pairs)
    miss_after_hit = sum(not b for a, b in pairs if a) / sum(a for a, _ in pairs)
    assert miss_after_miss - miss_after_hit > 0.3, (miss_after_miss, miss_after_hit)
    # The other departures happen, each on a few percent of the spans.
    assert counts.boundary > 0.05 * 1800 * 0.5
    assert counts.confused > 0.02 * 1800 * 0.5
    assert counts.invented > 0.3 * 600
    answered = sum(len(v) for v in answers.values())
    # In one request for all labels every found span is answered, under some label.
    assert answered == sum(counts.found.values()) + counts.invented
