"""Why the queue has nothing to ask, what the annotator can do about it, and when to ask again.

The queue (core/annotate/queue.py) gathers the facts; this module turns them into the message
the Annotate pane shows, and `retry_after` is the pane's policy for fetching again by itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from nerloop.core.annotate.tasks import EmptyQueue, EmptyReason
from nerloop.core.config import Settings
from nerloop.core.store import Store
from nerloop.core.taxonomy import Taxonomy

RETRY_EMPTY_AFTER: dict[EmptyReason, float] = {
    "leased": 15.0,
    "source_failed": 30.0,
    "finished": 30.0,
    "no_source": 30.0,
}
"""Seconds before asking again after the queue said it is empty for a reason that may pass:
others hold the leases, the LLM was unreachable, or nothing was left to ask or nothing
proposed, which changes when a model is promoted (the Train tab, `nerloop train`), or
`nerloop propose` or an import adds work from another terminal. No texts: nothing to wait for."""


def retry_after(empty: EmptyQueue) -> float | None:
    """Seconds after which to fetch again by itself, or None to wait for the annotator."""
    return RETRY_EMPTY_AFTER.get(empty.reason)


def no_texts(gold: int) -> EmptyQueue:
    """The pool is empty; `gold` texts are in the gold split."""
    extra = f" ({gold} texts are in the gold split, which is never asked here)" if gold else ""
    return EmptyQueue(
        "no_texts",
        f"No texts to annotate{extra}.",
        'Import texts: nerloop import FILE -p PROJECT (JSONL with a "text" field).',
    )


def why_empty(
    store: Store,
    labels: Sequence[str],
    *,
    failures: Mapping[str, str],
    skipped: Mapping[tuple[str, str], Mapping[int, str]],
    has_source: Callable[[str], bool],
    annotator: str,
    clock: Callable[[], float],
    taxonomy: Taxonomy,
    settings: Settings,
) -> EmptyQueue:
    """The first reason that holds, in this order: a proposer failed (`failures`: source ->
    message); other annotators hold what is left; texts a proposer failed on in this session
    (`skipped`: (label, source) -> text id -> error); labels nothing proposes; else the pass
    is finished. The store is read only as far as needed."""
    if failures:
        return EmptyQueue(
            "source_failed",
            "A proposer failed: " + "; ".join(f"{s}: {m}" for s, m in failures.items()),
            "Check llm_base_url and llm_model in nerloop.toml (is the server running?); "
            "nerloop retries by itself every 30 s.",
        )
    now = clock()
    held = 0 if settings.overlap else sum(store.leased_by_others(x, annotator, now) for x in labels)
    if held:
        return EmptyQueue(
            "leased",
            f"The {held} task(s) left are being answered by other annotators.",
            f"They come back if their leases expire ({settings.lease_seconds:.0f} s); "
            "or choose another pass with l.",
        )
    failed_texts = {
        text_id: error
        for (label, _), failed in skipped.items()
        if label in labels
        for text_id, error in failed.items()
    }
    if failed_texts:
        last = list(failed_texts.values())[-1]
        return EmptyQueue(
            "source_failed",
            f"Nothing left to ask but {len(failed_texts)} text(s) a proposer failed on in this "
            f"session (last error: {last}).",
            "They are asked again when the app starts next; or run nerloop propose -p "
            "PROJECT --all now (the errors are in the LLM ledger: nerloop stats).",
        )
    nothing = [x for x in labels if not has_source(x) and store.count_proposals(x) == 0]
    if nothing:
        kinds = {lab.name: lab.kind for lab in taxonomy.labels}
        ner = [label for label in nothing if kinds.get(label) == "ner"]
        if ner and not settings.llm_configured:
            return EmptyQueue(
                "no_source",
                f"Nothing proposes {', '.join(ner)}: the LLM is not configured.",
                "Set llm_model (and llm_base_url) in nerloop.toml or NERLOOP_LLM_MODEL, "
                "or train a model; rule labels work without one: press l to pick one.",
            )
        return EmptyQueue(
            "no_source",
            f"Nothing proposes {', '.join(nothing)}.",
            "Configure an LLM or train a model, or give the label terms (Taxonomy tab).",
        )
    what = labels[0] if len(labels) == 1 else "all-labels"
    return EmptyQueue(
        "finished",
        f"The {what} pass is finished: every proposal has an answer.",
        "Press l for another pass, or train a model (nerloop train).",
    )
