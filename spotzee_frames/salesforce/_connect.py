"""`connect()`: a simple-salesforce session from the environment (or from arguments).

Either an access token and the instance URL (what an OAuth flow or `sf org display` gives),
or a username, password and security token (simple-salesforce's SOAP login, which also
refreshes an expired session by itself). Secrets are read, passed on, and never shown.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .._errors import ConfigurationError, SalesforceSessionError

if TYPE_CHECKING:
    import requests
    from simple_salesforce.api import Salesforce

__all__ = ["ENVIRONMENT", "connect"]

#: The variables `connect()` reads.
ENVIRONMENT = {
    "instance_url": "SALESFORCE_INSTANCE_URL",
    "access_token": "SALESFORCE_ACCESS_TOKEN",
    "username": "SALESFORCE_USERNAME",
    "password": "SALESFORCE_PASSWORD",
    "security_token": "SALESFORCE_SECURITY_TOKEN",
    "domain": "SALESFORCE_DOMAIN",
}


def _salesforce() -> type[Salesforce]:
    try:
        from simple_salesforce.api import Salesforce
    except ImportError:
        raise ConfigurationError(
            "talking to Salesforce needs simple-salesforce: "
            'pip install "spotzee-frames[salesforce]" (a dict of frames of exported '
            "records needs nothing more)"
        ) from None
    return Salesforce


def connect(
    *,
    instance_url: str | None = None,
    access_token: str | None = None,
    username: str | None = None,
    password: str | None = None,
    security_token: str | None = None,
    domain: str | None = None,
    session: requests.Session | None = None,
    version: str | None = None,
) -> Salesforce:
    """A `simple_salesforce.Salesforce` session, from the arguments or else the environment:

    - `SALESFORCE_INSTANCE_URL` and `SALESFORCE_ACCESS_TOKEN` (an OAuth access token), or
    - `SALESFORCE_USERNAME`, `SALESFORCE_PASSWORD` and `SALESFORCE_SECURITY_TOKEN`, with
      `SALESFORCE_DOMAIN` `login` (default) or `test` for a sandbox org.

    `session` is a `requests.Session` to use (proxies, certificates); `version` the REST
    API version. ConfigurationError when neither set is complete; SalesforceSessionError
    when the login is refused.
    """
    given = {
        "instance_url": instance_url,
        "access_token": access_token,
        "username": username,
        "password": password,
        "security_token": security_token,
        "domain": domain,
    }
    values = {
        k: (v if v is not None else os.environ.get(ENVIRONMENT[k], "").strip() or None)
        for k, v in given.items()
    }
    session_class = _salesforce()
    # Plain dicts (ordered anyway) parse much faster than simple-salesforce's default
    # OrderedDict, and a sync parses every record.
    options: dict[str, Any] = {"session": session, "object_pairs_hook": None}
    if version is not None:
        options["version"] = version
    if values["access_token"] and values["instance_url"]:
        return session_class(
            instance_url=values["instance_url"], session_id=values["access_token"], **options
        )
    if values["username"] and values["password"] and values["security_token"] is not None:
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed

        try:
            return session_class(
                username=values["username"],
                password=values["password"],
                security_token=values["security_token"],
                domain=values["domain"] or "login",
                **options,
            )
        except SalesforceAuthenticationFailed as exc:
            raise SalesforceSessionError(
                f"Salesforce refused the login of {values['username']!r} ({exc.code})",
                status_code=401,
                error_code=str(exc.code),
            ) from None
    missing = [ENVIRONMENT[k] for k in ("instance_url", "access_token") if not values[k]]
    raise ConfigurationError(
        "no Salesforce connection: set SALESFORCE_INSTANCE_URL and SALESFORCE_ACCESS_TOKEN "
        "(or SALESFORCE_USERNAME, SALESFORCE_PASSWORD and SALESFORCE_SECURITY_TOKEN); "
        f"missing: {', '.join(missing)}"
    )
