"""Which proposers are active for a project: the sources the queue may ask for proposals."""

from __future__ import annotations

from nerloop.core.project import Project
from nerloop.core.proposers import Proposer
from nerloop.core.proposers.rules import RuleProposer


def proposers_for(project: Project) -> list[Proposer]:
    """The active proposers, in no particular order (the queue orders sources itself).

    Rules are always active when the taxonomy has rule labels.
    """
    active: list[Proposer] = []
    if project.taxonomy.rule_labels:
        active.append(RuleProposer(project.taxonomy))
    return active
