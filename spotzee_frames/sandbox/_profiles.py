"""Server profiles: which API the sandbox plays, the contract's Spotzee or a self-hosted
Parcelvoy (the open-source platform Spotzee is built on).

The app and the handlers ask the profile at each point where the two servers differ;
everything else (the store, the routes' rules, faults, rate limits) is shared. The
Parcelvoy profile is calibrated against Parcelvoy's `main` branch run locally
(shared/parcelvoy/RECIPE.md): no `POST /users/batch` or `POST /subscriptions/batch`
(koa's plain-text 405), no `GET /events`, `Idempotency-Key` and `Spotzee-Version`
ignored and nothing echoed, journeys with `published` instead of `status`, an unknown key
answered `404 {"code": 6000}`, plain-text 404s for missing campaigns and users, its
`{"status": "error", "error": …}` envelope, cursors left out rather than null, phones
read back in international format (with `phone_country` and `phone_is_valid` added to the
user's data), JSON numbers parsed as doubles, and no check of a campaign's or journey's
state before a trigger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import orjson
import phonenumbers

from ._problems import CATALOGUE, PROBLEM_JSON, problem_body
from ._wire import SandboxResponse

__all__ = ["PROFILES", "SPOTZEE", "Profile", "ProfileName", "Refusal", "profile_named"]

ProfileName = Literal["spotzee", "parcelvoy"]
PROFILES: Final[tuple[str, ...]] = get_args(ProfileName)

_TEXT: Final = "text/plain; charset=utf-8"
_JSON: Final = "application/json; charset=utf-8"
# The largest integer a double holds exactly (I-JSON, RFC 7493 section 2.2).
_EXACT: Final = 2**53


@dataclass(frozen=True, slots=True)
class Refusal:
    """A request the sandbox refuses: a catalogue `code` and its message, and the request's
    path, id and API version (which the answer may echo)."""

    code: str
    message: str
    path: str
    request_id: str
    version: str
    param: str | None = None
    errors: list[dict[str, Any]] | None = None
    retry_after: int | None = None


class Profile:
    """The contract's Spotzee, as shared/spotzee-api.md describes it."""

    name: str = "spotzee"
    #: Spotzee-Version is required, checked, and echoed with X-Request-Id.
    versioned: bool = True
    #: Idempotency-Key replays, mismatches and in-progress answers.
    honours_idempotency: bool = True
    #: A trigger is refused (409) unless the campaign or journey can take sends.
    checks_trigger_state: bool = True
    #: A missing route is answered before the key is looked at.
    routes_first: bool = False

    def __repr__(self) -> str:
        return f"<sandbox profile {self.name}>"

    def error(self, refusal: Refusal) -> SandboxResponse:
        """The answer for a refusal."""
        r = refusal
        body = problem_body(r.code, r.message, r.request_id, param=r.param, errors=r.errors)
        headers = [("content-type", PROBLEM_JSON), *self.echo(r.request_id, r.version)]
        if r.retry_after is not None:
            headers.append(("retry-after", str(r.retry_after)))
        return SandboxResponse(CATALOGUE[r.code][0], headers, body)

    def unknown_key(self, *, path: str, request_id: str, version: str) -> SandboxResponse:
        """The answer for a well-formed key that belongs to no project."""
        message = "this API key is not valid (unknown or revoked)"
        return self.error(Refusal("authentication_required", message, path, request_id, version))

    def echo(self, request_id: str, version: str) -> list[tuple[str, str]]:
        """Headers every answer carries."""
        return [("x-request-id", request_id), ("spotzee-version", version)]

    def lacks(self, method: str, path: str) -> SandboxResponse | None:
        """The answer for a route of the sandbox this server does not have (None: it has
        it)."""
        return None

    def no_route(
        self, method: str, path: str, allowed: list[str], *, request_id: str, version: str
    ) -> SandboxResponse:
        """The answer for a method and path no route serves (`allowed`: the methods that
        serve this path)."""
        message = f"no route {method} {path}"
        return self.error(Refusal("resource_missing", message, path, request_id, version))

    def read_body(self, body: bytes) -> bytes:
        """The request body as the server's JSON reader sees it."""
        return body

    def present(self, path: str, payload: Any) -> Any:
        """A handler's payload as this server shows it."""
        return payload

    def scheduled_state(self, campaign: dict[str, Any]) -> str:
        """The state a draft campaign takes when PATCHed to `scheduled`."""
        return "scheduled"


def _plain(status: int, text: str, *, allow: str | None = None) -> SandboxResponse:
    headers = [("content-type", _TEXT)]
    if allow is not None:
        headers.append(("allow", allow))
    return SandboxResponse(status, headers, text.encode())


