"""The API's error catalogue and its `application/problem+json` envelope."""

from __future__ import annotations

from typing import Any, Final

import orjson

__all__ = ["CATALOGUE", "PROBLEM_JSON", "ApiError", "problem_body"]

PROBLEM_JSON: Final = "application/problem+json"
_DOCS: Final = "https://docs.spotzee.com/main-api/errors#"

#: code -> (HTTP status, title), exactly the contract's table.
CATALOGUE: Final[dict[str, tuple[int, str]]] = {
    "resource_missing": (404, "Resource missing"),
    "resource_already_exists": (409, "Resource already exists"),
    "state_conflict": (409, "State conflict"),
    "parameter_missing": (400, "Parameter missing"),
    "parameter_invalid_empty": (400, "Parameter empty"),
    "parameter_invalid_format": (400, "Parameter invalid"),
    "parameter_unknown": (400, "Unknown parameter"),
    "validation_failed": (422, "Validation failed"),
    "authentication_required": (401, "Authentication required"),
    "permission_denied": (403, "Permission denied"),
    "idempotency_key_mismatch": (409, "Idempotency key reused with another body"),
    "idempotency_key_invalid": (400, "Idempotency key invalid"),
    "idempotency_in_progress": (409, "Request with this idempotency key in progress"),
    "rate_limited": (429, "Too many requests"),
    "version_unsupported": (400, "API version unsupported"),
    "version_required": (400, "API version required"),
    "quota_exceeded": (402, "Quota exceeded"),
    "service_unavailable": (503, "Service unavailable"),
    "internal_error": (500, "Internal error"),
}


class ApiError(Exception):
    """A handler's refusal; the app turns it into an error envelope."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        if code not in CATALOGUE:
            raise ValueError(f"unknown error code {code!r}")
        self.code = code
        self.message = message
        self.param = param
        self.errors = errors
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return CATALOGUE[self.code][0]


def problem_body(
    code: str,
    message: str,
    request_id: str,
    *,
    param: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> bytes:
    """The JSON envelope for an error `code`."""
    title = CATALOGUE[code][1]
    body: dict[str, Any] = {
        "status": "error",
        "code": code,
        "title": title,
        "message": message,
        "error": message,
        "type": _DOCS + code,
        "request_id": request_id,
    }
    if param is not None:
        body["param"] = param
    if errors:
        body["errors"] = errors
    return orjson.dumps(body)
