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
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
import pandas as pd

from ._errors import ValidationError, WebhookVerificationError
from ._listing import nullable_column, records_frame, to_int, to_utc_times

__all__ = ["verify_webhook", "webhooks_to_frame"]

_LEGACY_HEADER = "x-spotzee-signature"
_TIMESTAMPED_HEADER = "spotzee-signature"
DEFAULT_TOLERANCE = 300.0


def _header(headers: Mapping[str, Any] | Iterable[tuple[str, Any]], name: str) -> str | None:
    """The value of header `name`, matched case-insensitively (HTTP header names are)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    for pair in items:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ValidationError(f"headers must be (name, value) pairs; got {pair!r}")
        key, value = pair
        # ASGI and raw HTTP libraries give names as bytes
        label = key.decode("latin-1") if isinstance(key, bytes | bytearray) else str(key)
        if label.strip().lower() == name:
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
    if not (timestamp.isascii() and timestamp.isdigit()):  # int() takes other scripts' digits too
        raise WebhookVerificationError(
            f"Spotzee-Signature timestamp {timestamp!r} is not a unix time in seconds",
            reason="malformed_signature",
        )
    sent_at = int(timestamp)
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
    if isinstance(raw_body, str):
        body = raw_body.encode("utf-8")
    elif isinstance(raw_body, bytes | bytearray | memoryview):
        body = bytes(raw_body)
    else:
        raise ValidationError(
            f"raw_body must be the request body exactly as received (bytes or str), not "
            f"{type(raw_body).__name__}"
            + (
                ": pass the raw bytes, before any JSON parsing"
                if isinstance(raw_body, Mapping)
                else ""
            )
        )
    if isinstance(headers, str | bytes) or not isinstance(headers, Mapping | Iterable):
        raise ValidationError(
            "headers must be a mapping of header names to values, or a list of "
            f"(name, value) pairs, not {type(headers).__name__}"
        )
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not math.isfinite(tolerance)
        or tolerance < 0
    ):
        raise ValidationError(f"tolerance must be a number of seconds >= 0, not {tolerance!r}")
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


def _as_payload(item: Mapping[str, Any] | bytes | str, position: int) -> dict[str, Any]:
    if isinstance(item, bytes | str):
        try:
            item = orjson.loads(item)
        except orjson.JSONDecodeError as exc:
            raise ValidationError(f"webhook payload {position} is not JSON: {exc}") from None
    if not isinstance(item, Mapping):
        raise ValidationError(
            f"webhook payload {position} must be a JSON object (dict, str or bytes), "
            f"not {type(item).__name__}"
        )
    return dict(item)


def _flatten(record: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """`{"data": {"a": {"b": 1}}}` → `{"data_a_b": 1}`: objects flattened, lists kept."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(_flatten(value, name + "_"))
        elif not (isinstance(value, Mapping) and prefix == "" and key == "data"):
            out[name] = value  # an empty top-level `data` adds no column
    return out


def webhooks_to_frame(payloads: Iterable[Mapping[str, Any] | bytes | str]) -> pd.DataFrame:
    """One row per webhook payload: `event_type` (category), `timestamp` (UTC),
    `project_id` (Int64), and `data` flattened to `data_<key>` columns (nested objects
    become `data_<key>_<subkey>`; lists stay lists; a `data` that is not an object stays
    as a `data` column). Other top-level fields are kept. A field that cannot be read as
    its type (a timestamp that is no ISO 8601 time, a project_id that is no integer) is
    missing in that row, never an error for the whole frame.
    """
    if isinstance(payloads, Mapping | str | bytes):
        raise ValidationError(
            "webhooks_to_frame takes a list of payloads; for one payload pass [payload]"
        )
    rows = [_flatten(_as_payload(item, i)) for i, item in enumerate(payloads)]
    frame = records_frame(rows)
    for column in _BASE_COLUMNS:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    frame["event_type"] = (
        frame["event_type"]
        .map(lambda v: v if v is None or isinstance(v, str) else str(v))
        .astype("string")
        .astype("category")
    )
    frame["timestamp"] = to_utc_times(
        frame["timestamp"].map(lambda v: v if isinstance(v, str) else None)
    )
    frame["project_id"] = to_int(
        frame["project_id"].map(
            lambda v: (
                v
                if isinstance(v, int) and not isinstance(v, bool) and -(2**63) <= v < 2**63
                else None
            )
        )
    )
    rest = [c for c in frame.columns if c not in _BASE_COLUMNS]
    for column in rest:
        # nullable dtypes, so an integer field absent from some payloads stays an integer
        frame[column] = nullable_column(frame[column])
    return frame[_BASE_COLUMNS + rest]
