"""Annotation: the queue of questions (proposers, leases), its tasks, and one annotator's
session, which is all the Annotate pane talks to."""
