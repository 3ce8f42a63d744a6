"""The desk's data layer: the database operations that the intake, the console and the
Temporal activities share. Nothing here imports ``activities/``, ``intake/`` or ``console/``;
the activities are thin Temporal wrappers around these functions."""
