"""One exception tree for everything the toolkit raises.

Row problems are never exceptions: they become rows of a result frame. An exception
means the whole call could not go on (bad configuration, bad key, refused guard).

    SpotzeeError
    ├── ConfigurationError          missing/invalid settings, caught before any request
    │   ├── InsecureTransportError  a secret key would travel over plain http
    │   └── KeyScopeError           a pk_ key used where only sk_ keys are allowed
    ├── ValidationError             the call's arguments are wrong (mapping, options)
    ├── TargetStateError            a campaign/journey cannot take sends in its state
    ├── WebhookVerificationError    a webhook's signature or timestamp does not check out
    ├── LedgerError                 a ledger file cannot be used (not a ledger, unreadable)
    │   └── LedgerBusyError         another run is writing the same ledger right now
    ├── IntegrationStateError       a Salesforce integration cannot sync now (paused, locked…)
    ├── SalesforceError             a Salesforce call failed (after any retries)
    │   └── SalesforceSessionError  the session expired or the login was refused
    ├── TransportError              the network failed (after any retries)
    └── APIError                    Spotzee answered with an error envelope
        ├── MissingRouteError       the server has no such route (404/405, no envelope)
        ├── AuthenticationError     401
        ├── PermissionDeniedError   403
        ├── NotFoundError           404
        ├── ConflictError           409 (state_conflict, idempotency_key_mismatch, …)
        ├── InvalidRequestError     400 and 422
        ├── QuotaExceededError      402
        ├── RateLimitError          429
        └── ServerError             5xx

    Interrupted (a KeyboardInterrupt)  a long run was stopped; `.result` holds what was done

An APIError carries `status_code`, `code`, `message`, `param`, `errors`, `request_id`,
`retry_after`, `attempts`, `method` and `path` (of the request), and `enveloped` (whether
the answer was a JSON error body rather than a proxy's or framework's page). None of these
ever contains the API key.

Lenient readings (each also a way the real Spotzee may answer where its docs are vague,
and what a self-hosted Parcelvoy does): a 404 with Parcelvoy's code 6000 ("The requested
project does not exist.") is how that server refuses an unknown key, so it is an
AuthenticationError; a plain-text 404 on a path that names an object (`GET
/campaigns/999`) is that object missing, not the route.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "RETRYABLE_CODES",
    "APIError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "InsecureTransportError",
    "IntegrationStateError",
    "Interrupted",
    "InvalidRequestError",
    "KeyScopeError",
    "LedgerBusyError",
    "LedgerError",
    "MissingRouteError",
    "NotFoundError",
    "PermissionDeniedError",
    "QuotaExceededError",
    "RateLimitError",
    "SalesforceError",
    "SalesforceSessionError",
    "ServerError",
    "SpotzeeError",
    "TargetStateError",
    "TransportError",
    "ValidationError",
    "WebhookVerificationError",
    "route_missing",
]


class SpotzeeError(Exception):
    """Base of every error the toolkit raises."""


class ConfigurationError(SpotzeeError):
    """Settings are missing or unusable; nothing was sent."""


class InsecureTransportError(ConfigurationError):
    """A secret key would be sent over plain http to a host that is not loopback."""


class KeyScopeError(ConfigurationError):
    """A publishable (pk_) key was used for an endpoint that needs a secret key."""


class ValidationError(SpotzeeError, ValueError):
    """The arguments of a call are wrong (unknown field, bad option…); nothing was sent."""


class TargetStateError(SpotzeeError):
    """A campaign or journey is in a state that cannot take sends; nothing was sent."""

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class WebhookVerificationError(SpotzeeError):
    """A webhook request is not provably from Spotzee: do not act on its body.

    `reason` is one of `missing_signature`, `malformed_signature`, `stale_timestamp`,
    `signature_mismatch`, `invalid_body`.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class LedgerError(SpotzeeError):
    """A ledger file cannot be used: it is no ledger, it was written by a newer version,
    or its folder does not exist. Nothing was sent."""


class LedgerBusyError(LedgerError):
    """Another run holds the ledger (one writer at a time); nothing was sent. The message
    names the process that holds it."""


class IntegrationStateError(SpotzeeError):
    """A Salesforce integration cannot sync now; nothing was pulled or sent.

    `reason` is `inactive` (paused: `resume()` first), `incomplete` (no objects to sync) or
    `locked` (another run of the same integration holds its state file).
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SalesforceError(SpotzeeError):
    """A Salesforce call failed, after any retries (or was refused outright).

    `status_code` is the HTTP status (None for a network failure), `error_code`
    Salesforce's `errorCode` (`MALFORMED_QUERY`, `INVALID_FIELD`, `REQUEST_LIMIT_EXCEEDED`…,
    or `network_error`), `attempts` how many tries were made. When a sync stopped on it,
    `result` holds the result frame of what was done before.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.error_code = error_code
        self.attempts = attempts
        self.result: Any = None


