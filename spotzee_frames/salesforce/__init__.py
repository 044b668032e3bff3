"""Salesforce → Spotzee with the server integration's semantics (rules, mappings, opt-outs,
initial and incremental pulls, a state and a log per integration), run from a notebook or
a schedule.

    from spotzee_frames import salesforce

    acme = salesforce.Integration("acme", objects=["Lead"], state="acme.sfstate",
                                  rules={"Lead": [("LeadSource", "equals", "Web")]})
    session = salesforce.connect()          # simple-salesforce, from the environment
    acme.preview(session)                   # match counts per object, nothing sent
    result = acme.sync(session, client=client)
    acme.status, acme.log, acme.health(session)

The flow: rules → SOQL (`_rules`) → pages (`_source`) → mapping and type conversion
(`_convert`, planned per object in `_plan`) → the toolkit's upsert (`_sync`) → state,
watermarks and log (`_state`, `_integration`).
"""

from __future__ import annotations

from .._errors import IntegrationStateError, SalesforceError, SalesforceSessionError
from ._connect import connect
from ._convert import DEFAULT_MAPPINGS, SPOTZEE_TYPES, TYPE_OF
from ._ids import external_id
from ._integration import STATUSES, Integration
from ._rules import OPERATORS
from ._state import LOG_EVENTS
from ._sync import RESULT_COLUMNS
from ._sync import STATUSES as RESULT_STATUSES

__all__ = [
    "DEFAULT_MAPPINGS",
    "LOG_EVENTS",
    "OPERATORS",
    "RESULT_COLUMNS",
    "RESULT_STATUSES",
    "SPOTZEE_TYPES",
    "STATUSES",
    "TYPE_OF",
    "Integration",
    "IntegrationStateError",
    "SalesforceError",
    "SalesforceSessionError",
    "connect",
    "external_id",
]
