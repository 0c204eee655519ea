"""The loop benchmark's --quick mode: the whole simulation through nerloop's real code paths
(store, importer, HTTP client against the loopback fake LLM, alignment, queue, session,
training runner, evaluation) produces its figures, and more decisions train a better model."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "datasets" / "mit_movie"


@pytest.mark.timeout(900)
@pytest.mark.skipif(not (DATA / "train.jsonl").exists(), reason="MIT Movie data not present")
def test_quick_loop_produces_figures_and_f_rises(tmp_path: Path) -> None:
    out = tmp_path / "loop.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench.loop", "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=880,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["config"]["quick"] is True
    assert report["sizes"]["gold"] > 0 and report["sizes"]["test"] > 0
    result, fix = report["strategies"]
    assert result["strategy"] == "llm/complete" and fix["strategy"] == "llm+fix/complete"
    assert result["error"] is None and fix["error"] is None
    points = result["points"]
    budget = report["config"]["budget"]
    assert [p["effort"] for p in points] == report["config"]["points"]
    assert len(points) >= 2 and points[-1]["effort"] == budget
    # Binary answers only: one effort unit a decision, each an answer given through the session.
    assert result["counts"]["decisions"] == result["counts"]["effort"] == budget
    assert result["counts"]["accept"] + result["counts"]["reject"] == budget
    assert result["counts"]["marked_spans"] == 0
    # fix: the annotator marked the spans the LLM missed, 3 units each, a key 1.
    c = fix["counts"]
    assert c["marked_spans"] > 0 and c["mark_presses"] > 0
    assert c["effort"] == c["decisions"] + 3 * c["marked_spans"]
    # A text's marks come in one go, so a point may pass its mark by those of one text.
    for p, mark in zip(fix["points"], report["config"]["points"], strict=True):
        assert mark <= p["effort"] < mark + 30, (p["effort"], mark)
    # The default simulated LLM is the realistic profile, and its own F on test is reported.
    assert report["llm_noise"]["profile"] == "realistic"
    assert 40 < report["llm_on_test"]["f"] < 65, report["llm_on_test"]
    assert all("error" not in p for p in points)
    assert all(0.0 < p["f"] <= 100.0 for p in points)
    assert points[-1]["f"] > points[0]["f"], [p["f"] for p in points]
    assert points[-1]["train_texts"] > points[0]["train_texts"]
    # The complete policy applies: texts were reviewed for every label.
    assert points[-1]["complete_texts"] > 0
    # The LLM was really asked over HTTP, and the ledger counted it.
    llm = result["llm"]
    assert llm["calls"] > 0 and llm["errors"] == 0
    assert llm["tokens_in"] > 0 and llm["tokens_out"] > 0
    assert llm["accepted_spans"] == result["counts"]["accept"]
    assert "| effort |" in proc.stdout
    if importlib.util.find_spec("matplotlib") is not None:
        png = out.with_suffix(".png")
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The scratch projects are removed.
    assert [p.name for p in tmp_path.iterdir()] == [] or all(
        not p.name.startswith("nerloop-loop-") for p in tmp_path.iterdir()
    )