class SalesforceSessionError(SalesforceError):
    """The Salesforce session has expired or is not valid, or the login was refused:
    connect again (`salesforce.connect()`)."""


class TransportError(SpotzeeError):
    """The request got no usable answer, after any retries: no answer at all (connection,
    timeout…; code `network_error` or `timeout`) or one that cannot be read (`invalid_response`).
    Either way the work may or may not have been done."""

    def __init__(self, message: str, *, attempts: int = 1, code: str = "network_error") -> None:
        super().__init__(message)
        self.attempts = attempts
        self.code = code
        self.status_code: int | None = None
        self.request_id: str | None = None
        self.retry_after: float | None = None


class APIError(SpotzeeError):
    """Spotzee answered with an error status."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        code: str,
        param: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        enveloped: bool = True,
        method: str | None = None,
        path: str | None = None,
        missing_route: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = code
        self.param = param
        self.errors = errors or []
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.enveloped = enveloped
        self.method = method
        self.path = path
        # None: judge by status and envelope (`route_missing`); the client says False for a
        # plain 404 on a path naming an object, which is that object missing.
        self._missing_route = missing_route
        # Set when a 401/403 or a missing route stops a sending run part-way: the result
        # frame of what was done before it (rows not reached are `interrupted`).
        self.result: Any = None

    def __str__(self) -> str:
        call = f"{self.method} {self.path}: " if self.method and self.path else ""
        where = f" (param {self.param})" if self.param else ""
        rid = f" [request {self.request_id}]" if self.request_id else ""
        return f"{call}{self.status_code} {self.code}: {self.message}{where}{rid}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status_code={self.status_code}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )


class MissingRouteError(APIError):
    """The server has no such route (a 404 or 405 that is not the API's error envelope):
    a whole-call problem, never a per-row one; `.result` holds the result frame when a run
    stopped on it."""


class AuthenticationError(APIError):
    """401: the key is missing or not valid."""


class PermissionDeniedError(APIError):
    """403: the key may not do this."""


class NotFoundError(APIError):
    """404: no such resource."""


class ConflictError(APIError):
    """409: state conflict, idempotency key reused with another body, or already exists."""


class InvalidRequestError(APIError):
    """400 or 422: the request was refused as malformed or invalid."""


class QuotaExceededError(APIError):
    """402: the project's quota is used up."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` says how long to wait."""


class ServerError(APIError):
    """5xx: Spotzee (or a proxy in front of it) failed."""


_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    402: QuotaExceededError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: InvalidRequestError,
    429: RateLimitError,
}


def error_class_for(status_code: int) -> type[APIError]:
    """The exception class for an HTTP error status."""
    if status_code >= 500:
        return ServerError
    return _BY_STATUS.get(status_code, APIError)


def route_missing(error: BaseException) -> bool:
    """Whether an error says the route itself does not exist: a 404 or 405 answered with
    something other than the API's JSON error envelope (a framework's plain-text page, as
    Parcelvoy gives for `POST /users/batch` or `POST /subscriptions/batch`). A 404 in the
    envelope names a missing resource instead (an unknown campaign), which is no such thing;
    so does a plain 404 on a documented path that names an object (`GET /campaigns/999`,
    `PATCH /users/u1/subscriptions`), which is how Parcelvoy says the object is not there."""
    if isinstance(error, MissingRouteError):
        return True
    if not isinstance(error, APIError):
        return False
    if error._missing_route is not None:
        return error._missing_route
    return error.status_code in (404, 405) and not error.enveloped


# Error codes worth retrying although their status is a 4xx.
RETRYABLE_CODES = frozenset({"rate_limited", "idempotency_in_progress"})


def is_transient(error: BaseException) -> bool:
    """Whether an error may pass on its own (the contract's retry rule): network trouble,
    a 5xx, a 429 or `idempotency_in_progress`. Other 4xx answers are final."""
    if isinstance(error, TransportError):
        return True
    if isinstance(error, APIError):
        status = error.status_code
        # By status first: a 400 that calls itself rate_limited is still a 400.
        return status >= 500 or status == 429 or (status == 409 and error.code in RETRYABLE_CODES)
    return False


class Interrupted(KeyboardInterrupt):
    """A long run was interrupted; `result` is the partial result frame of what was done."""

    def __init__(self, message: str, result: Any = None) -> None:
        super().__init__(message)
        self.result = result
