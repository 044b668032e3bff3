"""verify_webhook for both signature schemes, and webhooks_to_frame."""

from __future__ import annotations

import hashlib
import hmac
import time

import orjson
import pandas as pd
import pytest

from spotzee_frames._errors import SpotzeeError, ValidationError, WebhookVerificationError
from spotzee_frames._webhooks import verify_webhook, webhooks_to_frame

SECRET = "whsec_3kT9bq2XzP"
NOW = 1_780_000_000
BODY = orjson.dumps(
    {
        "event_type": "test.webhook-test",
        "timestamp": "2026-05-28T12:00:00Z",
        "project_id": 42,
        "data": {"message": "hello"},
    }
)


def _legacy(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Spotzee-Signature": f"sha256={digest}"}


def _timestamped(body: bytes, t: int = NOW, secret: str = SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def test_legacy_scheme_valid_returns_payload() -> None:
    payload = verify_webhook(BODY, _legacy(BODY), SECRET)
    assert payload["event_type"] == "test.webhook-test"
    assert payload["data"] == {"message": "hello"}


def test_headers_are_case_insensitive_and_body_may_be_str() -> None:
    headers = {k.lower(): v for k, v in _legacy(BODY).items()}
    assert verify_webhook(BODY.decode(), headers, SECRET)["project_id"] == 42
    pairs = [("X-SPOTZEE-SIGNATURE", _legacy(BODY)["X-Spotzee-Signature"])]
    assert verify_webhook(BODY, pairs, SECRET)["project_id"] == 42


def test_legacy_uppercase_hex_accepted() -> None:
    header = _legacy(BODY)["X-Spotzee-Signature"]
    scheme, hexdigest = header.split("=", 1)
    assert verify_webhook(BODY, {"X-Spotzee-Signature": f"{scheme}={hexdigest.upper()}"}, SECRET)


def test_legacy_tampered_body() -> None:
    tampered = BODY.replace(b"hello", b"hellO")
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(tampered, _legacy(BODY), SECRET)
    assert info.value.reason == "signature_mismatch"
    assert isinstance(info.value, SpotzeeError)


def test_legacy_wrong_secret() -> None:
    with pytest.raises(WebhookVerificationError, match="wrong secret"):
        verify_webhook(BODY, _legacy(BODY, secret="whsec_other"), SECRET)


def test_secret_prefix_is_part_of_the_key() -> None:
    # The documented key is the full secret string; signing without the prefix must fail.
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, _legacy(BODY, secret=SECRET.removeprefix("whsec_")), SECRET)


def test_malformed_and_missing_headers() -> None:
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, {"X-Spotzee-Signature": "md5=abc"}, SECRET)
    assert info.value.reason == "malformed_signature"
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, {"Content-Type": "application/json"}, SECRET)
    assert info.value.reason == "missing_signature"
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, {"Spotzee-Signature": f"t={NOW}"}, SECRET, now=NOW)
    assert info.value.reason == "malformed_signature"
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, {"Spotzee-Signature": "t=soon,v1=abc"}, SECRET, now=NOW)
    assert info.value.reason == "malformed_signature"


def test_timestamped_scheme_valid() -> None:
    headers = {"Spotzee-Signature": _timestamped(BODY)}
    assert verify_webhook(BODY, headers, SECRET, now=NOW + 299)["project_id"] == 42
    assert verify_webhook(BODY, headers, SECRET, now=NOW - 299)["project_id"] == 42


def test_timestamped_scheme_uses_the_clock_by_default() -> None:
    import time

    t = int(time.time())
    assert verify_webhook(BODY, {"spotzee-signature": _timestamped(BODY, t=t)}, SECRET)


def test_timestamped_stale_and_future() -> None:
    headers = {"Spotzee-Signature": _timestamped(BODY)}
    for now in (NOW + 301, NOW - 301):
        with pytest.raises(WebhookVerificationError) as info:
            verify_webhook(BODY, headers, SECRET, now=now)
        assert info.value.reason == "stale_timestamp"
    assert verify_webhook(BODY, headers, SECRET, now=NOW + 1000, tolerance=3600)


def test_timestamped_tampered_timestamp_or_body() -> None:
    header = _timestamped(BODY)
    forged = header.replace(f"t={NOW}", f"t={NOW + 10}")
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, {"Spotzee-Signature": forged}, SECRET, now=NOW)
    assert info.value.reason == "signature_mismatch"
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY + b" ", {"Spotzee-Signature": header}, SECRET, now=NOW)


