"""Taxonomy files: validation errors name the label and field; each change is a new version."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from nerloop.core.project import Project
from nerloop.core.taxonomy import TaxonomyError, load_taxonomy, update_label


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "taxonomy.toml"
    path.write_text(body, "utf-8")
    return path


def test_the_test_taxonomy_loads(taxonomy_file: Path) -> None:
    tax = load_taxonomy(taxonomy_file)
    assert tax.names == ["COMMODITY", "INCOTERM", "PRICE", "LOCATION"]
    assert [label.name for label in tax.rule_labels] == ["COMMODITY", "INCOTERM"]
    assert tax.get("INCOTERM").patterns[0][0] == {"LOWER": "ex"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '[labels."unit price"]\nkind = "ner"\n',
            r"label unit price: field name: .*without spaces",
        ),
        ('[labels."a\\tb"]\nkind = "ner"\n', r"field name: .*control characters"),
        ('[labels.PRICE]\nkind = "regex"\n', r"label PRICE: field kind: "),
        ('[labels.PRICE]\nkind = "rule"\n', r"label PRICE: .*needs terms or patterns"),
        ('[labels.PRICE]\nkind = "ner"\ncolour = "red"\n', r"label PRICE: field colour: "),
        ('[labels.PRICE]\nterms = ["ok", " "]\n', r"label PRICE: field terms: .*item 1 is empty"),
        (
            '[labels.UNIT]\nkind = "rule"\npatterns = [[{NOPE = "x"}]]\n',
            r"label UNIT: field patterns\[0\]",
        ),
        ("[labels]\n", r"no labels"),
        ('[project]\nlang = "klingon"\n[labels.A]\n', r"field lang: 'klingon'"),
        ("[labels.A\n", r"invalid TOML"),
        ("[other]\n[labels.A]\n", r"unknown top-level table"),
    ],
)
def test_validation_errors_name_the_label_and_field(
    tmp_path: Path, body: str, message: str
) -> None:
    path = _write(tmp_path, body)
    with pytest.raises(TaxonomyError, match=message) as err:
        load_taxonomy(path)
    assert str(path) in str(err.value)


def test_a_missing_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match="cannot read"):
        load_taxonomy(tmp_path / "nope.toml")


def test_each_change_is_stored_as_a_new_version(project: Project) -> None:
    assert project.store.taxonomy_version() == 1
    assert project.reload_taxonomy() == 1  # unchanged file: no new version
    update_label(project.taxonomy_path, "PRICE", description="A price per unit.")
    assert project.reload_taxonomy() == 2
    update_label(project.taxonomy_path, "COMMODITY", terms=["wheat", "barley"])
    assert project.reload_taxonomy() == 3
    assert project.taxonomy.get("COMMODITY").terms == ("wheat", "barley")
    first = {label.name: label for label in project.store.stored_taxonomy(1)}
    assert first["PRICE"].description == "A price with its currency and unit."
    assert project.store.stored_taxonomy()[2].description == "A price per unit."


def test_edits_keep_comments_and_refuse_invalid_changes(project: Project) -> None:
    path = project.taxonomy_path
    path.write_text("# keep me\n" + path.read_text("utf-8"), "utf-8")
    update_label(path, "LOCATION", description="A port.")
    assert path.read_text("utf-8").startswith("# keep me\n")
    before = path.read_text("utf-8")
    with pytest.raises(TaxonomyError, match="label COMMODITY"):
        update_label(path, "COMMODITY", terms=[])  # a rule label needs terms
    assert path.read_text("utf-8") == before


def test_opening_a_project_with_a_known_taxonomy_does_not_import_spacy(project: Project) -> None:
    # spaCy's import is about a second of the app's start-up; a taxonomy already stored (and
    # checked) must not need it.
    code = (
        "import sys; from pathlib import Path; from nerloop.core.project import Project\n"
        f"p = Project.open(Path({str(project.path)!r}))\n"
        "print('spacy' in sys.modules, p.store.taxonomy_version())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "1"]


def test_a_changed_taxonomy_is_checked_with_spacy_on_open(project: Project) -> None:
    path = project.taxonomy_path
    path.write_text(
        path.read_text("utf-8") + '\n[labels.UNIT]\nkind = "rule"\npatterns = [[{NOPE = 1}]]\n'
    )
    project.close()
    with pytest.raises(TaxonomyError, match=r"label UNIT: field patterns\[0\]"):
        Project.open(project.path)
    path.write_text(path.read_text("utf-8").replace("{NOPE = 1}", '{LOWER = "mt"}'))
    fixed = Project.open(project.path)
    assert fixed.store.taxonomy_version() == 2
    fixed.close()
