"""Taxonomy files: validation errors name the label and field; each change is a new version."""

from __future__ import annotations

import difflib
import importlib.util
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


LAID_OUT = '''# Labels for ports
[project]
lang = "en"   # spaCy language

[labels.LOCATION]
description = "A place."  # shown to the LLM
kind = "ner"

[labels.COMMODITY]
description = """A traded good,
such as wheat."""
kind = "rule"
terms = [
    "wheat",   # the main one
    "corn",
]
'''


def _changed_lines(before: str, after: str) -> list[str]:
    diff = difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
    return [line for line in diff if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def test_an_edit_changes_only_the_edited_value(tmp_path: Path) -> None:
    # The Taxonomy tab saves description and terms together: the unchanged one must keep its
    # layout (multi-line string, multi-line array, comments), issue 14 item 8.
    path = _write(tmp_path, LAID_OUT)
    update_label(path, "LOCATION", description="A port.", terms=[])
    assert _changed_lines(LAID_OUT, path.read_text("utf-8")) == [
        '-description = "A place."  # shown to the LLM',
        '+description = "A port."  # shown to the LLM',
    ]
    before = path.read_text("utf-8")
    update_label(
        path, "COMMODITY", description="A traded good,\nsuch as wheat.", terms=["wheat", "rye"]
    )
    assert _changed_lines(before, path.read_text("utf-8")) == ['-    "corn",', '+    "rye",']
    assert load_taxonomy(path).get("COMMODITY").terms == ("wheat", "rye")


def test_a_taxonomy_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    path = tmp_path / "taxonomy.toml"
    path.write_bytes(b"\xef\xbb\xbf" + LAID_OUT.encode("utf-8"))
    assert load_taxonomy(path).names == ["LOCATION", "COMMODITY"]
    update_label(path, "LOCATION", description="A port.")
    assert load_taxonomy(path).get("LOCATION").description == "A port."


def test_a_language_that_needs_a_package_names_it_and_how_to_install(tmp_path: Path) -> None:
    pytest.importorskip("spacy")
    if importlib.util.find_spec("sudachipy") is not None:
        pytest.skip("sudachipy is installed here")
    path = _write(tmp_path, LAID_OUT.replace('lang = "en"', 'lang = "ja"'))
    with pytest.raises(TaxonomyError) as err:
        load_taxonomy(path)
    message = str(err.value)
    assert "field lang: 'ja' needs a package that is not installed: sudachipy" in message
    assert "(pip install sudachipy" in message
    assert "not a spaCy language code" not in message
