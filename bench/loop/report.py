"""Figures of the loop benchmark: milestones, the markdown table, the chart, RESULTS.md."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SECTION = "Loop"


def effort_to_reach(points: Sequence[dict[str, Any]], target: float) -> int | None:
    """Effort units at the first scored point whose test F reaches `target` (None: not
    reached)."""
    for p in points:
        if p.get("f") is not None and p["f"] >= target:
            return int(p.get("at", p["effort"]))
    return None


def milestones(result: dict[str, Any], full_f: float | None) -> dict[str, Any]:
    points = result["points"]
    out: dict[str, Any] = {"final_f": points[-1]["f"] if points else None}
    if full_f:
        for share in (90, 95):
            out[f"to_{share}pct"] = effort_to_reach(points, full_f * share / 100)
    return out


def _fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_tables(report: dict[str, Any]) -> str:
    """The F-against-effort table and the per-strategy summary table."""
    results = [r for r in report["strategies"] if r["points"]]
    if not results:
        return "(no strategy produced a scored point)\n"
    # By the effort point a retrain was due at: a marked span (3 units) may overshoot it.
    marks = sorted({p.get("at", p["effort"]) for r in results for p in r["points"]})
    head = "| effort | " + " | ".join(r["strategy"] for r in results) + " |"
    rule = "|---:|" + "---:|" * len(results)
    rows = [head, rule]
    for d in marks:
        cells = []
        for r in results:
            p = next((p for p in r["points"] if p.get("at", p["effort"]) == d), None)
            cells.append(_fmt(p["f"]) if p else "")
        rows.append(f"| {d} | " + " | ".join(cells) + " |")
    full = report.get("full_supervision") or {}
    summary = [
        "",
        "| strategy | final F | to 90% | to 95% | texts seen | accepted / decisions "
        "| marked (flags) | LLM calls | tokens in / out | model proposals | wall s (train s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        m = r["milestones"]
        c = r["counts"]
        llm = r["llm"]
        summary.append(
            f"| {r['strategy']} | {_fmt(m['final_f'])} | {_fmt(m.get('to_90pct'))} "
            f"| {_fmt(m.get('to_95pct'))} | {c.get('texts_seen', c.get('texts'))} "
            f"| {c.get('accept')} / {c.get('decisions')} "
            f"| {c.get('marked_spans', 0)} ({c.get('flags', 0)}) | {llm.get('calls')} "
            f"| {llm.get('tokens_in')} / {llm.get('tokens_out')} | {c.get('model_proposals')} "
            f"| {r['wall_s']:.0f} ({r['train_s']:.0f}) |"
        )
    note = ""
    if full.get("f"):
        note = (
            f"\nFull supervision F = {full['f']:.1f} ({full.get('source', '')}); "
            "'to 90%/95%' = effort units at the first retrain whose test F reaches 90%/95% of it "
            "(— = not within the budget).\n"
        )
    return "\n".join(rows + summary) + "\n" + note


def write_chart(report: dict[str, Any], path: Path) -> bool:
    """A PNG of F against effort units (matplotlib, the `bench` extra); False without it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    # Several styles: strategies with the same figures (a simulated LLM that ignores few-shot
    # examples) would otherwise hide one another.
    styles = [("-", "o", 7), ("--", "s", 6), ("-.", "^", 6), (":", "x", 8), ("-", "D", 4)]
    for i, r in enumerate(report["strategies"]):
        pts = [p for p in r["points"] if p.get("f") is not None]
        if pts:
            line, marker, size = styles[i % len(styles)]
            ax.plot(
                [p["effort"] for p in pts],
                [p["f"] for p in pts],
                linestyle=line,
                marker=marker,
                markersize=size,
                label=r["strategy"],
            )
    full = (report.get("full_supervision") or {}).get("f")
    if full:
        for share, style, name in (
            (1.0, "-", "full supervision"),
            (0.95, "--", "95%"),
            (0.9, ":", "90%"),
        ):
            ax.axhline(full * share, color="grey", linestyle=style, linewidth=0.8)
            ax.text(
                0.01,
                full * share,
                f"{name} {full * share:.1f}",
                va="bottom",
                fontsize=7,
                color="grey",
                transform=ax.get_yaxis_transform(),
            )
    ax.set_xlabel("effort units (y/n/space/a/flag 1, marked span 3)")
    ax.set_ylabel("entity F on held-out test")
    ax.set_ylim(0, 100)
    profile = report["llm_noise"].get("profile", "strong")
    ax.set_title(f"F against effort, {report['dataset']}, {profile} LLM", fontsize=9)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return True


