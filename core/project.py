"""A project: a folder with `nerloop.db`, `taxonomy.toml` and optionally `nerloop.toml`."""

from __future__ import annotations

import shutil
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from nerloop.core.config import SETTINGS_FILE, Settings, load_settings
from nerloop.core.store import Store
from nerloop.core.taxonomy import (
    TAXONOMY_FILE,
    Taxonomy,
    check_with_spacy,
    load_taxonomy,
    read_taxonomy,
)

if TYPE_CHECKING:
    from spacy.language import Language

DB_FILE = "nerloop.db"
MODELS_DIR = "models"
CRASH_LOG = "nerloop-errors.log"
"""Where the command line's top-level guard logs an unexpected error's details."""
PROJECT_FILES = (
    DB_FILE,
    f"{DB_FILE}-wal",
    f"{DB_FILE}-shm",
    f"{DB_FILE}-journal",
    TAXONOMY_FILE,
    SETTINGS_FILE,
    MODELS_DIR,
    CRASH_LOG,
)
"""The files and folders in a project folder that are the project: no output may land on them."""

DEFAULT_TAXONOMY = """\
# nerloop taxonomy: one table per label. kind = "ner" labels are learnt from your answers;
# kind = "rule" labels are matched by terms and spaCy token patterns.
[project]
lang = "en"

[labels.ENTITY]
kind = "ner"
description = "Replace with your own labels."
"""


class ProjectError(Exception):
    """A folder that is not (or cannot become) a nerloop project."""


def connect(project_path: Path) -> Store:
    """A new connection to the database of the project in `project_path`, for the calling
    thread: sqlite3 connections belong to the thread that opened them, so every thread that
    reads or writes (a pane's worker, the queue's thread, a run's follower) opens its own
    here and closes it when done. Code that holds a `Project` calls `Project.connect`."""
    return Store(project_path / DB_FILE)


class Project:
    """Everything a job needs about one project: its folder, store, taxonomy and settings."""

    def __init__(self, path: Path, store: Store, taxonomy: Taxonomy, settings: Settings) -> None:
        self.path = path
        self.store = store
        self.taxonomy = taxonomy
        self.settings = settings

    @classmethod
    def init(cls, path: Path, taxonomy_file: Path | None = None) -> Project:
        """Create a project in `path` (created if missing). An existing taxonomy.toml in the
        folder is kept; `taxonomy_file` is copied in otherwise."""
        path.mkdir(parents=True, exist_ok=True)
        target = path / TAXONOMY_FILE
        if taxonomy_file is not None:
            load_taxonomy(taxonomy_file)  # validate before anything is written
            if not (target.exists() and target.resolve() == taxonomy_file.resolve()):
                shutil.copyfile(taxonomy_file, target)
        elif not target.exists():
            target.write_text(DEFAULT_TAXONOMY, "utf-8")
        return cls.open(path, create=True)

    @classmethod
    def open(cls, path: Path, *, create: bool = False) -> Project:
        """Open an existing project; the taxonomy file is re-read and, if changed, stored as a
        new version."""
        if not (path / DB_FILE).exists() and not create:
            raise ProjectError(
                f"{path}: not a nerloop project (no {DB_FILE}). Create one with "
                f"`nerloop init -p {path}`."
            )
        taxonomy = read_taxonomy(path / TAXONOMY_FILE)
        settings = load_settings(path)
        store = connect(path)
        try:
            cls._store_taxonomy(store, taxonomy, path / TAXONOMY_FILE)
        except BaseException:
            store.close()
            raise
        return cls(path, store, taxonomy, settings)

    @staticmethod
    def _store_taxonomy(store: Store, taxonomy: Taxonomy, path: Path) -> int:
        # A taxonomy equal to the stored latest version passed the spaCy checks when it was
        # stored; skipping them keeps spaCy's import (about a second) out of start-up.
        if store.latest_taxonomy_hash() != taxonomy.content_hash():
            check_with_spacy(taxonomy, str(path))
        if store.read_only:
            # A read-only project cannot record the edited file as a new version; reading
            # commands use the file as it is, writing ones are refused by the store.
            return store.taxonomy_version()
        return store.sync_taxonomy(taxonomy, str(path))

    def connect(self) -> Store:
        """A new connection to this project's database for the calling thread (`connect`);
        `self.store` stays with the thread that opened the project. The caller closes it."""
        return connect(self.path)

    def for_thread(self) -> Project:
        """This project on a connection of its own (`connect`), with the taxonomy and settings
        in force now, for a worker thread; the caller closes it (`close`)."""
        return Project(self.path, self.connect(), self.taxonomy, self.settings)

    def reload_taxonomy(self) -> int:
        """Re-read taxonomy.toml (after an edit); returns the stored version."""
        self.taxonomy = read_taxonomy(self.taxonomy_path)
        return self._store_taxonomy(self.store, self.taxonomy, self.taxonomy_path)

    @cached_property
    def nlp(self) -> Language:
        """A blank pipeline of the project's language: its tokenizer defines token bounds."""
        import spacy

        return spacy.blank(self.taxonomy.lang)

    @property
    def taxonomy_path(self) -> Path:
        return self.path / TAXONOMY_FILE

    @property
    def settings_path(self) -> Path:
        return self.path / SETTINGS_FILE

    def close(self) -> None:
        self.store.close()
