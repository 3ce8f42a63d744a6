"""The desk's data layer: the database operations that the intake, the console and the
Temporal activities share, and what the intake and the console both do (triage, replies,
source verification, host matching). Nothing here imports ``activities/``, ``intake/``,
``workflows/`` or ``console/`` (``tests/test_layers.py``); the activities are thin Temporal
wrappers around these functions."""
