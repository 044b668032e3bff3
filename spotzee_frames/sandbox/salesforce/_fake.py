"""`FakeSalesforce`: the facade tests, notebooks and benchmarks use."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._api import FAULT_KINDS, FakeApi, RequestLog, _Login
from ._org import Org, SfField

if TYPE_CHECKING:
    from requests import Session
    from simple_salesforce.api import Salesforce

__all__ = ["FakeSalesforce", "ServedSalesforce"]

DEFAULT_INSTANCE = "https://fake-org.salesforce.test"


@dataclass(frozen=True)
class ServedSalesforce:
    """Where a served fake listens (HTTPS on 127.0.0.1) and how to trust it. Sessions made
    by `session()` and `connect()` are closed when the server stops."""

    instance_url: str
    #: PEM file of the throwaway certificate authority that signed the server's certificate.
    ca_file: str
    access_token: str
    _sessions: list[Any] = field(default_factory=list, repr=False, compare=False)

    def session(self) -> Session:
        """A `requests.Session` that trusts the fake's certificate (and nothing else new)."""
        import requests

        session = requests.Session()
        # With trust_env, requests lets REQUESTS_CA_BUNDLE (and proxy variables) override
        # the session's own `verify`; a loopback server needs neither.
        session.trust_env = False
        session.verify = self.ca_file
        self._sessions.append(session)
        return session

    def connect(self, **options: Any) -> Salesforce:
        """A simple-salesforce session on the served fake."""
        from simple_salesforce.api import Salesforce

        return Salesforce(
            instance_url=self.instance_url,
            session_id=self.access_token,
            session=self.session(),
            **{"object_pairs_hook": None, **options},
        )


