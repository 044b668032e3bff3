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


def test_all_is_pinned_and_sorted() -> None:
    assert spotzee_frames.__all__ == EXPECTED
    assert spotzee_frames.__all__ == sorted(spotzee_frames.__all__)


def test_every_public_name_resolves() -> None:
    for name in spotzee_frames.__all__:
        assert getattr(spotzee_frames, name) is not None


def test_import_registers_the_accessor() -> None:
    frame = pd.DataFrame({"external_id": ["a"]})
    for method in (
        "upsert",
        "track",
        "delete",
        "set_subscription",
        "trigger_campaign",
        "trigger_journey",
        "summary",
    ):
        assert callable(getattr(frame.spotzee, method))


def test_accessor_methods_show_the_functions_signature_and_docs() -> None:
    import inspect

    accessor = pd.DataFrame().spotzee
    pairs = {
        "upsert": spotzee_frames.upsert,
        "track": spotzee_frames.track,
        "delete": spotzee_frames.delete,
        "set_subscription": spotzee_frames.set_subscription,
        "trigger_campaign": spotzee_frames.trigger_campaign,
        "trigger_journey": spotzee_frames.trigger_journey,
        "summary": spotzee_frames.summary,
    }
    for name, func in pairs.items():
        method = getattr(accessor, name)
        expected = list(inspect.signature(func).parameters)[1:]
        assert list(inspect.signature(method).parameters) == expected
        first = func.__doc__.splitlines()[0].replace("`frame`", "the frame")
        assert method.__doc__.splitlines()[0] == first
        # help() documents what the accessor takes: no frame parameter of its own.
        assert "\n    frame\n" not in method.__doc__ and "`frame`" not in method.__doc__
    upsert_help = accessor.upsert.__doc__
    assert "\n    mapping\n" in upsert_help and "Indexed exactly like the frame" in upsert_help
    assert repr(accessor).startswith("<spotzee accessor on a frame of 0 rows and 0 columns")
    assert ".summary()" in repr(pd.DataFrame({"status": ["upserted"]}).spotzee)
