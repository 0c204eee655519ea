"""The taxonomy: which labels a project has, what they mean, and how rule labels match.

`taxonomy.toml` holds one table per label, in the order they are asked:

    [project]
    lang = "en"                      # the spaCy language whose tokenizer defines token boundaries

    [labels.PRICE]
    kind = "ner"                     # ner: learnt by the model; rule: matched by terms/patterns
    description = "A price with its currency and unit, e.g. '250 usd/t'."
    examples = ["250 usd/t", "$4.10/bu"]

    [labels.INCOTERM]
    kind = "rule"
    description = "Delivery terms."
    terms = ["fob", "cif", "cfr"]    # phrases, matched case-insensitively
    patterns = [[{LOWER = "ex"}, {LOWER = "works"}]]   # spaCy Matcher token patterns

Validation errors name the label and the field. Edits made in the app go through tomlkit so the
user's comments and layout survive.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import tomlkit
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

TAXONOMY_FILE = "taxonomy.toml"
LABEL_NAME = re.compile(r"^[^\s\x00-\x1f\x7f-\x9f]+$")
"""Any label name spaCy takes (datasets spell theirs `PER`, `Amenity`, `restaurant_name`, ...),
except whitespace and control characters: a CoNLL line is `token<TAB>B-LABEL`, and a prompt
lists one label a line."""


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file, label and field."""


