"""The case workflow's search attributes: how a case is found in the Temporal UI and CLI.

Workflow ids are hashes of the problem's fingerprint (one id per open problem), which nobody
can guess; the case reference, the client's code, the class and the state are what a person
searches by (``CaseRef="VIG-000003"``). Each case upserts them as they change. They must be
registered on the server first (Keyword type): ``vigie up`` passes ``DEV_SERVER_ARGS`` to the
dev server, the worker registers missing ones at start (``vigie.temporal``), and the
production compose file runs a one-shot ``temporal operator search-attribute create``.

Standard library and ``temporalio.common`` only, so the workflow sandbox loads it as is.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CASE_REF = SearchAttributeKey.for_keyword("CaseRef")
CLIENT_CODE = SearchAttributeKey.for_keyword("ClientCode")
CRITICALITY = SearchAttributeKey.for_keyword("Criticality")
CASE_STATE = SearchAttributeKey.for_keyword("CaseState")

KEYS = (CASE_REF, CLIENT_CODE, CRITICALITY, CASE_STATE)
NAMES: tuple[str, ...] = tuple(key.name for key in KEYS)

# ``temporal server start-dev`` flags that register them at start (dev server, tests).
DEV_SERVER_ARGS: list[str] = [
    arg for name in NAMES for arg in ("--search-attribute", f"{name}=Keyword")
]
# The workflow.patched() id of the first code that upserts them (older histories did not).
PATCH = "case-search-attributes-1"