def _doubles(value: Any) -> Any:
    """A parsed JSON value with every integer beyond 2**53 rounded as a double would be."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(float(value)) if abs(value) > _EXACT else value
    if isinstance(value, list):
        return [_doubles(item) for item in value]
    if isinstance(value, dict):
        return {key: _doubles(item) for key, item in value.items()}
    return value


def _parsed_phone(phone: Any) -> phonenumbers.PhoneNumber | None:
    """An international number as libphonenumber reads it (None: not one it can read)."""
    if not isinstance(phone, str) or not phone.startswith("+"):
        return None
    try:
        return phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None


def _user_view(user: Any) -> Any:
    """Parcelvoy shows a phone it can read in international format (`+61 412 345 000`)
    and, having read it, adds `phone_country` and `phone_is_valid` to the user's data."""
    if not isinstance(user, dict):
        return user
    number = _parsed_phone(user.get("phone"))
    if number is None:
        return user
    international = phonenumbers.PhoneNumberFormat.INTERNATIONAL
    data = user.get("data")
    if not isinstance(data, dict):
        data = {}
    return {
        **user,
        "phone": phonenumbers.format_number(number, international),
        "data": {
            **data,
            "phone_country": phonenumbers.region_code_for_number(number),
            "phone_is_valid": phonenumbers.is_valid_number(number),
        },
    }


def _journey_view(journey: Any) -> Any:
    if not isinstance(journey, dict) or "status" not in journey:
        return journey
    view = {k: v for k, v in journey.items() if k != "status"}
    view["published"] = journey["status"] == "live"
    return view


# koa-router answers a path that other methods serve with 405 and an Allow header.
_ABSENT: Final[dict[tuple[str, str], str]] = {
    ("POST", "/users/batch"): "HEAD, GET, DELETE",
    ("POST", "/subscriptions/batch"): "HEAD, GET, PATCH",
    ("GET", "/events"): "POST",
}
_ABSENT_PREFIXES: Final = ("/events/",)
# Parcelvoy's numeric codes for the refusals it gives a code to.
_CODES: Final = {"authentication_required": 1000, "permission_denied": 1007}
_MESSAGES: Final = {
    "authentication_required": "Authorization error.",
    "permission_denied": "Access denied.",
}


class ParcelvoyProfile(Profile):
    """A self-hosted Parcelvoy (its `main` branch, 2025-04), where it differs."""

    name = "parcelvoy"
    versioned = False
    honours_idempotency = False
    checks_trigger_state = False
    routes_first = True

    def error(self, refusal: Refusal) -> SandboxResponse:
        code = refusal.code
        status = CATALOGUE[code][0]
        if code == "resource_missing":
            if refusal.path.startswith("/journeys/"):
                return _json(404, {"status": "error", "error": "Journey not found"})
            return _plain(404, "Not Found")  # koa's default for a handler that found nothing
        if status in (400, 422) and code not in ("version_required", "version_unsupported"):
            status = 422  # its schema validation (ajv) answers 422, code-less
        body: dict[str, Any] = {"status": "error", "error": _MESSAGES.get(code, refusal.message)}
        if code in _CODES:
            body["code"] = _CODES[code]
        response = _json(status, body)
        if refusal.retry_after is not None:
            response.headers.append(("retry-after", str(refusal.retry_after)))
        return response

    def unknown_key(self, *, path: str, request_id: str, version: str) -> SandboxResponse:
        return _json(
            404, {"status": "error", "error": "The requested project does not exist.", "code": 6000}
        )

    def echo(self, request_id: str, version: str) -> list[tuple[str, str]]:
        return []

    def lacks(self, method: str, path: str) -> SandboxResponse | None:
        allow = _ABSENT.get((method, path))
        if allow is not None:
            return _plain(405, "Method Not Allowed", allow=allow)
        if path.startswith(_ABSENT_PREFIXES):
            return _plain(404, "Not Found")
        return None

    def no_route(
        self, method: str, path: str, allowed: list[str], *, request_id: str, version: str
    ) -> SandboxResponse:
        if allowed:
            methods = ["HEAD", *allowed] if "GET" in allowed else allowed
            return _plain(405, "Method Not Allowed", allow=", ".join(methods))
        return _plain(404, "Not Found")

    def read_body(self, body: bytes) -> bytes:
        # Node's JSON.parse reads every number as a double: 9007199254740993 becomes …992.
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError:
            return body
        rounded = _doubles(parsed)
        return body if rounded == parsed else orjson.dumps(rounded)

    def present(self, path: str, payload: Any) -> Any:
        view: Callable[[Any], Any] | None = None
        if path.startswith("/journeys"):
            view = _journey_view
        elif path.startswith("/users") and "/subscriptions" not in path:
            view = _user_view
        if isinstance(payload, dict) and isinstance(payload.get("results"), list):
            # A list whose cursor is null leaves the key out.
            out = {k: v for k, v in payload.items() if v is not None or k not in _CURSORS}
            if view is not None:
                out["results"] = [view(item) for item in payload["results"]]
            return out
        return payload if view is None else view(payload)

    def scheduled_state(self, campaign: dict[str, Any]) -> str:
        # Parcelvoy moves a scheduled campaign to `loading` while it builds the send list;
        # its once-a-minute state job moves a trigger campaign on to `running` (which the
        # sandbox, with no such job, never does).
        return "loading"


_CURSORS: Final = ("nextCursor", "prevCursor")


def _json(status: int, body: dict[str, Any]) -> SandboxResponse:
    return SandboxResponse(status, [("content-type", _JSON)], orjson.dumps(body))


SPOTZEE: Final = Profile()
_BY_NAME: Final[dict[str, Profile]] = {"spotzee": SPOTZEE, "parcelvoy": ParcelvoyProfile()}


def profile_named(name: str) -> Profile:
    """The profile called `name`; ValueError listing the choices otherwise."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown sandbox profile {name!r}; choose one of {', '.join(PROFILES)}"
        ) from None
