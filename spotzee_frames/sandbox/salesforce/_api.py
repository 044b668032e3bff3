"""The fake Salesforce REST API: one request in, one answer out, whatever carries it.

Routes (any `vNN.N` API version): `GET …/query?q=` and `…/queryAll?q=` (first page),
`GET …/query/<locator>-<offset>` (later pages, as `nextRecordsUrl` gives them),
`GET …/sobjects/<Object>/describe`, `GET …/limits`, and the SOAP login
`POST /services/Soap/u/<version>` that simple-salesforce's username/password flow uses.

Per request, in order: a scripted fault (if one matches), the bearer token, the daily API
limit (`REQUEST_LIMIT_EXCEEDED` once used up), then the route. Every authorised answer
carries `Sforce-Limit-Info: api-usage=<used>/<limit>`; errors are Salesforce's JSON array
`[{"message", "errorCode"}]`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import parse_qs
from xml.sax.saxutils import escape, unescape

import orjson

from . import _soql
from ._org import Org, Schema

__all__ = ["FAULT_KINDS", "Answer", "FakeApi", "RequestLog"]

FAULT_KINDS: Final = ("500", "503", "request_limit", "expired_session", "disconnect")
_API: Final = re.compile(r"/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?")
_SOAP: Final = re.compile(r"/services/Soap/u/(?P<version>\d+\.\d)/?")
_LOCATOR: Final = re.compile(r"/(?:query|queryAll)/(?P<locator>01g[0-9A-Za-z]+)-(?P<offset>\d+)")
_DESCRIBE: Final = re.compile(r"/sobjects/(?P<object>\w+)/describe/?")
_BATCH_SIZE: Final = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)
_XML_QUOTES: Final = {"&quot;": '"', "&apos;": "'"}


@dataclass(frozen=True, slots=True)
class Answer:
    """What the server sends back; `disconnect` means the connection drops instead."""

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    disconnect: bool = False


@dataclass(frozen=True, slots=True)
class RequestLog:
    """One request the fake saw: `kind` is query, query_more, describe, limits, login or
    unknown; `soql` the query text for `query`."""

    method: str
    path: str
    kind: str
    soql: str | None
    status: int


@dataclass(slots=True)
class _Fault:
    kind: str
    on: str | None
    skip: int
    remaining: int


@dataclass(slots=True)
class _Cursor:
    """A query's result: the records selected when it ran (written out a page at a time)."""

    version: str
    schema: Schema
    fields: tuple[str, ...]
    records: list[dict[str, Any]]
    page_size: int


@dataclass(slots=True)
class _Login:
    password: str
    security_token: str


@dataclass
class _Limits:
    used: int = 0
    limit: int = 100_000