def test_timestamped_wrong_secret() -> None:
    headers = {"Spotzee-Signature": _timestamped(BODY, secret="whsec_old")}
    with pytest.raises(WebhookVerificationError, match="wrong secret"):
        verify_webhook(BODY, headers, SECRET, now=NOW)


def test_timestamped_several_v1_values_one_matching() -> None:
    old = _timestamped(BODY, secret="whsec_old").split("v1=")[1]
    header = f"t={NOW}, v1={old}, " + _timestamped(BODY).split(",")[1] + ",v0=ignored"
    assert verify_webhook(BODY, {"Spotzee-Signature": header}, SECRET, now=NOW)


def test_timestamped_header_wins_over_legacy() -> None:
    # A valid legacy signature must not rescue a stale timestamped one (replay protection).
    headers = {"Spotzee-Signature": _timestamped(BODY), **_legacy(BODY)}
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(BODY, headers, SECRET, now=NOW + 10_000)
    assert info.value.reason == "stale_timestamp"


def test_signed_body_that_is_not_json() -> None:
    body = b"not json"
    with pytest.raises(WebhookVerificationError) as info:
        verify_webhook(body, _legacy(body), SECRET)
    assert info.value.reason == "invalid_body"


def test_webhooks_to_frame_dtypes_and_flattening() -> None:
    frame = webhooks_to_frame(
        [
            BODY,
            {
                "event_type": "delivery.failed",
                "timestamp": "2026-05-28T14:00:01.5+02:00",
                "project_id": 42,
                "data": {"campaign_id": 7, "user": {"external_id": "u1"}, "tags": ["a", "b"]},
            },
            BODY.decode(),
        ]
    )
    assert list(frame.columns[:3]) == ["event_type", "timestamp", "project_id"]
    assert isinstance(frame["event_type"].dtype, pd.CategoricalDtype)
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["project_id"].dtype) == "Int64"
    assert frame["timestamp"][1] == pd.Timestamp("2026-05-28T12:00:01.5Z")
    assert str(frame["data_campaign_id"].dtype) == "Int64"
    assert frame["data_campaign_id"].isna().tolist() == [True, False, True]
    assert frame["data_user_external_id"][1] == "u1"
    assert frame["data_tags"][1] == ["a", "b"]
    assert frame["data_message"][0] == "hello"


def test_webhooks_to_frame_empty() -> None:
    frame = webhooks_to_frame([])
    assert list(frame.columns) == ["event_type", "timestamp", "project_id"]
    assert len(frame) == 0
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["project_id"].dtype) == "Int64"


def test_frames_from_odd_payloads_keep_what_they_can() -> None:
    frame = webhooks_to_frame(
        [
            {"event_type": "a", "data": "hello", "timestamp": "yesterday", "project_id": "abc"},
            {"event_type": "b", "data": {"n": 9007199254740993}, "timestamp": 1700000000},
            {"event_type": "c", "data": {}, "timestamp": "0001-01-01T00:00:00Z", "project_id": 7},
        ]
    )
    assert frame["data"].tolist()[0] == "hello"  # a data that is no object is kept
    assert frame["data_n"].dtype == "Int64" and frame["data_n"][1] == 9007199254740993
    assert frame["timestamp"].isna().all()
    assert frame["project_id"].tolist()[:2] == [pd.NA, pd.NA] and frame["project_id"][2] == 7
    for bad in (["{not json"], {"event_type": "a"}):
        with pytest.raises(ValidationError):
            webhooks_to_frame(bad)  # type: ignore[arg-type]


def test_verify_webhook_refuses_wrong_arguments_and_reads_asgi_headers() -> None:
    body = b'{"event_type":"a"}'
    raw = [(k.lower().encode(), v.encode()) for k, v in _legacy(body).items()]  # ASGI form
    assert verify_webhook(body, raw, SECRET) == {"event_type": "a"}
    for args in [
        ({"a": 1}, {}),
        (None, {}),
        (5, {}),
        (body, None),
        (body, "X-Spotzee-Signature: x"),
    ]:
        with pytest.raises(ValidationError):
            verify_webhook(*args, SECRET)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="tolerance"):
        verify_webhook(body, {}, SECRET, tolerance=float("nan"))
    digits = "".join(chr(0x660 + int(d)) for d in str(int(time.time())))  # Arabic-Indic
    with pytest.raises(WebhookVerificationError) as caught:
        verify_webhook(body, {"Spotzee-Signature": f"t={digits},v1=ab"}, SECRET)
    assert caught.value.reason == "malformed_signature"
