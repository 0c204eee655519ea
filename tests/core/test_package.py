"""`nerloop train` and `nerloop package` from the command line: the wheel installs with pip and
`spacy.load(name)` gives the trained ner plus the rules, without nerloop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from nerloop.core.package import package_name
from nerloop.core.project import Project
from nerloop.tui.cli import main
from tests.conftest import TAXONOMY
from tests.helpers.training_fixtures import add_answered, add_gold, samples


def cli(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("pkg")
    (root / "tax.toml").write_text(TAXONOMY, "utf-8")
    project = Project.init(root / "heards", root / "tax.toml")
    data = samples(120, seed=7)
    add_answered(project, data[:100])
    add_gold(project, data[100:])
    project.close()
    result = cli("train", "-p", root / "heards", "--max-steps", 80)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "data: " in out and "step " in out and "gold: F " in out
    assert "run 1 done: " in out and ", now in use" in out
    yield root / "heards"


def test_train_cli_json_and_errors(tmp_path: Path, project: Project) -> None:
    # No answers: the run fails with a one-line reason and exit code 1, nothing kept.
    result = cli("train", "-p", project.path, "--max-steps", 5, "--json")
    assert result.exit_code == 1
    run = json.loads(result.output[: result.output.rindex("}") + 1])
    assert run["status"] == "failed" and "at least 2 texts" in run["scores"]["error"]
    assert "training run 1 failed" in result.output


def test_evaluate_cli_scores(trained_dir: Path) -> None:
    result = cli("evaluate", "-p", trained_dir, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["gold_texts"] == 20 and report["model"]["labels"].keys() == {"PRICE", "LOCATION"}
    # The advice per ner label: the LLM never ran on gold here, so there is no case to stop it.
    advice = {rec["label"]: rec for rec in report["recommendations"]}
    assert advice.keys() == {"PRICE", "LOCATION"}
    assert not advice["PRICE"]["stop_llm"] and advice["PRICE"]["reason"]
    text = cli("evaluate", "-p", trained_dir)
    assert text.exit_code == 0 and "PRICE" in text.output and "overall" in text.output
    assert "the LLM, per label" in text.output
    assert f"PRICE          {advice['PRICE']['verdict']}" in text.output


def test_package_installs_and_loads_with_spacy(trained_dir: Path, tmp_path: Path) -> None:
    result = cli("package", tmp_path / "dist", "-p", trained_dir, "--version", "1.2.3")
    assert result.exit_code == 0, result.output
    wheel = tmp_path / "dist" / "en_heards-1.2.3" / "dist" / "en_heards-1.2.3-py3-none-any.whl"
    assert wheel.exists() and str(wheel) in result.output
    assert wheel.stat().st_size <= 6_000_000
    # meta.json and the README carry the gold scores per label, not the run's dev split.
    project = Project.open(trained_dir)
    run = project.store.promoted_run()
    project.close()
    assert run is not None
    gold = run["scores"]["gold"]
    folder = wheel.parent.parent
    meta = json.loads((folder / "meta.json").read_text("utf-8"))
    assert meta["performance"]["ents_f"] == gold["overall"]["f"]
    assert meta["performance"]["gold"]["texts"] == gold["texts"] == 20
    assert set(meta["performance"]["ents_per_type"]) == set(gold["labels"])
    readme = (folder / "README.md").read_text("utf-8")
    assert f"Scored on {gold['texts']} gold texts." in readme
    price = gold["labels"]["PRICE"]
    row = f"| `PRICE` | {price['p'] * 100:.2f} | {price['r'] * 100:.2f} | {price['f'] * 100:.2f} |"
    assert row in readme, readme
    assert "`ENTS_F` | " + f"{gold['overall']['f'] * 100:.2f}" in readme  # spaCy's own table
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # A fresh interpreter that cannot import nerloop: the package must need spaCy only.
    # Held-out texts of the training distribution (the fixture trained on the first 100 and
    # took the next 20 as gold), so the ner is judged on what it was taught, not one sentence.
    held_out = samples(140, seed=7)[120:]
    probe = (
        "import sys, json, spacy\n"
        "sys.modules['nerloop'] = None\n"
        "nlp = spacy.load('en_heards')\n"
        "doc = nlp('heard wheat bid 250 usd/t fob rouen march')\n"
        f"held_out = {[s.text for s in held_out]!r}\n"
        "print(json.dumps({'pipes': nlp.pipe_names, 'version': nlp.meta['version'],"
        " 'ents': [[e.text, e.label_] for e in doc.ents],"
        " 'held_out': [[[e.start_char, e.end_char, e.label_] for e in d.ents]"
        " for d in nlp.pipe(held_out)]}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    assert loaded["pipes"] == ["ner", "rules"] and loaded["version"] == "1.2.3"
    ents = {tuple(e) for e in loaded["ents"]}
    assert ("wheat", "COMMODITY") in ents and ("fob", "INCOTERM") in ents  # the rules
    # The trained ner: most held-out prices found exactly (80 training steps on 100 texts).
    found = sum(
        [span.start, span.end, "PRICE"] in ents_of_text
        for sample, ents_of_text in zip(held_out, loaded["held_out"], strict=True)
        for span in sample.spans
        if span.label == "PRICE"
    )
    assert found >= 0.6 * len(held_out), loaded["held_out"]


def test_package_without_a_model_is_a_clear_error(project: Project, tmp_path: Path) -> None:
    result = cli("package", tmp_path / "dist", "-p", project.path)
    assert result.exit_code == 1 and "no trained model yet" in result.output


def test_package_names() -> None:
    assert package_name("Heards-2") == "heards_2"
    assert package_name("2024 project") == "nerloop_2024_project"
