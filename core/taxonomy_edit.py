"""A label edited from the app (its description or terms), and what follows from it.

The edit is written to taxonomy.toml (only the value edited; the file's comments and layout
stay) and stored as a new taxonomy version. The rules then go over every text again: new terms
may match texts they already went over, and those texts are marked covered. A running queue
asks with the edited taxonomy from its next fetch (`follow_edit`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nerloop.core.taxonomy import Taxonomy, update_label

if TYPE_CHECKING:
    from nerloop.core.annotate.queue import Queue
    from nerloop.core.project import Project
    from nerloop.core.proposers import Proposer


@dataclass(frozen=True, slots=True)
class LabelEdit:
    """What an edit changed: the stored taxonomy version, and the rule labels whose texts the
    rules go over again."""

    version: int
    rules_again: tuple[str, ...]


def edit_label(project: Project, name: str, *, description: str, terms: Sequence[str]) -> LabelEdit:
    """Write the label's new description and terms, store the new taxonomy version, and let
    the rules go over every text again. Raises TaxonomyError (a ValueError) for an edit the
    taxonomy refuses, with the file and the store left as they were."""
    update_label(project.taxonomy_path, name, description=description, terms=list(terms))
    version = project.reload_taxonomy()
    # Every rule label, not only the edited one: the rules run as one matcher, and coverage
    # is what tells the queue which texts they have been over.
    again = tuple(label.name for label in project.taxonomy.rule_labels)
    for label in again:
        project.store.clear_coverage(label, "rule")
    return LabelEdit(version, again)


def follow_edit(
    queue: Queue,
    taxonomy: Taxonomy,
    edit: LabelEdit,
    make_proposers: Callable[[], Sequence[Proposer]],
) -> None:
    """Make a running queue ask with the edited taxonomy: its proposers are made again on its
    next fetch (the rules' matcher holds the old terms) and its walks over the rule labels'
    texts start from the front."""
    queue.taxonomy = taxonomy
    queue.proposers = make_proposers
    for label in edit.rules_again:
        queue.forget_coverage(label, "rule")
