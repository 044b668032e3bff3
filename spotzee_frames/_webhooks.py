"""Check that a webhook really comes from Spotzee, and turn webhook payloads into a frame.

Two signature schemes exist (see the contract's Webhooks section):

- today's test event: ``X-Spotzee-Signature: sha256=<hex HMAC-SHA256(raw body)>``;
- the planned production scheme: ``Spotzee-Signature: t=<unix>,v1=<hex>``, where the HMAC
  covers ``"<t>.<raw body>"`` and a timestamp more than five minutes off is refused, so a
  captured request cannot be replayed later. Several ``v1=`` values may be present (secret
  rotation); one matching is enough.

The HMAC key is the endpoint secret exactly as Spotzee shows it, ``whsec_`` prefix
included, encoded as UTF-8. Signatures are compared with `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pandas as pd

from ._errors import ValidationError, WebhookVerificationError

__all__ = ["verify_webhook", "webhooks_to_frame"]

_LEGACY_HEADER = "x-spotzee-signature"
_TIMESTAMPED_HEADER = "spotzee-signature"
DEFAULT_TOLERANCE = 300.0


def _header(headers: Mapping[str, Any] | Iterable[tuple[str, Any]], name: str) -> str | None:
    """The value of header `name`, matched case-insensitively (HTTP header names are)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for key, value in items:
        if str(key).lower() == name:
            if isinstance(value, bytes):
                return value.decode("latin-1").strip()
            return str(value).strip()
    return None


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _matches(expected: str, candidates: Iterable[str]) -> bool:
    # Check every candidate (no early exit) so timing does not reveal which one matched.
    found = False
    for candidate in candidates:
        given = candidate.lower().encode("ascii", "replace")
        found |= hmac.compare_digest(expected.encode("ascii"), given)
    return found


def _verify_timestamped(
    header: str, body: bytes, secret: str, *, tolerance: float, now: float | None
) -> None:
    timestamp: str | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            timestamp = value.strip()
        elif key == "v1":
            signatures.append(value.strip())
    if timestamp is None or not signatures:
        raise WebhookVerificationError(
            "Spotzee-Signature must carry t=<unix seconds> and at least one v1=<hex>",
            reason="malformed_signature",
        )
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookVerificationError(
            f"Spotzee-Signature timestamp {timestamp!r} is not a unix time in seconds",
            reason="malformed_signature",
        ) from None
    current = time.time() if now is None else now
    if abs(current - sent_at) > tolerance:
        raise WebhookVerificationError(
            f"webhook timestamp is {abs(current - sent_at):.0f}s away from now, more than "
            f"the {tolerance:.0f}s tolerance: refused as a possible replay (check the clock)",
            reason="stale_timestamp",
        )
    expected = _hex_hmac(secret, timestamp.encode("ascii") + b"." + body)
    if not _matches(expected, signatures):
        raise WebhookVerificationError(
            "no v1 signature matches: wrong secret, or the body was altered "
            "(verify the raw bytes as received, before any JSON parsing)",
            reason="signature_mismatch",
        )


def _verify_legacy(header: str, body: bytes, secret: str) -> None:
    scheme, sep, signature = header.partition("=")
    if not sep or scheme.strip().lower() != "sha256" or not signature.strip():
        raise WebhookVerificationError(
            "X-Spotzee-Signature must look like sha256=<hex>", reason="malformed_signature"
        )
    if not _matches(_hex_hmac(secret, body), [signature.strip()]):
        raise WebhookVerificationError(
            "signature does not match: wrong secret, or the body was altered "
            "(verify the raw bytes as received, before any JSON parsing)",
            reason="signature_mismatch",
        )


def verify_webhook(
    raw_body: bytes | str,
    headers: Mapping[str, Any] | Iterable[tuple[str, Any]],
    secret: str,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a webhook request and return its parsed payload.

    `raw_body` must be the body exactly as received (a str is encoded as UTF-8).
    `headers` is any mapping or list of pairs; names are matched case-insensitively.
    When both headers are present, the timestamped `Spotzee-Signature` is the one checked,
    since it also protects against replays. `now` (unix seconds) is for tests.

    Raises `WebhookVerificationError` (with a `reason`) when the request cannot be trusted.
    """
    if not isinstance(secret, str) or not secret:
        raise ValidationError("secret must be the endpoint's non-empty secret string (whsec_…)")
    body = raw_body.encode("utf-8") if isinstance(raw_body, str) else bytes(raw_body)
    timestamped = _header(headers, _TIMESTAMPED_HEADER)
    legacy = _header(headers, _LEGACY_HEADER)
    if timestamped is not None:
        _verify_timestamped(timestamped, body, secret, tolerance=tolerance, now=now)
    elif legacy is not None:
        _verify_legacy(legacy, body, secret)
    else:
        raise WebhookVerificationError(
            "no Spotzee-Signature or X-Spotzee-Signature header: not a signed Spotzee webhook",
            reason="missing_signature",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise WebhookVerificationError(
            "the signature is valid but the body is not JSON", reason="invalid_body"
        ) from exc
    if not isinstance(payload, dict):
        raise WebhookVerificationError(
            "the signature is valid but the body is not a JSON object", reason="invalid_body"
        )
    return payload


_BASE_COLUMNS = ["event_type", "timestamp", "project_id"]


def _as_payload(item: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    if isinstance(item, (bytes, str)):
        item = orjson.loads(item)
    if not isinstance(item, Mapping):
        raise ValidationError(
            "each webhook payload must be a JSON object (dict, str or bytes), "
            f"not {type(item).__name__}"
        )
    return dict(item)


def webhooks_to_frame(payloads: Iterable[Mapping[str, Any] | bytes | str]) -> pd.DataFrame:
    """One row per webhook payload: `event_type` (category), `timestamp` (UTC),
    `project_id` (Int64), and `data` flattened to `data_<key>` columns (nested objects
    become `data_<key>_<subkey>`; lists stay lists). Other top-level fields are kept.
    """
    records = [_as_payload(item) for item in payloads]
    frame = pd.json_normalize(records, sep="_") if records else pd.DataFrame(columns=_BASE_COLUMNS)
    for column in _BASE_COLUMNS:
        if column not in frame.columns:
            frame[column] = None
    # a `data` that was empty for every payload survives json_normalize as an object column
    if "data" in frame.columns:
        frame = frame.drop(columns="data")
    frame["event_type"] = frame["event_type"].astype("string").astype("category")
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601").astype(
        "datetime64[ns, UTC]"
    )
    frame["project_id"] = pd.to_numeric(frame["project_id"]).astype("Int64")
    rest = [c for c in frame.columns if c not in _BASE_COLUMNS]
    if rest:
        # nullable dtypes, so an integer field absent from some payloads stays an integer
        frame[rest] = frame[rest].convert_dtypes()
    return frame[_BASE_COLUMNS + rest]
