"""The soak's report: the "Reliability" section of bench/RESULTS.md from the soak's figures."""

from __future__ import annotations

from typing import Any

from bench import results_md

SECTION = "Reliability"
PHASES = ("crash", "concurrency", "bad_inputs", "faults")


def section(fig: dict[str, Any], command: str) -> str:
    c, k, b, f = (fig.get(x, {}) for x in ("crash", "concurrency", "bad_inputs", "faults"))
    lines = [
        f"## {SECTION}",
        "",
        "Figures in bench/out/soak.json; the checks are those of tests/reliability/, run"
        " longer. Each phase's run:",
        "",
        *provenance(fig, command),
        "",
        "| what | figure |",
        "|---|---:|",
    ]
    if c:
        lines += [
            f"| SIGKILLs of the real app (Textual on a pty, keys arriving) | {c['kills']} |",
            f"| kills survived (integrity ok, every answer shown as done is stored, none twice) "
            f"| {c['kills_survived']} |",
            f"| answers shown as done, checked against the DB | {c['answers_checked']} |",
            f"| reopened apps that carried on with unanswered questions | "
            f"{c['reopened_and_carried_on']} |",
            f"| answers committed but killed before shown (allowed: 1 per kill) | "
            f"{c['unlogged_in_flight']} |",
            f"| `nerloop import` killed half-way, all or nothing | "
            f"{c['import_kills_all_or_nothing']}/{c['import_kills']} |",
        ]
    if k:
        lines += [
            f"| annotator processes x seconds, with `nerloop import` ({k['imported_texts']:,} "
            f"texts) and `nerloop train` ({k['train_steps']} steps) at once | "
            f"{k['annotators']} x {k['seconds']:.0f} s |",
            f"| answers checked (rows), none lost | {k['answers_checked']} |",
            f"| tasks answered twice | {k['answered_twice']} |",
            f'| "database is locked" or other errors seen by anyone | '
            f"{sum('locked' in x or 'exit' in x for x in k['failures'])} |",
            f"| training run under load | exit {k['train_exit']}, {k['train_status']} |",
        ]
    if b:
        lines += [
            f"| bad inputs tried through real `nerloop` processes (corpus files and settings, "
            f"5 MB text, 4 damaged DBs x 3 commands) | {b['inputs_tried']} |",
            f"| exit codes seen | {', '.join(f'{v} x {e}' for e, v in b['exit_codes'].items())} |",
        ]
    if f:
        lines += [
            f"| LLM faults injected (429, 5xx, timeouts, closed connections, truncated/malformed "
            f"JSON, bad bodies, 400) | {f['faults_injected']} |",
            f"| requests / HTTP attempts / most attempts for one request (bound {4}) | "
            f"{f['requests']} / {f['http_attempts']} / {f['max_attempts']} |",
            f"| errors counted and shown (then retried by rerunning) | {f['errors_counted']} |",
            f"| stored llm proposals checked (in the text, on token boundaries, returned by the "
            f"server) | {f['proposals_checked']} |",
        ]
    failed = [m.splitlines()[0] for x in (c, k, b, f) for m in x.get("failures", [])]
    lines += ["", f"Failed checks: {len(failed)}" + (":" if failed else ".")]
    lines += [f"- {m}" for m in failed]
    lines.append("")
    return "\n".join(lines)


def provenance(fig: dict[str, Any], command: str) -> list[str]:
    """One line a phase: its command, date, machine and commit (phases may run separately)."""
    lines = []
    for name in PHASES:
        run = fig.get(name, {}).get("run")
        if run is None and name in fig:
            run = {"command": command, "date": fig["date"], "machine": fig["machine"]}
        if run is not None:
            at = f", commit {run['commit']}" if "commit" in run else ""
            lines.append(f"- {name}: `{run['command']}` ({run['date']}, {run['machine']}{at})")
    return lines


def write_section(text: str) -> None:
    results_md.write_section(SECTION, text)
