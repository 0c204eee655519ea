"""Few-shot retrieval: the pool texts most like a text, as examples for its LLM prompt.

By concern: `examples` (what is retrieved and its prompt and cache-key forms), `search`
(brute-force nearest neighbours), `budget` (prompt tokens an example costs), `embedders`
(which embedder, and embedding texts without a vector), `retriever` (the candidates of a label
or the complete texts, and the search among them), `fetcher` and `provider` (the LLM proposer's
`examples_for`, off its event loop). The names callers use are re-exported here.
"""

from nerloop.core.retrieval.budget import (
    approx_tokens,
    batch_example_tokens,
    example_tokens,
    per_label_example_tokens,
    prompt_tokens,
    render_example,
)
from nerloop.core.retrieval.embedders import embed_missing, embedder_from_settings, local_embedder
from nerloop.core.retrieval.examples import (
    COMPLETE,
    FewShotExample,
    examples_cache_key,
    to_fewshot,
)
from nerloop.core.retrieval.provider import FewShotProvider
from nerloop.core.retrieval.retriever import COMPLETE_REFRESH_S, Retriever, complete_texts
from nerloop.core.retrieval.search import best_of, similarities, top_k

__all__ = [
    "COMPLETE",
    "COMPLETE_REFRESH_S",
    "FewShotExample",
    "FewShotProvider",
    "Retriever",
    "approx_tokens",
    "batch_example_tokens",
    "best_of",
    "complete_texts",
    "embed_missing",
    "embedder_from_settings",
    "example_tokens",
    "examples_cache_key",
    "local_embedder",
    "per_label_example_tokens",
    "prompt_tokens",
    "render_example",
    "similarities",
    "to_fewshot",
    "top_k",
]