class FakeSalesforce:
    """A local stand-in for one Salesforce org's REST API, spoken to by the real
    simple-salesforce: SOQL queries with paging, `describe`, API limits, errors, faults.

    >>> fake = FakeSalesforce()
    >>> _ = fake.add_leads(3, LeadSource="Web")
    >>> sf = fake.connect()                    # in process: no socket at all
    >>> sf.query("SELECT COUNT() FROM Lead WHERE LeadSource = 'web'")["totalSize"]
    3

    `serve()` serves it over HTTPS on 127.0.0.1 instead. The org's clock (`now`) starts at
    2026-05-01 09:00:00 UTC and moves only with `advance()`, so `LastModifiedDate`s are
    exact; writes can also be stamped `at=` an earlier moment, as a slow commit is.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        page_size: int = 2000,
        api_limit: int = 100_000,
        latency: float = 0.0,
        instance_url: str = DEFAULT_INSTANCE,
    ) -> None:
        self._org = Org(seed=seed)
        self._api = FakeApi(self._org, instance_url.rstrip("/"), page_size, latency)
        self._api.limits.limit = api_limit
        self.access_token = self._api.new_token()

    def __repr__(self) -> str:
        counts = ", ".join(f"{k}={len(v)}" for k, v in self._org.records.items() if v)
        return f"<FakeSalesforce {self.instance_url} {counts or 'empty'}>"

    @property
    def instance_url(self) -> str:
        return self._api.instance_url

    # -- the clock and the records --------------------------------------------------------

    @property
    def now(self) -> dt.datetime:
        return self._org.now

    def advance(self, **delta: float) -> dt.datetime:
        """Move the org's clock on (`advance(minutes=5)`); returns the new time."""
        with self._api.lock:
            self._org.now += dt.timedelta(**delta)
            return self._org.now

    def create(self, obj: str, values: Mapping[str, Any], *, at: dt.datetime | None = None) -> str:
        """Create a record (unset fields null, checkboxes false); returns its 18-char id."""
        with self._api.lock:
            return self._org.create(obj, values, at=at)

    def update(
        self, obj: str, record_id: str, values: Mapping[str, Any], *, at: dt.datetime | None = None
    ) -> None:
        """Change fields of a record; its LastModifiedDate becomes `at` (default `now`)."""
        with self._api.lock:
            self._org.update(obj, record_id, values, at=at)

    def delete(self, obj: str, record_id: str) -> None:
        """Delete a record: it is then visible only through queryAll, as IsDeleted."""
        with self._api.lock:
            self._org.delete(obj, record_id)

    def add_leads(self, n: int, *, at: dt.datetime | None = None, **values: Any) -> list[str]:
        """Create `n` leads with plausible demo values (overridden by `values`)."""
        with self._api.lock:
            return self._org.add_people("Lead", n, values, at=at)

    def add_contacts(self, n: int, *, at: dt.datetime | None = None, **values: Any) -> list[str]:
        """Create `n` contacts with plausible demo values (overridden by `values`)."""
        with self._api.lock:
            return self._org.add_people("Contact", n, values, at=at)

    def add_campaign(self, name: str, **values: Any) -> str:
        with self._api.lock:
            return self._org.create("Campaign", {"Name": name, "IsActive": True, **values})

    def add_members(
        self,
        campaign_id: str,
        *,
        leads: list[str] | tuple[str, ...] = (),
        contacts: list[str] | tuple[str, ...] = (),
        at: dt.datetime | None = None,
    ) -> list[str]:
        """Add leads and contacts to a campaign; returns the CampaignMember ids."""
        with self._api.lock:
            return self._org.add_members(campaign_id, leads=leads, contacts=contacts, at=at)

    def record(self, obj: str, record_id: str) -> dict[str, Any]:
        """A copy of one record's values."""
        with self._api.lock:
            return dict(self._org.records[self._org.schema(obj).name][record_id])

    def ids(self, obj: str) -> list[str]:
        with self._api.lock:
            return list(self._org.records[self._org.schema(obj).name])

    def add_field(self, obj: str, name: str, type: str, **options: Any) -> None:
        """Add a (custom) field to an object, null on every record."""
        with self._api.lock:
            schema = self._org.schema(obj)
            schema.add(SfField(name, type, **options))
            for record in self._org.records[schema.name].values():
                record.setdefault(name, False if type == "boolean" else None)

    def remove_field(self, obj: str, name: str) -> None:
        """Delete a field from an object (as an admin deleting a custom field)."""
        with self._api.lock:
            schema = self._org.schema(obj)
            removed = schema.fields.pop(name.lower())
            for record in self._org.records[schema.name].values():
                record.pop(removed.name, None)

    # -- sessions, limits and faults ----------------------------------------------------------

    def expire_session(self) -> None:
        """Invalidate every session (the next call answers 401 INVALID_SESSION_ID)."""
        with self._api.lock:
            self._api.tokens.clear()

    def new_session(self) -> str:
        """A fresh access token (the old ones keep working unless expired)."""
        self.access_token = self._api.new_token()
        return self.access_token

    def add_login(self, username: str, password: str, security_token: str) -> None:
        """Accept this username/password/security token on the SOAP login."""
        with self._api.lock:
            self._api.logins[username] = _Login(password, security_token)

    @property
    def api_usage(self) -> tuple[int, int]:
        """(requests used, daily limit), as `Sforce-Limit-Info` reports them."""
        with self._api.lock:
            return self._api.limits.used, self._api.limits.limit

    def set_api_usage(self, used: int, limit: int | None = None) -> None:
        with self._api.lock:
            self._api.limits.used = used
            if limit is not None:
                self._api.limits.limit = limit

    def inject(self, kind: str, *, times: int = 1, on: str | None = None, after: int = 0) -> None:
        """Script `times` faults for the next requests of kind `on` (query, query_more,
        describe, limits, login; None: any), letting `after` of them through first.

        Kinds: "500" and "503" (UNKNOWN_EXCEPTION), "request_limit" (403
        REQUEST_LIMIT_EXCEEDED), "expired_session" (401 INVALID_SESSION_ID) and
        "disconnect" (the connection drops with no answer)."""
        self._api.inject(kind, times=times, on=on, after=after)

    FAULT_KINDS = FAULT_KINDS

    @property
    def requests(self) -> list[RequestLog]:
        """Every request seen, oldest first."""
        with self._api.lock:
            return list(self._api.log)

    @property
    def queries(self) -> list[str]:
        """The SOQL text of every first-page query, oldest first."""
        return [r.soql for r in self.requests if r.kind == "query" and r.soql is not None]

    # -- transports -----------------------------------------------------------------------------

    def session(self) -> Session:
        """A `requests.Session` whose every https:// request is answered by this fake, in
        process (so nothing can leave the machine, not even a login)."""
        import requests

        from ._transport import FakeAdapter

        session = requests.Session()
        session.mount("https://", FakeAdapter(self._api))
        session.mount("http://", FakeAdapter(self._api))
        return session

    def connect(self, **options: Any) -> Salesforce:
        """A simple-salesforce session on this fake, in process."""
        from simple_salesforce.api import Salesforce

        return Salesforce(
            instance_url=self.instance_url,
            session_id=self.access_token,
            session=self.session(),
            **{"object_pairs_hook": None, **options},
        )

    @contextlib.contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[ServedSalesforce]:
        """Serve over HTTPS on `host:port` (0: a free port) from a background thread, with a
        certificate from a throwaway authority (`ca_file`) made for this run."""
        with _tls_files(host) as (keycert, ca_file):
            from .._server import serve_in_thread, uvicorn_server
            from ._transport import AsgiFake

            server = uvicorn_server(AsgiFake(self._api), ssl_keyfile=keycert, ssl_certfile=keycert)
            with serve_in_thread(server, host, port, name="fake-salesforce") as bound:
                url = f"https://{host}:{bound}"
                previous = self._api.instance_url
                self._api.instance_url = url
                served = ServedSalesforce(url, ca_file, self.access_token)
                try:
                    yield served
                finally:
                    self._api.instance_url = previous
                    # An idle keep-alive connection would hold up the server's shutdown.
                    for session in served._sessions:
                        session.close()


@contextlib.contextmanager
def _tls_files(host: str) -> Iterator[tuple[str, str]]:
    """(key + certificate chain PEM, CA PEM) files for `host`, deleted afterwards."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - part of the test extra
        raise RuntimeError(
            "serving the fake Salesforce over HTTPS needs trustme: pip install trustme"
        ) from None
    ca = trustme.CA()
    cert = ca.issue_cert(host, "localhost")
    with cert.private_key_and_cert_chain_pem.tempfile() as keycert, ca.cert_pem.tempfile() as pem:
        yield keycert, pem
