"""Imports every table module of ``models`` so the metadata is complete (migrations, tests)."""

from __future__ import annotations

import importlib
import pkgutil

import models


def load_all() -> None:
    for info in pkgutil.iter_modules(models.__path__):
        if info.name not in ("registry", "db", "migrations"):
            importlib.import_module(f"models.{info.name}")


load_all()