@dataclass
class FakeApi:
    """The request pipeline over one `Org`; all state changes happen under `lock`."""

    org: Org
    instance_url: str
    page_size: int = 2000
    latency: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    limits: _Limits = field(default_factory=_Limits)
    tokens: set[str] = field(default_factory=set)
    logins: dict[str, _Login] = field(default_factory=dict)
    log: list[RequestLog] = field(default_factory=list)
    faults: list[_Fault] = field(default_factory=list)
    cursors: dict[str, _Cursor] = field(default_factory=dict)
    _locators: int = 0

    def new_token(self) -> str:
        token = "00Dfake0000000!" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
        return token

    def inject(self, kind: str, *, times: int = 1, on: str | None = None, after: int = 0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        kinds = ("query", "query_more", "describe", "limits", "login")
        if on is not None and on not in kinds:
            raise ValueError(f"on= must be one of {', '.join(kinds)} or None, not {on!r}")
        with self.lock:
            self.faults.append(_Fault(kind, on, after, times))

    # -- the pipeline ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        """Answer one request (`headers` with lower-case names); the caller waits out
        `latency` first, in its own way (a thread sleeps, an event loop awaits)."""
        kind, route = self._route(method, path, query)
        with self.lock:
            answer = self._answer(kind, route, method, path, query, headers, body)
            soql = parse_qs(query).get("q", [None])[0] if kind == "query" else None
            self.log.append(RequestLog(method, path, kind, soql, answer.status))
            return answer

    def _route(self, method: str, path: str, query: str) -> tuple[str, Any]:
        soap = _SOAP.fullmatch(path)
        if soap and method == "POST":
            return "login", soap.group("version")
        api = _API.fullmatch(path)
        if not api or method != "GET":
            return "unknown", None
        rest, version = api.group("rest") or "/", api.group("version")
        if rest in ("/query", "/query/", "/queryAll", "/queryAll/"):
            return "query", (version, rest.strip("/") == "queryAll")
        locator = _LOCATOR.fullmatch(rest)
        if locator:
            return "query_more", (locator.group("locator"), int(locator.group("offset")))
        describe = _DESCRIBE.fullmatch(rest)
        if describe:
            return "describe", describe.group("object")
        if rest.rstrip("/") == "/limits":
            return "limits", None
        return "unknown", None

    def _fault(self, kind: str) -> str | None:
        for fault in self.faults:
            if fault.on is not None and fault.on != kind:
                continue
            if fault.skip > 0:
                fault.skip -= 1
                return None
            fault.remaining -= 1
            if fault.remaining == 0:
                self.faults.remove(fault)
            return fault.kind
        return None

    def _limit_headers(self) -> tuple[tuple[str, str], ...]:
        return (("Sforce-Limit-Info", f"api-usage={self.limits.used}/{self.limits.limit}"),)

    def _error(self, status: int, code: str, message: str, *, limited: bool = True) -> Answer:
        body = orjson.dumps([{"message": message, "errorCode": code}])
        extra = self._limit_headers() if limited else ()
        return Answer(status, body, (("Content-Type", "application/json"), *extra))

    def _json(self, payload: Any) -> Answer:
        return Answer(
            200,
            orjson.dumps(payload),
            (("Content-Type", "application/json;charset=UTF-8"), *self._limit_headers()),
        )

    def _answer(
        self,
        kind: str,
        route: Any,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        body: bytes,
    ) -> Answer:
        fault = self._fault(kind)
        if fault == "disconnect":
            return Answer(0, disconnect=True)
        if kind == "login":
            return self._login(route, body)
        if fault == "expired_session":
            return self._error(
                401, "INVALID_SESSION_ID", "Session expired or invalid", limited=False
            )
        auth = headers.get("authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " else ""
        if token not in self.tokens:
            return self._error(
                401, "INVALID_SESSION_ID", "Session expired or invalid", limited=False
            )
        if fault in ("500", "503"):
            return self._error(
                int(fault), "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please try again."
            )
        self.limits.used += 1
        if fault == "request_limit" or self.limits.used > self.limits.limit:
            return self._error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        try:
            if kind == "query":
                version, include_deleted = route
                text = parse_qs(query).get("q", [""])[0]
                return self._query(version, text, include_deleted, headers)
            if kind == "query_more":
                return self._more(*route)
            if kind == "describe":
                return self._describe(route)
            if kind == "limits":
                remaining = max(0, self.limits.limit - self.limits.used)
                return self._json(
                    {"DailyApiRequests": {"Max": self.limits.limit, "Remaining": remaining}}
                )
        except _soql.SoqlError as exc:
            return self._error(400, exc.code, exc.message)
        return self._error(404, "NOT_FOUND", "The requested resource does not exist")

    # -- routes -----------------------------------------------------------------------------

    def _login(self, version: str, body: bytes) -> Answer:
        text = body.decode("utf-8", "replace")
        # The partner login's body, whichever namespace prefix it uses (urn:, n1:…).
        user = re.search(r"<(\w+):username>(.*?)</\1:username>", text, re.DOTALL)
        secret = re.search(r"<(\w+):password>(.*?)</\1:password>", text, re.DOTALL)
        login = self.logins.get(unescape(user.group(2), _XML_QUOTES)) if user else None
        given = unescape(secret.group(2), _XML_QUOTES) if secret else ""
        if login is None or given != login.password + login.security_token:
            fault = (
                '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
                'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
                'xmlns:sf="urn:fault.partner.soap.sforce.com"><soapenv:Body><soapenv:Fault>'
                "<faultcode>INVALID_LOGIN</faultcode><faultstring>INVALID_LOGIN: Invalid "
                "username, password, security token; or user locked out.</faultstring>"
                "<detail><sf:LoginFault><sf:exceptionCode>INVALID_LOGIN</sf:exceptionCode>"
                "<sf:exceptionMessage>Invalid username, password, security token; or user "
                "locked out.</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
                "</soapenv:Body></soapenv:Envelope>"
            )
            return Answer(500, fault.encode(), (("Content-Type", "text/xml"),))
        token = "00Dfake0000000!" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        server = f"{self.instance_url}/services/Soap/u/{version}/00Dfake0000000"
        ok = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns="urn:partner.soap.sforce.com"><soapenv:Body><loginResponse><result>'
            f"<serverUrl>{escape(server)}</serverUrl><sessionId>{escape(token)}</sessionId>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Answer(200, ok.encode(), (("Content-Type", "text/xml"),))

    def _describe(self, obj: str) -> Answer:
        try:
            schema = self.org.schema(obj)
        except KeyError:
            return self._error(404, "NOT_FOUND", f"The requested resource does not exist: {obj}")
        return self._json(schema.describe())

    def _resolver(self, schema: Schema) -> Callable[[str], tuple[str, Callable[[Any], Any]]]:
        org = self.org

        def resolve(name: str) -> tuple[str, Callable[[Any], Any]]:
            head, _, tail = name.partition(".")
            if not tail:
                f = schema.get(head)
                if f is None:
                    raise _no_column(name, schema.name)
                key = f.name
                return f.type, lambda record: record.get(key)
            ref = schema.relationship(head)
            if ref is None or "." in tail:
                raise _no_column(name, schema.name)
            parent_schema = org.schema(ref.reference_to[0])
            pf = parent_schema.get(tail)
            if pf is None:
                raise _no_column(name, parent_schema.name)
            parents = org.records[parent_schema.name]
            ref_key, parent_key = ref.name, pf.name

            def get(record: Any) -> Any:
                parent = parents.get(record.get(ref_key) or "")
                return None if parent is None else parent.get(parent_key)

            return pf.type, get

        return resolve

    def _query(
        self, version: str, text: str, include_deleted: bool, headers: dict[str, str]
    ) -> Answer:
        query = _soql.parse(text)
        try:
            schema = self.org.schema(query.object)
        except KeyError:
            raise _soql.SoqlError(
                "INVALID_TYPE", f"sObject type '{query.object}' is not supported."
            ) from None
        resolve = self._resolver(schema)
        seen: set[str] = set()
        for name in query.fields:
            if name.lower() in seen:
                raise _soql.SoqlError("MALFORMED_QUERY", f"duplicate field selected: {name}")
            seen.add(name.lower())
            resolve(name)
        records = list(self.org.records[schema.name].values())
        if include_deleted:
            records += list(self.org.deleted[schema.name].values())
        if query.where is not None:
            test = _soql.predicate(query.where, resolve)
            records = [r for r in records if test(r)]
        if query.order:
            records.sort(key=_soql.sort_key(query.order, resolve, records))
        records = records[query.offset :]
        if query.limit is not None:
            records = records[: query.limit]
        if query.count:
            return self._json({"totalSize": len(records), "done": True, "records": []})
        page_size = self.page_size
        option = _BATCH_SIZE.search(headers.get("sforce-query-options", ""))
        if option:
            page_size = max(200, min(2000, int(option.group(1))))
        # A snapshot of the selected records' values, so later writes do not show through.
        cursor = _Cursor(version, schema, query.fields, [dict(r) for r in records], page_size)
        locator = None
        if len(records) > page_size:
            self._locators += 1
            locator = f"01g{self._locators:012d}"
            self.cursors[locator] = cursor
        return self._page(cursor, 0, locator)

    def _project(
        self, schema: Schema, version: str, fields: tuple[str, ...], record: dict[str, Any]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": _attributes(schema.name, version, record["Id"])}
        for name in fields:
            head, _, tail = name.partition(".")
            if not tail:
                f = schema.get(head)
                assert f is not None  # checked by the resolver
                out[f.name] = _wire(record.get(f.name))
                continue
            ref = schema.relationship(head)
            assert ref is not None and ref.relationship_name is not None
            parent_schema = self.org.schema(ref.reference_to[0])
            parent = self.org.records[parent_schema.name].get(record.get(ref.name) or "")
            rel = ref.relationship_name
            if parent is None:
                out[rel] = None
                continue
            nested = out.get(rel)
            if nested is None:
                nested = out[rel] = {
                    "attributes": _attributes(parent_schema.name, version, parent["Id"])
                }
            pf = parent_schema.get(tail)
            assert pf is not None
            nested[pf.name] = _wire(parent.get(pf.name))
        return out

    def _page(self, cursor: _Cursor, offset: int, locator: str | None) -> Answer:
        size, records = cursor.page_size, cursor.records
        chunk = [
            self._project(cursor.schema, cursor.version, cursor.fields, r)
            for r in records[offset : offset + size]
        ]
        done = offset + size >= len(records)
        payload: dict[str, Any] = {"totalSize": len(records), "done": done, "records": chunk}
        if not done:
            payload["nextRecordsUrl"] = (
                f"/services/data/v{cursor.version}/query/{locator}-{offset + size}"
            )
        return self._json(payload)

    def _more(self, locator: str, offset: int) -> Answer:
        cursor = self.cursors.get(locator)
        if cursor is None or offset >= len(cursor.records):
            raise _soql.SoqlError("INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(cursor, offset, locator)


def _no_column(name: str, obj: str) -> _soql.SoqlError:
    return _soql.SoqlError(
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{obj}'. If you are attempting to use a custom "
        "field, be sure to append the '__c' after the custom field name.",
    )


def _attributes(obj: str, version: str, record_id: str) -> dict[str, str]:
    return {"type": obj, "url": f"/services/data/v{version}/sobjects/{obj}/{record_id}"}


def _wire(value: Any) -> Any:
    """A record value as the REST API writes it."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value
