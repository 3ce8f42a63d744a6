"""The web console and HTTP API (FastAPI): reads through models, acts through workflows."""
