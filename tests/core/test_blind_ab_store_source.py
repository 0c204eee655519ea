"""Store.source_proposed: whether a source left proposals, which the Compare tab and
core/blind_ab.empty_reason asked with SQL of their own before it was a store method."""

from __future__ import annotations

from nerloop.core.blind_ab import empty_reason
from nerloop.core.project import Project
from tests.helpers.queue_helpers import add_texts, propose


def test_source_proposed_by_source_and_label(project: Project) -> None:
    store = project.store
    assert not store.source_proposed("llm") and not store.source_proposed("model")
    (text,) = add_texts(project, ["heard wheat bid 250 usd/t fob rouen"])
    propose(project, text, "PRICE", "250 usd/t", "llm")
    assert store.source_proposed("llm")
    assert store.source_proposed("llm", ["PRICE"])
    assert store.source_proposed("llm", ["LOCATION", "PRICE"])
    assert not store.source_proposed("llm", ["LOCATION"])
    assert not store.source_proposed("llm", [])  # no label asked about: nothing proposed
    assert not store.source_proposed("model")
    propose(project, text, "LOCATION", "rouen", "model", score=0.05)
    assert store.source_proposed("model") and store.source_proposed("model", ["LOCATION"])


def test_empty_reason_reads_the_llms_proposals_of_the_labels_asked(project: Project) -> None:
    (text,) = add_texts(project, ["heard wheat bid 250 usd/t fob rouen"])
    propose(project, text, "LOCATION", "rouen", "llm")
    assert "No LLM proposals for PRICE" in empty_reason(project.store, ["PRICE"], has_model=True)
    assert "Nothing left to compare for LOCATION" in empty_reason(
        project.store, ["LOCATION"], has_model=True
    )
