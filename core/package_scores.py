"""The packaged pipeline's scores: the gold scores of the run packaged, in spaCy's meta form,
and a README with a per-label table.

A run's own meta `performance` holds the scores on its dev split, which in a loop is a few
answered texts (a 2-text split reads 0.00); the gold set is what the project measures models
on, so that is what the package says, with how many gold texts it rests on.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nerloop.core.display import one_line


def gold_of_run(run: dict[str, Any] | None) -> dict[str, Any] | None:
    """The run's gold scores, or None when it was scored on no gold text."""
    gold = ((run or {}).get("scores") or {}).get("gold") or {}
    return gold if gold.get("texts") else None


def performance(gold: dict[str, Any] | None) -> dict[str, Any]:
    """Gold scores under spaCy's meta keys (ents_p/r/f, ents_per_type); empty without gold."""
    if gold is None:
        return {}
    overall = gold.get("overall") or {}
    return {
        "ents_p": overall.get("p"),
        "ents_r": overall.get("r"),
        "ents_f": overall.get("f"),
        "ents_per_type": {
            label: {key: scores.get(key) for key in ("p", "r", "f")}
            for label, scores in (gold.get("labels") or {}).items()
        },
        # Not a scalar: spaCy's README lists every scalar here as a percentage.
        "gold": {"texts": gold["texts"]},
    }


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value) * 100:.2f}"


def _cell(text: str) -> str:
    # A label may hold any character but whitespace: a '|' would split a Markdown cell.
    return one_line(text).replace("|", "\\|")


def readme(meta: dict[str, Any], gold: dict[str, Any] | None) -> str:
    """spaCy's own README for `meta`, then the gold scores per label."""
    from spacy.cli.package import generate_readme

    text = generate_readme(meta).rstrip() + "\n\n### Scores on the project's gold texts\n\n"
    if gold is None:
        return text + "This model was not scored on any gold text.\n"
    lines = [
        f"Scored on {gold['texts']} gold texts.",
        "",
        "| Label | Precision | Recall | F |",
        "| --- | ---: | ---: | ---: |",
    ]
    for label, s in sorted((gold.get("labels") or {}).items()):
        lines.append(
            f"| `{_cell(label)}` | {_pct(s.get('p'))} | {_pct(s.get('r'))} | {_pct(s.get('f'))} |"
        )
    o = gold.get("overall") or {}
    lines.append(f"| **all** | {_pct(o.get('p'))} | {_pct(o.get('r'))} | {_pct(o.get('f'))} |")
    return text + "\n".join(lines) + "\n"


def write_readme(pipeline_dir: Path, gold: dict[str, Any] | None) -> None:
    """Write README.md next to the pipeline's meta.json; `spacy package` uses it as is."""
    meta = json.loads((pipeline_dir / "meta.json").read_text("utf-8"))
    (pipeline_dir / "README.md").write_text(readme(meta, gold), "utf-8")