def text_chart(report: dict[str, Any]) -> str:
    """The same chart as text (plotext, installed with textual-plotext), for the console."""
    import plotext as plt

    plt.clear_figure()
    plt.plotsize(80, 20)
    for r in report["strategies"]:
        pts = [p for p in r["points"] if p.get("f") is not None]
        if pts:
            plt.plot([p["effort"] for p in pts], [p["f"] for p in pts], label=r["strategy"])
    plt.xlabel("effort units")
    plt.ylabel("F")
    plt.theme("clear")
    return re.sub(r"\x1b\[[0-9;]*m", "", str(plt.build()))


def _cpu_note(report: dict[str, Any]) -> str:
    loads = [p["load_avg"] for r in report["strategies"] for p in r["points"] if "load_avg" in p]
    note = ""
    if report.get("cpu_s"):
        note += f", CPU time {report['cpu_s'] / 60:.1f} min (this process and the trainings)"
    if loads:
        note += f"; 1-minute load average {min(loads)}-{max(loads)} while it ran (shared machine)"
    return note


def _llm_note(report: dict[str, Any]) -> str:
    noise = report["llm_noise"]
    if noise.get("profile") == "realistic":
        note = "profile realistic (tests/helpers/llm_profiles.py)"
    else:
        note = (
            f"profile strong: recall {noise['recall']}, {noise['invented']} invented spans a "
            f"text, {noise['surface']:.0%} surface noise"
        )
    own = report.get("llm_on_test")
    if own:
        note += f"; its own proposals on test P {own['p']} R {own['r']} F {own['f']}"
    return note


def results_section(report: dict[str, Any]) -> str:
    cfg = report["config"]
    lines = [
        f"## {SECTION}",
        "",
        "Command: "
        + (report["command"] if "`" in report["command"] else f"`{report['command']}`")
        + "  ",
        f"Date: {report['date']}; machine: {report['machine']}; "
        f"total wall time {report['wall_s'] / 60:.1f} min" + _cpu_note(report) + ".",
        "",
        f"Dataset {report['dataset']}: pool {report['sizes']['pool']} texts (spans hidden), "
        f"gold split {report['sizes']['gold']} (model selection), test {report['sizes']['test']} "
        "(scored here only). Simulated LLM (loopback server): "
        + _llm_note(report)
        + f"; {'one request a text (batch)' if cfg['batch'] else 'one request a label'}"
        f". Annotator accepts iff span and label equal gold. Budget {cfg['budget']} effort "
        f"units, retrain and score at {', '.join(map(str, cfg['points']))} (max_steps "
        f"{cfg['max_steps']} each), chunks of "
        f"{cfg['chunk']} texts.",
        "",
        "F on test (x100) against effort units:",
        "",
        markdown_tables(report),
    ]
    if report.get("pending"):
        lines += ["Pending: " + "; ".join(report["pending"]), ""]
    if report.get("findings"):
        lines += ["Findings:", "", *[f"- {f}" for f in report["findings"]], ""]
    if report.get("notes"):
        lines += ["Reading (written by hand from these figures):", ""]
        lines += [*[f"- {n}" for n in report["notes"]], ""]
    lines += ["![F against effort](loop.png)", ""]
    return "\n".join(lines)
