"""`nerloop embed`: vectors for few-shot retrieval, computed up front."""

from __future__ import annotations

from pathlib import Path

import click

from nerloop.core.embed import EmbedError
from nerloop.core.retrieval import embed_missing, embedder_from_settings
from nerloop.tui.cli.base import (
    UserError,
    main,
    open_project,
    project_option,
    say,
    user_errors,
)


@main.command()
@project_option
@click.option(
    "--batch",
    default=256,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Texts per embedding request and per commit.",
)
@user_errors
def embed(project_dir: Path, batch: int) -> None:
    """Embed every text that has no vector yet (for few-shot examples in LLM prompts).

    Uses the endpoint in settings `embed_base_url`/`embed_model` when set, else the local
    hashed n-gram embedder (no network). Safe to interrupt: what was embedded is kept and the
    next run carries on. Retrieval also embeds missing texts on demand; this does it up front.

    \b
    Example:
      nerloop embed -p heards
      NERLOOP_EMBED_BASE_URL=http://localhost:11434/v1 NERLOOP_EMBED_MODEL=nomic-embed-text \\
        nerloop embed -p heards
    """
    project = open_project(project_dir)
    try:
        embedder = embedder_from_settings(project.settings)
        total = project.store.count_texts_without_embedding(embedder.name)
        if total == 0:
            say(f"All {project.store.count_texts()} texts have vectors ({embedder.name}).")
            return
        with click.progressbar(length=total, label=f"Embedding ({embedder.name})") as bar:
            seen = 0

            def progress(done: int, _total: int) -> None:
                nonlocal seen
                bar.update(done - seen)
                seen = done

            n = embed_missing(project.store, embedder, batch=batch, progress=progress)
        say(f"Embedded {n} texts with {embedder.name}.")
    except EmbedError as exc:
        raise UserError(str(exc)) from None
    finally:
        project.close()
