"""Temporal activities: every side effect of a workflow, grouped by what it touches."""
