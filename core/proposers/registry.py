"""Which proposers are active for a project: the sources the queue may ask for proposals."""

from __future__ import annotations

from nerloop.core.project import Project
from nerloop.core.proposers import Proposer
from nerloop.core.proposers.model import ModelProposer
from nerloop.core.proposers.rules import RuleProposer


def proposers_for(project: Project) -> list[Proposer]:
    """The active proposers, in no particular order (the queue orders sources itself).

    - rules, whenever the taxonomy has rule labels;
    - the model in use (the latest promoted training run), when there is one;
    - the LLM, when `llm_model` is set (labels whose LLM switch is off are left out by it).

    The proposers use `project.store`, so call this in the thread that will use them (sqlite3
    connections belong to the thread that opened them).
    """
    active: list[Proposer] = []
    if project.taxonomy.rule_labels:
        active.append(RuleProposer(project.taxonomy))
    model = ModelProposer.from_project(project)
    if model is not None:
        active.append(model)
    if project.settings.llm_configured:
        # Imported here: the LLM client (httpx) is a tenth of the app's start-up, and a project
        # without an LLM never needs it.
        from nerloop.core.proposers.llm import LLMProposer

        active.append(LLMProposer.from_project(project))
    return active
