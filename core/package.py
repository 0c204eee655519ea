"""`nerloop package`: the project's final product, a pip-installable spaCy pipeline.

The pipeline holds the model in use (the latest promoted run's ner) and, after it, a SpanRuler
with the taxonomy's rule labels that also writes `doc.ents`: rules win on overlap unless the
project sets `rules_win = false` (see core/rules.py). It is written with `nlp.to_disk` and
handed to `python -m spacy package ... --build wheel`, which builds a wheel with setuptools and
`wheel` locally (no network). After `pip install <wheel>`, `spacy.load("<lang>_<name>")` works;
the package needs spaCy only (both components are built-in factories), not nerloop.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nerloop import __version__
from nerloop.core.package_scores import gold_of_run, performance, write_readme
from nerloop.core.rules import add_rules

if TYPE_CHECKING:
    from spacy.language import Language

    from nerloop.core.project import Project


class PackageError(RuntimeError):
    """The pipeline could not be packaged; the message says why."""


@dataclass(frozen=True, slots=True)
class PackageResult:
    name: str
    """The importable package name, which `spacy.load` takes (e.g. en_heards)."""
    version: str
    wheel: Path
    folder: Path
    """The package source folder `spacy package` made (setup.py, meta.json, the pipeline)."""


def package_name(raw: str) -> str:
    """A valid Python module name from a project or user-given name (heards-2 -> heards_2)."""
    name = re.sub(r"[^a-z0-9_]+", "_", raw.strip().lower()).strip("_")
    if not name or name[0].isdigit():
        name = f"nerloop_{name}".rstrip("_")
    return name


def build_pipeline(project: Project, model_path: str | Path | None = None) -> Language:
    """The model in use (or `model_path`) plus the rules, with meta for the package."""
    import spacy

    if model_path is None:
        run = project.store.promoted_run()
        if run is None:
            raise PackageError(
                f"{project.path}: no trained model yet. Train one with `nerloop train`."
            )
        model_path = run["model_path"]
    if not Path(model_path).exists():
        raise PackageError(f"{model_path}: the model folder is missing")
    nlp = spacy.load(model_path)
    add_rules(nlp, project.taxonomy, annotate_ents=True, rules_win=project.settings.rules_win)
    # The training section points at nerloop's progress logger and a temporary folder; a user
    # who retrains from the packaged config should get spaCy's console logger instead.
    nlp.config["training"]["logger"] = {
        "@loggers": "spacy.ConsoleLogger.v1",
        "progress_bar": False,
    }
    if "progress" in nlp.config["paths"]:
        nlp.config["paths"]["progress"] = None
    # A model trained from pretrained tok2vec weights names their file in this project; its
    # own weights already hold what it learnt from them, and retraining elsewhere must not
    # look for the file.
    for section in ("paths", "initialize"):
        if nlp.config[section].get("init_tok2vec") is not None:
            nlp.config[section]["init_tok2vec"] = None
    return nlp


def package(
    project: Project,
    out_dir: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    model_path: str | Path | None = None,
) -> PackageResult:
    """Build a wheel of the project's pipeline in `out_dir`; returns where it is."""
    run = project.store.promoted_run()
    nlp = build_pipeline(project, model_path)
    base = package_name(name or project.path.resolve().name)
    version = version or f"0.{run['id'] if run else 0}.0"
    if not re.fullmatch(r"\d+(\.\d+)*", version):
        raise PackageError(f"version {version!r}: use numbers and dots, such as 1.0.0")
    nlp.meta["name"] = base
    nlp.meta["version"] = version
    ner_labels = list(nlp.get_pipe("ner").labels)  # type: ignore[attr-defined]
    rule_labels = [label.name for label in project.taxonomy.rule_labels]
    nlp.meta["description"] = f"NER pipeline trained with nerloop {__version__}: " + "; ".join(
        part
        for part in (
            f"ner ({', '.join(ner_labels)})",
            f"rules ({', '.join(rule_labels)})" if rule_labels else "",
        )
        if part
    )
    nlp.meta["labels"] = {"ner": ner_labels, "rules": rule_labels}
    gold = gold_of_run(_run_of(project, run, model_path))
    # The gold scores, not the run's dev split (a few answered texts): see package_scores.
    nlp.meta["performance"] = performance(gold)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="nerloop-package-") as tmp:
        pipeline_dir = Path(tmp) / "pipeline"
        nlp.to_disk(pipeline_dir)
        write_readme(pipeline_dir, gold)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "spacy",
                "package",
                str(pipeline_dir),
                str(out_dir),
                "--name",
                base,
                "--version",
                version,
                "--build",
                "wheel",
                "--force",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    full = base if base.startswith(f"{nlp.lang}_") else f"{nlp.lang}_{base}"
    folder = out_dir / f"{full}-{version}"
    wheels = sorted((folder / "dist").glob("*.whl")) if folder.exists() else []
    if proc.returncode != 0 or not wheels:
        detail = (proc.stdout + proc.stderr).strip().splitlines()[-8:]
        raise PackageError("spacy package failed: " + " | ".join(detail))
    # setup.py bdist_wheel leaves build/ and *.egg-info next to the sources: not part of the
    # product.
    for junk in (folder / "build", *folder.glob("*.egg-info")):
        shutil.rmtree(junk, ignore_errors=True)
    return PackageResult(name=full, version=version, wheel=wheels[-1], folder=folder)


def _run_of(
    project: Project, promoted: dict[str, Any] | None, model_path: str | Path | None
) -> dict[str, Any] | None:
    """The run whose model is packaged: the promoted one, or the run that wrote `model_path`."""
    if model_path is None:
        return promoted
    wanted = Path(model_path).resolve()
    for run in project.store.list_runs(limit=1000):
        if run.get("model_path") and Path(run["model_path"]).resolve() == wanted:
            return run
    return None
