"""The soak's LLM-faults phase: the LLM proposer through the real client against the fake
server at concurrency 8, with a seeded random mix of faults (429, 5xx, timeouts, closed
connections, malformed or truncated JSON, bad bodies, 400). Retries must stay bounded, every
error be counted, every request end with an answer after reruns, and no wrong span be stored.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.soak.common import Failures
from nerloop.core.config import load_settings
from nerloop.core.ingest import import_file
from nerloop.core.llm import LLMClient
from nerloop.core.proposers.llm import LLMProposer
from tests.helpers.fake_llm import FakeLLM, Fault
from tests.helpers.reliability_helpers import heard, init_project, write_jsonl


def faults_phase(work: Path, n_faults: int, rng: random.Random) -> dict[str, Any]:
    # A test module (its fake responder, checks and injection texts): importing it pulls in
    # pytest, so only when this phase runs.
    import test_reliability_llm_faults as lf

    fails = Failures()
    project = init_project(work / "faults")
    n_texts = max(100, n_faults // 2)
    texts = [heard(i) for i in range(n_texts)] + lf.INJECTIONS
    import_file(project, write_jsonl(work / "ft.jsonl", [{"text": t} for t in texts]))
    kinds = ["429", "500", "503", "timeout", "close", "malformed", "truncated", "bad_body", "400"]
    weights = [30, 15, 10, 5, 10, 10, 10, 5, 5]
    faults: list[Fault] = []
    for _ in range(n_faults):
        kind = rng.choices(kinds, weights)[0]
        if kind == "429":
            faults.append(Fault("429", retry_after=rng.choice([None, "0", "1"])))
        elif kind == "timeout":
            faults.append(Fault("timeout", hang=1.0))
        else:
            faults.append(Fault(kind))
    responder = lf.Responder()
    sleeps = lf.Sleeps()
    max_retries = 3
    started = time.monotonic()
    with FakeLLM(responder=responder) as fake:
        fake.add_faults(*faults)
        settings = load_settings(
            project.path,
            llm_base_url=fake.url,
            llm_model="fake-model",
            llm_max_retries=max_retries,
            llm_concurrency=8,
            llm_timeout=0.5,
        )
        proposer = LLMProposer(
            project.store,
            project.taxonomy,
            settings,
            project.nlp,
            client_factory=lambda: LLMClient(settings, sleep=sleeps),
        )
        rounds: list[dict[str, Any]] = []
        crashed = None
        # Run again until every request has an answer (at most 6 rounds): a rerun asks again
        # exactly what failed, as `nerloop propose` run twice does.
        for _ in range(6):
            pool = project.store.iter_texts("pool")
            jobs = proposer.pending(pool, lf.LABELS, batch=False, limit=0)
            if not jobs:
                break
            try:
                rounds.append(asyncio.run(proposer.run(jobs)).as_dict())
            except Exception as exc:  # a crash fails this phase, it does not stop the soak
                crashed = f"{type(exc).__name__}: {exc}"
                break
        fails.check(crashed is None, f"the proposer crashed: {crashed}")
        left = len(
            proposer.pending(project.store.iter_texts("pool"), lf.LABELS, batch=False, limit=0)
        )
        calls = project.store.query("SELECT * FROM llm_calls")
        attempts = sum(c["attempts"] for c in calls)
        fails.check(
            fake.stats.chat_requests == attempts,
            f"HTTP attempts {fake.stats.chat_requests} != ledger attempts {attempts}",
        )
        most = max(c["attempts"] for c in calls)
        fails.check(most <= max_retries + 1, f"a request made {most} attempts")
        errors = sum(1 for c in calls if c["error"])
        counted = sum(r["errors"] for r in rounds)
        fails.check(errors == counted, f"errors counted {counted} != ledger error rows {errors}")
        try:
            stored = lf.check_stored_proposals(project, responder)
        except AssertionError as exc:
            fails.check(False, f"wrong span stored: {exc}")
            stored = 0
        fails.check(left == 0, f"{left} requests still failing after {len(rounds)} rounds")
        served = Counter(fake.stats.faults_served)
    project.close()
    return {
        "faults_injected": sum(served.values()),
        "faults_scripted": n_faults,
        "fault_mix": dict(served),
        "requests": len(calls),
        "http_attempts": attempts,
        "max_attempts": most,
        "errors_counted": errors,
        "rounds": len(rounds),
        "proposals_checked": stored,
        "retry_wait_max_s": max(sleeps.calls) if sleeps.calls else 0,
        "seconds": round(time.monotonic() - started, 1),
        "failures": fails.items,
    }
