"""The curated namespace: nothing leaks in or drops out by accident."""

from __future__ import annotations

import pandas as pd

import spotzee_frames

EXPECTED = [
    "APIError",
    "API_VERSION",
    "AuthenticationError",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "DEFAULT_BASE_URL",
    "InsecureTransportError",
    "Interrupted",
    "InvalidRequestError",
    "KeyScopeError",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "MissingRouteError",
    "NotFoundError",
    "PermissionDeniedError",
    "ProgressEvent",
    "QuotaExceededError",
    "RateLimitError",
    "ServerError",
    "SpotzeeError",
    "Summary",
    "TargetStateError",
    "TransportError",
    "ValidationError",
    "WebhookVerificationError",
    "__version__",
    "campaign",
    "campaign_events",
    "campaigns",
    "events",
    "journey",
    "journeys",
    "preview",
    "preview_payloads",
    "sample_contacts",
    "schedule_campaign",
    "summary",
    "trigger_campaign",
    "trigger_journey",
    "upsert",
    "upsert_dataset",
    "users",
    "verify_webhook",
    "webhooks_to_frame",
]


def test_all_is_pinned_and_sorted() -> None:
    assert spotzee_frames.__all__ == EXPECTED
    assert spotzee_frames.__all__ == sorted(spotzee_frames.__all__)


def test_every_public_name_resolves() -> None:
    for name in spotzee_frames.__all__:
        assert getattr(spotzee_frames, name) is not None


def test_import_registers_the_accessor() -> None:
    frame = pd.DataFrame({"external_id": ["a"]})
    for method in ("upsert", "trigger_campaign", "trigger_journey", "summary"):
        assert callable(getattr(frame.spotzee, method))


def test_accessor_methods_show_the_functions_signature_and_docs() -> None:
    import inspect

    accessor = pd.DataFrame().spotzee
    pairs = {
        "upsert": spotzee_frames.upsert,
        "trigger_campaign": spotzee_frames.trigger_campaign,
        "trigger_journey": spotzee_frames.trigger_journey,
        "summary": spotzee_frames.summary,
    }
    for name, func in pairs.items():
        method = getattr(accessor, name)
        expected = list(inspect.signature(func).parameters)[1:]
        assert list(inspect.signature(method).parameters) == expected
        assert method.__doc__ == func.__doc__