class Label(BaseModel):
    """One attribute of the taxonomy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    """Upper-case identifier, used as the entity label (PRICE, COMMODITY)."""
    kind: Literal["ner", "rule"] = "ner"
    """`ner` labels are learnt by the model from answers; `rule` labels are matched by terms and
    patterns and never need the LLM."""
    description: str = ""
    """What the label means, in a sentence; it goes into the LLM prompt verbatim."""
    terms: tuple[str, ...] = ()
    """Phrases that are this label (rule labels), matched case-insensitively on token bounds."""
    patterns: tuple[tuple[dict[str, Any], ...], ...] = ()
    """spaCy Matcher token patterns (rule labels): each a list of token attribute tables."""
    examples: tuple[str, ...] = ()
    """Example surface strings of the label, shown to the LLM and in the taxonomy browser."""

    @field_validator("name")
    @classmethod
    def _name_shape(cls, value: str) -> str:
        if not LABEL_NAME.match(value):
            raise ValueError(
                "must be a non-empty name without spaces, tabs or control characters "
                "(e.g. PRICE, Amenity, restaurant_name)"
            )
        return value

    @field_validator("terms", "examples")
    @classmethod
    def _non_empty_strings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for i, item in enumerate(value):
            if not item.strip():
                raise ValueError(f"item {i} is empty")
        return value

    @model_validator(mode="after")
    def _rule_needs_rules(self) -> Label:
        if self.kind == "rule" and not (self.terms or self.patterns):
            raise ValueError("a rule label needs terms or patterns")
        return self


class Taxonomy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lang: str = "en"
    """spaCy language code of the texts; its tokenizer defines token boundaries."""
    labels: tuple[Label, ...] = Field(default=())
    """The labels in the order their passes are offered."""

    @property
    def names(self) -> list[str]:
        return [label.name for label in self.labels]

    def get(self, name: str) -> Label:
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(name)

    @property
    def ner_labels(self) -> list[Label]:
        return [label for label in self.labels if label.kind == "ner"]

    @property
    def rule_labels(self) -> list[Label]:
        return [label for label in self.labels if label.kind == "rule"]

    def content_hash(self) -> str:
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def check_with_spacy(taxonomy: Taxonomy, where: str = TAXONOMY_FILE) -> None:
    """The checks that need spaCy: the language code exists and every token pattern compiles
    in spaCy's own Matcher (so a bad pattern is reported here, not at match time).

    Importing spaCy costs about a second, so `Project.open` runs this only for a taxonomy it has
    not stored (and so checked) before.
    """
    import spacy

    try:
        spacy.blank(taxonomy.lang)
    except ImportError as exc:
        if "E048" in str(exc):  # spaCy's "Can't import language X": no such code
            raise TaxonomyError(
                f"{where}: project: field lang: {taxonomy.lang!r} is not a spaCy language code"
            ) from None
        reason = missing_package(taxonomy.lang, exc)
        raise TaxonomyError(f"{where}: project: field lang: {reason}") from None
    except Exception:
        raise TaxonomyError(
            f"{where}: project: field lang: {taxonomy.lang!r} is not a spaCy language code"
        ) from None
    with_patterns = [label for label in taxonomy.labels if label.patterns]
    if not with_patterns:
        return
    from spacy.lang.xx import MultiLanguage
    from spacy.matcher import Matcher

    matcher = Matcher(MultiLanguage().vocab, validate=True)
    for label in with_patterns:
        for i, pattern in enumerate(label.patterns):
            try:
                matcher.add(f"{label.name}_{i}", [list(pattern)])
            except Exception as exc:  # spaCy raises ValueError or MatchPatternError
                lines = str(exc).strip().splitlines()
                detail = " ".join(line.strip() for line in lines if line.strip())[:300]
                raise TaxonomyError(
                    f"{where}: label {label.name}: field patterns[{i}]: {detail}"
                ) from exc


def missing_package(lang: str, exc: ImportError) -> str:
    """The message for a language spaCy knows whose tokenizer needs another package (ja:
    sudachipy, ko: natto, th: pythainlp, vi: pyvi): the module named, and spaCy's own advice,
    whose `pip install` line is the part a user needs."""
    missing = exc.__context__ if isinstance(exc.__context__, ModuleNotFoundError) else None
    detail = " ".join(str(exc).split())[:300]
    if missing is None or not missing.name:
        return f"{lang!r} needs a package that is not installed: {detail}"
    module = missing.name.split(".")[0]
    install = re.search(r"pip install [\w\-\[\] .]+?(?=`|$)", str(exc))
    how = install.group(0).strip() if install else f"pip install {module}"
    return f"{lang!r} needs a package that is not installed: {module} ({how})"


def parse_taxonomy(data: dict[str, Any], where: str = TAXONOMY_FILE) -> Taxonomy:
    """Validate a taxonomy's structure from its TOML tables (no spaCy: see `check_with_spacy`);
    errors name `where`, the label and the field."""
    project = data.get("project", {})
    unknown = set(data) - {"project", "labels"}
    if unknown:
        raise TaxonomyError(f"{where}: unknown top-level table(s): {', '.join(sorted(unknown))}")
    if not isinstance(project, dict):
        raise TaxonomyError(f"{where}: [project] must be a table")
    raw_labels = data.get("labels", {})
    if not isinstance(raw_labels, dict) or not raw_labels:
        raise TaxonomyError(f"{where}: no labels: add a table such as [labels.PRICE]")
    labels = []
    for name, body in raw_labels.items():
        if not isinstance(body, dict):
            raise TaxonomyError(f"{where}: label {name}: must be a table")
        try:
            labels.append(Label(name=name, **body))
        except ValidationError as exc:
            err = exc.errors()[0]
            loc = ".".join(str(part) for part in err["loc"]) or "label"
            raise TaxonomyError(f"{where}: label {name}: field {loc}: {err['msg']}") from None
    lang = project.get("lang", "en")
    if not isinstance(lang, str):
        raise TaxonomyError(f"{where}: project: field lang: must be a string such as 'en'")
    return Taxonomy(lang=lang, labels=tuple(labels))


def read_taxonomy(path: Path) -> Taxonomy:
    """Read a taxonomy file and validate its structure, without the spaCy checks."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        # utf-8-sig: editors on Windows start a file with a byte-order mark, which TOML refuses.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise TaxonomyError(f"{path}: not UTF-8 (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise TaxonomyError(f"{path}: invalid TOML: {exc}") from None
    return parse_taxonomy(data, str(path))


def load_taxonomy(path: Path) -> Taxonomy:
    """Read and fully validate a taxonomy file (structure and the spaCy checks)."""
    taxonomy = read_taxonomy(path)
    check_with_spacy(taxonomy, str(path))
    return taxonomy


def update_label(
    path: Path, name: str, *, description: str | None = None, terms: list[str] | None = None
) -> Taxonomy:
    """Change a label's description and/or terms in the file, keeping its comments and layout.

    The result is validated before the file is replaced, so a bad edit never breaks the file.
    """
    doc = tomlkit.parse(path.read_text("utf-8-sig"))
    labels = doc.get("labels")
    if labels is None or name not in labels:
        raise TaxonomyError(f"{path}: no label {name}")
    table = labels[name]
    # Only a value that changed is written, and in the shape it had (a multi-line string or
    # array stays one), so the file's comments and layout survive an edit from the app.
    if description is not None and table.get("description") != description:
        table["description"] = tomlkit.string(description, multiline="\n" in description)
    if terms is not None and list(table.get("terms", [])) != terms:
        _set_terms(table, terms)
    text = tomlkit.dumps(doc)
    taxonomy = parse_taxonomy(tomllib.loads(text), str(path))
    check_with_spacy(taxonomy, str(path))
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(text, "utf-8")
    tmp.replace(path)
    return taxonomy


def _set_terms(table: Any, terms: list[str]) -> None:
    """Set a label's terms, editing its array in place when the kept terms keep their order
    (each kept item keeps its comment, new ones go at the end); else a new array of the same
    single- or multi-line shape."""
    old = table.get("terms")
    if isinstance(old, tomlkit.items.Array):
        kept = [t for t in old if t in terms]
        if kept == terms[: len(kept)]:
            for i in reversed(range(len(old))):
                if old[i] not in terms:
                    del old[i]
            for term in terms[len(kept) :]:
                old.append(term)
            return
    array = tomlkit.array()
    array.extend(terms)
    if isinstance(old, tomlkit.items.Array) and "\n" in old.as_string():
        array.multiline(True)
    table["terms"] = array
