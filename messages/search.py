"""The case workflow's search attributes: how a case is found in the Temporal UI and CLI.

Workflow ids are hashes of the problem's fingerprint (one id per open problem), which nobody
can guess; the case reference, the client's code, the class and the state are what a person
searches by (``CaseRef="VIG-000003"``). The router gives the ones it knows at start
(:func:`at_start`: client code, class and state of a new case) in its signal-with-start, and
the case upserts the rest (its reference, known once the opening transaction has run) and
whatever changes later. They must be
registered on the server first (Keyword type): ``vigie up`` passes ``DEV_SERVER_ARGS`` to the
dev server, the worker registers missing ones at start (``vigie.temporal``), and the
production compose file runs a one-shot ``temporal operator search-attribute create``.

Standard library and ``temporalio.common`` only, so the workflow sandbox loads it as is.
"""

from __future__ import annotations

from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

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


# The state a new case is in once opened: classified by its preset class (a verified source
# only, as ``CaseCore._preset_triage``), else new. A wrong guess costs one upsert, no more:
# the workflow upserts whatever differs from what it was started with.
OPENED = "new"
PRESET = "classified"


def at_start(client_code: str, preset_criticality: str | None,
             source_verified: bool) -> TypedSearchAttributes:
    """The attributes a new case can be started with (``SignalWithStart``), so that its first
    workflow task upserts only its reference: one history event instead of a marker, a
    change-version upsert and a four-attribute upsert. Empty values are left out (unset)."""
    preset = str(preset_criticality) if preset_criticality and source_verified else None
    values = {CLIENT_CODE: client_code, CRITICALITY: preset or "",
              CASE_STATE: PRESET if preset else OPENED}
    return TypedSearchAttributes([SearchAttributePair(key, value)
                                  for key, value in values.items() if value])


def known(attributes: TypedSearchAttributes) -> dict[str, str]:
    """What a run was started with, by name ("" when unset): what it need not upsert."""
    return {key.name: attributes.get(key) or "" for key in KEYS}
