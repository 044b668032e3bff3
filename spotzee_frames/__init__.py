"""spotzee-frames: push pandas frames into Spotzee and fire campaigns and journeys at a
filtered slice of a frame, with one result row per input row.

Importing the package registers the `df.spotzee` accessor.
"""

from . import _accessor  # noqa: F401  (registers df.spotzee)
from ._client import API_VERSION, DEFAULT_BASE_URL, Client
from ._delete import delete
from ._delivery import campaign_events
from ._demo import sample_contacts
from ._errors import (
    APIError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    InsecureTransportError,
    IntegrationStateError,
    Interrupted,
    InvalidRequestError,
    KeyScopeError,
    LedgerBusyError,
    LedgerError,
    MissingRouteError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    SalesforceError,
    SalesforceSessionError,
    ServerError,
    SpotzeeError,
    TargetStateError,
    TransportError,
    ValidationError,
    WebhookVerificationError,
)
from ._ledger import Ledger
from ._listing import (
    campaign,
    campaigns,
    event_counts,
    events,
    journey,
    journeys,
    lists,
    schedule_campaign,
    tags,
    users,
)
from ._pacing import set_process_budget
from ._progress import ProgressEvent
from ._read import read_file
from ._stream import upsert_dataset
from ._subscriptions import set_subscription, subscriptions, user_subscriptions
from ._summary import Summary, preview, summary
from ._track import track
from ._trigger import trigger_campaign, trigger_journey
from ._upsert import preview_payloads, upsert
from ._version import __version__
from ._warnings import IdempotencyNotHonouredWarning, NumericIdWarning, SpotzeeWarning
from ._webhooks import verify_webhook, webhooks_to_frame

__all__ = [  # noqa: RUF022  (plain sorted() order, pinned by tests/test_public_api.py)
    "APIError",
    "API_VERSION",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "DEFAULT_BASE_URL",
    "IdempotencyNotHonouredWarning",
    "InsecureTransportError",
    "IntegrationStateError",
    "Interrupted",
    "InvalidRequestError",
    "KeyScopeError",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "MissingRouteError",
    "NotFoundError",
    "NumericIdWarning",
    "PermissionDeniedError",
    "ProgressEvent",
    "QuotaExceededError",
    "RateLimitError",
    "SalesforceError",
    "SalesforceSessionError",
    "ServerError",
    "SpotzeeError",
    "SpotzeeWarning",
    "Summary",
    "TargetStateError",
    "TransportError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
    "campaign",
    "campaign_events",
    "campaigns",
    "delete",
    "event_counts",
    "events",
    "journey",
    "journeys",
    "lists",
    "preview",
    "preview_payloads",
    "read_file",
    "sample_contacts",
    "schedule_campaign",
    "set_process_budget",
    "set_subscription",
    "subscriptions",
    "summary",
    "tags",
    "track",
    "trigger_campaign",
    "trigger_journey",
    "upsert",
    "upsert_dataset",
    "user_subscriptions",
    "users",
    "verify_webhook",
    "webhooks_to_frame",
]
