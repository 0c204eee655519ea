"""A label edited from the app: file, stored version, and the rules going over texts again."""

from __future__ import annotations

import pytest

from nerloop.core.project import Project
from nerloop.core.proposers.registry import proposers_for
from nerloop.core.taxonomy import TaxonomyError
from nerloop.core.taxonomy_edit import edit_label, follow_edit
from tests.helpers.queue_helpers import add_texts, make_queue

TEXTS = ["heard barley 200 usd/t fob rouen", "wheat 250 usd/t cif rotterdam"]


def test_a_new_term_is_asked_about_on_texts_the_rules_went_over(project: Project) -> None:
    barley, wheat = add_texts(project, TEXTS)
    queue = make_queue(project, "ann", proposers=proposers_for(project))
    first = queue.fetch("COMMODITY", n=10)
    assert [t.text.id for t in first.tasks] == [wheat]
    assert project.store.count_covered("COMMODITY", "rule") == 2

    edit = edit_label(
        project,
        "COMMODITY",
        description="A traded commodity.",
        terms=["wheat", "corn", "brent", "soybeans", "barley"],
    )
    assert edit.rules_again == ("COMMODITY", "INCOTERM")
    assert project.store.count_covered("COMMODITY", "rule") == 0
    follow_edit(queue, project.taxonomy, edit, lambda: proposers_for(project))

    again = queue.fetch("COMMODITY", n=10, held=[t.key for t in first.tasks])
    assert [t.text.id for t in again.tasks] == [barley]
    (question,) = again.tasks[0].questions
    assert TEXTS[0][question.start : question.end] == "barley"


def test_an_edit_is_written_to_the_file_and_stored_as_a_version(project: Project) -> None:
    before = project.store.taxonomy_version()
    edit = edit_label(project, "PRICE", description="A price per tonne.", terms=[])
    assert edit.version == before + 1 == project.store.taxonomy_version()
    assert project.taxonomy.get("PRICE").description == "A price per tonne."
    assert 'description = "A price per tonne."' in project.taxonomy_path.read_text("utf-8")


def test_a_refused_edit_leaves_file_version_and_coverage(project: Project) -> None:
    add_texts(project, TEXTS)
    make_queue(project, "ann", proposers=proposers_for(project)).fetch("COMMODITY", n=10)
    source = project.taxonomy_path.read_text("utf-8")
    version = project.store.taxonomy_version()
    with pytest.raises(TaxonomyError):
        edit_label(project, "COMMODITY", description="x", terms=[])  # a rule label needs terms
    assert project.taxonomy_path.read_text("utf-8") == source
    assert project.store.taxonomy_version() == version
    assert project.store.count_covered("COMMODITY", "rule") == 2
