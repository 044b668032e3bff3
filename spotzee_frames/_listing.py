"""What exists in a project, as typed DataFrames: campaigns, journeys, users, events and
their counts, lists and tags, plus single look-ups and the one state change the trigger
flow needs (`schedule_campaign`).

Every listing walks all pages (100 results a page) and returns a frame with a RangeIndex
and the resource's `id` as a column. Columns have real dtypes (nullable `Int64` ids and
counters, `category` for enums with the contract's full set of values, `string` text,
`datetime64[ns, UTC]` timestamps, lists kept as lists), so an empty project gives a frame
with the same columns and dtypes as a full one. Fields the contract does not list are
kept, after the known ones.

Lenient readings, for servers that answer otherwise (a self-hosted Parcelvoy does): a
journey with a boolean `published` and no `status` has the `status` `live` when
published and `draft` when not (and no `published` column); a user's phone read back in
another format (`+61 412 345 000`) is given in E.164, as it was sent, so frames join
back; a look-up of an object that is not there names it (`campaign 999 not found in this
project`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
import pandas as pd

from ._client import Client, Response, resolve_client
from ._errors import APIError, NotFoundError, ValidationError
from ._normalize import normalize_phone
from ._progress import ProgressLike, Reporter, check_progress, make_reporter

__all__ = [
    "CAMPAIGN_STATES",
    "CAMPAIGN_TYPES",
    "CHANNELS",
    "JOURNEY_STATUSES",
    "campaign",
    "campaigns",
    "event_counts",
    "events",
    "fetch_campaign",
    "fetch_journey",
    "journey",
    "journey_status",
    "journeys",
    "lists",
    "nullable_column",
    "positive_int",
    "records_frame",
    "schedule_campaign",
    "tags",
    "to_int",
    "to_rfc3339",
    "to_utc_times",
    "users",
]

CAMPAIGN_TYPES = ("blast", "trigger")
CHANNELS = ("email", "text", "push", "webhook", "in_app")
CAMPAIGN_STATES = ("draft", "scheduled", "loading", "running", "finished", "aborting", "aborted")
JOURNEY_STATUSES = ("draft", "live", "off")

Kind = Literal["int", "str", "category", "time", "bool", "list", "object"]


@dataclass(frozen=True)
class _Column:
    name: str
    kind: Kind
    categories: tuple[str, ...] = ()


def _columns(spec: str, **enums: tuple[str, ...]) -> tuple[_Column, ...]:
    """Columns from a compact "name:kind name:kind" spec; enum values come from `enums`."""
    out = []
    for item in spec.split():
        name, kind = item.split(":")
        # The specs are literals in this module, written against `Kind`.
        out.append(_Column(name, cast(Kind, kind), enums.get(name, ())))
    return tuple(out)


CAMPAIGN_COLUMNS = _columns(
    "id:int project_id:int name:str type:category channel:category state:category "
    "list_ids:list exclusion_list_ids:list subscription_id:int provider_id:int "
    "delivery_sent:int delivery_total:int delivery_opens:int delivery_clicks:int "
    "delivery_bounced:int tags:list send_in_user_timezone:bool send_at:time "
    "description:str created_at:time updated_at:time",
    type=CAMPAIGN_TYPES,
    channel=CHANNELS,
    state=CAMPAIGN_STATES,
)
# `stats` maps step type -> count; the step types every journey graph uses are always
# columns, others (experiment, link, …) are added when a journey has them.
JOURNEY_COLUMNS = _columns(
    "id:int project_id:int name:str description:str status:category tags:list "
    "stats_entrance:int stats_delay:int stats_action:int stats_gate:int stats_exit:int "
    "stats_at:time created_at:time updated_at:time",
    status=JOURNEY_STATUSES,
)
USER_COLUMNS = _columns(
    "id:int project_id:int external_id:str anonymous_id:str email:str phone:str "
    "timezone:str locale:str data:object has_push_device:bool devices:list "
    "created_at:time updated_at:time"
)
EVENT_COLUMNS = _columns(
    "id:str name:str created_at:time external_id:str anonymous_id:str campaign_id:int data:object"
)
_STATS_KIND: Kind = "int"


# -- turning records into typed frames ---------------------------------------------------


def _flatten(record: Mapping[str, Any], nested: Mapping[str, str]) -> dict[str, Any]:
    """Lift the keys of the nested objects named in `nested` ({field: prefix}) to top level."""
    flat: dict[str, Any] = {}
    for key, value in record.items():
        prefix = nested.get(key)
        if prefix is None:
            flat[key] = value
        elif isinstance(value, Mapping):
            for sub, subvalue in value.items():
                flat[f"{prefix}{sub}"] = subvalue
        elif value is not None:
            flat[key] = value  # not the documented object: keep it rather than lose it
    return flat


def to_int(values: pd.Series) -> pd.Series:
    """Integers as `Int64`, exactly (ids past 2**53 included); a column that is not all
    integers is kept as the server sent it."""
    objects = values.astype(object).where(values.notna(), None).tolist()
    try:
        return pd.Series(pd.array(objects, dtype="Int64"), index=values.index, name=values.name)
    except (ValueError, TypeError, OverflowError):
        pass
    try:
        return pd.to_numeric(values).astype("Int64")
    except (ValueError, TypeError, OverflowError):
        return values  # not integers after all: keep what the server sent


def records_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """JSON objects as a frame of object columns (None where a record lacks the key),
    keys in order of first appearance. Built column by column from the records' own
    values: `from_records` would turn integers missing from some records into floats,
    and ids past 2**53 with them."""
    names = list(dict.fromkeys(k for r in records for k in r))
    return pd.DataFrame(
        {k: pd.Series([r.get(k) for r in records], dtype=object) for k in names},
        index=pd.RangeIndex(len(records)),
    )


def nullable_column(values: pd.Series) -> pd.Series:
    """A column of JSON values (object dtype, None where absent) with the nullable dtype
    that holds them exactly: Int64, string, boolean or Float64; anything else as is."""
    present = values.dropna()
    if len(present) and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        exact = to_int(values)
        if isinstance(exact.dtype, pd.Int64Dtype):
            return exact
    if len(present) and all(isinstance(v, str) for v in present):
        return values.astype("string")
    if len(present) and all(isinstance(v, bool) for v in present):
        return values.astype("boolean")
    if len(present) and all(
        isinstance(v, float | int) and not isinstance(v, bool) for v in present
    ):
        return values.astype("Float64")
    return values  # lists, mixtures, big integers: as they came


def to_utc_times(values: pd.Series) -> pd.Series:
    """ISO 8601 texts as `datetime64[ns, UTC]`; what cannot be read (a number: its unit
    would be a guess), or lies outside the years 1677-2262 that nanoseconds span
    (placeholders like 0001-01-01 or 9999-12-31), is NaT rather than an error."""
    if values.dtype == object:
        values = values.map(lambda v: v if isinstance(v, str | dt.datetime) else None)
    try:
        parsed = pd.to_datetime(values, utc=True, format="ISO8601")
    except (ValueError, TypeError, OverflowError):
        parsed = pd.to_datetime(values, utc=True, format="mixed", errors="coerce")
    try:
        return parsed.astype("datetime64[ns, UTC]")
    except (ValueError, OverflowError):  # pandas' OutOfBoundsDatetime is a ValueError
        lo, hi = pd.Timestamp.min.tz_localize("UTC"), pd.Timestamp.max.tz_localize("UTC")
        return parsed.where((parsed >= lo) & (parsed <= hi)).astype("datetime64[ns, UTC]")


def _to_category(values: pd.Series, categories: tuple[str, ...]) -> pd.Series:
    # A value the contract does not list yet is kept as an extra category, never dropped.
    text = values.astype("string")
    extra = sorted(set(text.dropna()) - set(categories))
    return pd.Series(pd.Categorical(text, categories=[*categories, *extra]), index=values.index)


def _convert(values: pd.Series, column: _Column) -> pd.Series:
    kind = column.kind
    if kind == "int":
        return to_int(values)
    if kind == "str":
        return values.astype("string")
    if kind == "category":
        return _to_category(values, column.categories)
    if kind == "time":
        return to_utc_times(values)
    if kind == "bool":
        try:
            return values.astype("boolean")
        except (ValueError, TypeError):
            return values
    return values.astype(object)  # lists and dicts stay Python objects


def _typed_frame(
    records: Sequence[Mapping[str, Any]],
    columns: Sequence[_Column],
    *,
    dynamic_prefixes: Mapping[str, Kind] | None = None,
) -> pd.DataFrame:
    """A frame with `columns` first (always present, typed), then any `dynamic_prefixes`
    columns seen (e.g. `stats_*`, typed by their kind), then unknown fields as given."""
    frame = records_frame([r for r in records if isinstance(r, Mapping)])
    known = [c.name for c in columns]
    dynamic_prefixes = dynamic_prefixes or {}
    dynamic = sorted(
        c
        for c in frame.columns
        if c not in known and any(c.startswith(p) for p in dynamic_prefixes)
    )
    rest = [c for c in frame.columns if c not in known and c not in dynamic]
    out: dict[str, pd.Series] = {}
    empty = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for column in columns:
        values = frame[column.name] if column.name in frame.columns else empty
        out[column.name] = _convert(values.astype(object).where(values.notna(), None), column)
    for name in dynamic:
        kind = next(k for p, k in dynamic_prefixes.items() if name.startswith(p))
        out[name] = _convert(frame[name], _Column(name, kind))
    for name in rest:
        out[name] = frame[name].infer_objects()
    return pd.DataFrame(out, index=frame.index)


# -- query parameters ------------------------------------------------------------------


def to_rfc3339(value: str | dt.datetime | dt.date | pd.Timestamp, *, name: str) -> str:
    """An RFC 3339 UTC timestamp (`…Z`) from a str, date, datetime or Timestamp;
    naive values are taken as UTC."""
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"{name}={value!r} is not a date or timestamp") from exc
    if pd.isna(stamp):
        raise ValidationError(f"{name} must be a date or timestamp, not a missing value")
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    text = stamp.strftime("%Y-%m-%dT%H:%M:%S")
    if stamp.microsecond or stamp.nanosecond:
        text += f".{stamp.microsecond:06d}"
    return text + "Z"


def _param_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, pd.Timestamp)):
        return to_rfc3339(value, name="filter")
    if isinstance(value, (list, tuple, set, np.ndarray, pd.Series)):
        return [_param_value(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


_PAGING = frozenset({"cursor", "page", "limit"})


def _filters(filters: Mapping[str, Any]) -> dict[str, Any]:
    paging = sorted(_PAGING & set(filters))
    if paging:
        raise ValidationError(
            f"{', '.join(paging)} cannot be passed: listings walk every page themselves "
            "(100 results a page); filter the frame afterwards to keep fewer rows"
        )
    return {k: _param_value(v) for k, v in filters.items() if v is not None}


def _list(
    path: str,
    params: Mapping[str, Any],
    client: Client | None,
    progress: ProgressLike = None,
) -> list[dict[str, Any]]:
    """Every record of a listing, 100 a page. A listing of more than one page shows its
    progress as `progress=` says (see `upsert`); one page shows nothing."""
    check_progress(progress)
    reporter: Reporter | None = None
    desc = path.strip("/")

    def on_page(count: int, total: int | None) -> None:
        nonlocal reporter
        if reporter is None:
            if total is not None and total <= count:
                return  # all of it came in one page
            reporter = make_reporter(progress, desc=desc, total=total or count)
        reporter.total = max(reporter.total, reporter.done + count, total or 0)
        reporter.advance(count)

    pages = resolve_client(client).paginate(path, params, limit=100, on_page=on_page)
    try:
        return [r for r in pages if isinstance(r, dict)]
    finally:
        if reporter is not None:
            reporter.close()


# -- campaigns ---------------------------------------------------------------------------


def _campaign_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    return _flatten(raw, {"delivery": "delivery_"})


def _campaign_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return _typed_frame(
        [_campaign_record(r) for r in records],
        CAMPAIGN_COLUMNS,
        dynamic_prefixes={"delivery_": "int"},
    )


def campaigns(
    client: Client | None = None, *, progress: ProgressLike = None, **filters: Any
) -> pd.DataFrame:
    """Every campaign of the project as a typed frame (one row per campaign).

    `filters` are passed as query parameters (`q=`, `sort=`, `direction=`, …). The
    `delivery` counters are flattened to `delivery_sent`, `delivery_total`,
    `delivery_opens`, `delivery_clicks` and `delivery_bounced`. A listing of more than
    one page (100 a page) shows its progress as `progress=` says (as in `upsert`).
    """
    return _campaign_frame(_list("/campaigns", _filters(filters), client, progress))


def positive_int(value: Any, name: str, *, noun: str = "integer") -> int:
    """`value` as an int from 1 to 2**63 - 1 (what an id or a count can be); anything
    else (a bool, a float, a string) is a ValidationError naming `name`."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise ValidationError(f"{name} must be a positive {noun}, not {value!r}")
    if not 1 <= value < 2**63:
        raise ValidationError(f"{name} must be a positive (64-bit) {noun}, not {value!r}")
    return int(value)


def _check_id(value: Any, what: str) -> int:
    """An id for a path or a filter: a positive integer, or its digits as text."""
    if isinstance(value, str):
        try:
            value = int(value)
        except ValueError:
            raise ValidationError(f"{what} must be an integer id, not {value!r}") from None
    return positive_int(value, what, noun="integer id")


def _object(response: Response, what: str) -> dict[str, Any]:
    """The JSON object a single look-up answers; an error when it is anything else (its
    state could not be checked, so nothing may be sent on its word)."""
    if not isinstance(response.data, Mapping):
        raise APIError(
            f"the answer to the {what} look-up is {type(response.data).__name__}, not a "
            f"{what} object; its state cannot be checked, so nothing was sent",
            status_code=response.status_code,
            code="unexpected_response",
            request_id=response.request_id,
        )
    return dict(response.data)


def _look_up(what: str, number: int, client: Client | None) -> dict[str, Any]:
    """`GET /<what>s/<number>` as a dict; a NotFoundError that names the object."""
    try:
        response = resolve_client(client).request("GET", f"/{what}s/{number}")
    except NotFoundError as exc:
        exc.message = f"{what} {number} not found in this project ({exc.message})"
        raise
    return _object(response, what)


def fetch_campaign(campaign_id: int, *, client: Client | None = None) -> dict[str, Any]:
    """The raw campaign object (`GET /campaigns/{id}`); NotFoundError when unknown."""
    return _look_up("campaign", _check_id(campaign_id, "campaign_id"), client)


def _as_series(frame: pd.DataFrame) -> pd.Series:
    row = frame.iloc[0].copy()
    row.name = row.get("id")
    return row


def campaign(campaign_id: int, *, client: Client | None = None) -> pd.Series:
    """One campaign as a Series, with the same fields and flattening as `campaigns()`."""
    return _as_series(_campaign_frame([fetch_campaign(campaign_id, client=client)]))


def schedule_campaign(campaign_id: int, *, client: Client | None = None) -> pd.Series:
    """Promote a draft campaign to `scheduled` (`PATCH /campaigns/{id}`), so it can be
    triggered. A campaign that is not a draft is left as it is. Returns the campaign as the
    server then shows it.

    On a self-hosted Parcelvoy the campaign comes back `loading`, not `scheduled`:
    Parcelvoy first builds the campaign's send list, and its once-a-minute state job then
    moves a trigger campaign on to `running`. A `loading` campaign can be triggered (the
    triggers' own check refuses only drafts and stopped campaigns), so there is no need to
    wait.
    """
    client = resolve_client(client)
    current = fetch_campaign(campaign_id, client=client)
    if current.get("state") == "draft":
        number = _check_id(campaign_id, "campaign_id")
        data = client.request("PATCH", f"/campaigns/{number}", json={"state": "scheduled"}).data
        current = (
            dict(data)
            if isinstance(data, Mapping) and "state" in data
            else fetch_campaign(number, client=client)
        )
    return _as_series(_campaign_frame([current]))


# -- journeys ----------------------------------------------------------------------------


def journey_status(journey: Mapping[str, Any]) -> str | None:
    """A journey's `status`; from a boolean `published` when there is none (a Parcelvoy
    journey: true is `live`, false is `draft`); None when the server says neither."""
    status = journey.get("status")
    if isinstance(status, str) and status:
        return status
    published = journey.get("published")
    if isinstance(published, bool):
        return "live" if published else "draft"
    return None


def _journey_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = _flatten(raw, {"stats": "stats_"})
    record["status"] = journey_status(raw)
    if "status" not in raw and isinstance(raw.get("published"), bool):
        # Read into `status`, which says the same: the frame keeps the columns (and an
        # empty project the dtypes) of a Spotzee one.
        del record["published"]
    return record


def _journey_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    return _typed_frame(
        [_journey_record(r) for r in records],
        JOURNEY_COLUMNS,
        dynamic_prefixes={"stats_": _STATS_KIND},
    )


def journeys(
    client: Client | None = None, *, progress: ProgressLike = None, **filters: Any
) -> pd.DataFrame:
    """Every journey of the project as a typed frame; `stats` (step type → count) is
    flattened to `stats_<step type>` Int64 columns: `stats_entrance`, `stats_delay`,
    `stats_action`, `stats_gate` and `stats_exit` always, others when a journey has them.
    `progress=` as in `campaigns`."""
    return _journey_frame(_list("/journeys", _filters(filters), client, progress))


def fetch_journey(journey_id: int, *, client: Client | None = None) -> dict[str, Any]:
    """The raw journey object (`GET /journeys/{id}`); NotFoundError when unknown."""
    return _look_up("journey", _check_id(journey_id, "journey_id"), client)


def journey(journey_id: int, *, client: Client | None = None) -> pd.Series:
    """One journey as a Series, with the same fields and flattening as `journeys()`."""
    return _as_series(_journey_frame([fetch_journey(journey_id, client=client)]))


# -- users -------------------------------------------------------------------------------


def _expand(frame: pd.DataFrame, column: str, prefix: str) -> pd.DataFrame:
    """Add `<prefix><key>` columns (nullable dtypes) for the keys of a dict column."""
    dicts = [v if isinstance(v, Mapping) else {} for v in frame[column]]
    wide = pd.DataFrame.from_records(dicts, index=frame.index)
    if wide.empty:
        return frame
    wide = wide.convert_dtypes().add_prefix(prefix)
    return pd.concat([frame, wide.drop(columns=[c for c in wide if c in frame])], axis=1)


def users(
    client: Client | None = None,
    *,
    expand_data: bool = False,
    progress: ProgressLike = None,
    **filters: Any,
) -> pd.DataFrame:
    """Every user (contact) of the project as a typed frame.

    Custom attributes stay in the `data` column as dicts; `expand_data=True` also adds one
    `data_<key>` column per attribute (nullable dtypes), handy for filtering. A listing
    of more than one page (100 users a page) shows its progress as `progress=` says (as
    in `upsert`: a bar in Jupyter or a terminal by default). Phones are given in E.164
    (`+61412345000`) when the server shows them in another international format; one
    that cannot be read as a number is kept as the server sent it.
    """
    frame = _typed_frame(_list("/users", _filters(filters), client, progress), USER_COLUMNS)
    frame["phone"] = _e164(frame["phone"])
    return _expand(frame, "data", "data_") if expand_data else frame


def _e164(phones: pd.Series) -> pd.Series:
    """Phones in E.164 where they read as international numbers; others as they are."""
    if not phones.notna().any():
        return phones
    read = normalize_phone(phones)
    usable = ~read.missing & ~read.invalid
    if not usable.any():
        return phones
    values = phones.astype(object).to_numpy(copy=True)
    values[usable] = read.values[usable]
    return pd.Series(values, index=phones.index, name=phones.name, dtype="string")


# -- events ------------------------------------------------------------------------------


def _event_record(raw: Mapping[str, Any]) -> dict[str, Any]:
    record = dict(raw)
    user = record.pop("user", None)
    if isinstance(user, Mapping):
        for key, value in user.items():
            name = key if key in ("external_id", "anonymous_id") else f"user_{key}"
            record.setdefault(name, value)
    return record


def _event_params(
    start: str | dt.datetime | dt.date | pd.Timestamp,
    end: str | dt.datetime | dt.date | pd.Timestamp,
    *,
    external_id: str | int | None,
    anonymous_id: str | None,
    event_name: str | None,
    campaign_id: int | Sequence[int] | None,
) -> dict[str, Any]:
    """The time window and filters that `GET /events` and its aggregations share."""
    params: dict[str, Any] = {
        "from": to_rfc3339(start, name="start"),
        "to": to_rfc3339(end, name="end"),
    }
    if pd.Timestamp(params["from"]) >= pd.Timestamp(params["to"]):
        raise ValidationError(f"start ({params['from']}) must be before end ({params['to']})")
    if external_id is not None:
        params["external_id"] = str(external_id)
    if anonymous_id is not None:
        params["anonymous_id"] = anonymous_id
    if event_name is not None:
        params["event_name"] = event_name
    if campaign_id is not None:
        several = isinstance(campaign_id, list | tuple | set | np.ndarray | pd.Series | pd.Index)
        ids: list[Any] = list(cast(Iterable[Any], campaign_id)) if several else [campaign_id]
        params["campaign_id"] = [_check_id(c, "campaign_id") for c in ids]
    return params


def events(
    start: str | dt.datetime | dt.date | pd.Timestamp,
    end: str | dt.datetime | dt.date | pd.Timestamp,
    *,
    external_id: str | int | None = None,
    anonymous_id: str | None = None,
    event_name: str | None = None,
    campaign_id: int | Sequence[int] | None = None,
    include_payload: bool = False,
    direction: Literal["asc", "desc"] | None = None,
    client: Client | None = None,
    progress: ProgressLike = None,
) -> pd.DataFrame:
    """Events from `start` (inclusive) to `end` (exclusive), one row per event.

    `start`/`end` accept strings, dates, datetimes and Timestamps; naive values are UTC.
    `campaign_id` may be one id or several. The event's user is flattened to
    `external_id` / `anonymous_id`, so the frame joins to a frame of users; `data` (the
    event payload, as a dict) is filled only with `include_payload=True`.
    """
    params = _event_params(
        start,
        end,
        external_id=external_id,
        anonymous_id=anonymous_id,
        event_name=event_name,
        campaign_id=campaign_id,
    )
    if direction is not None and direction not in ("asc", "desc"):
        raise ValidationError(f"direction must be 'asc' or 'desc', not {direction!r}")
    if include_payload:
        params["include_payload"] = "true"
    if direction is not None:
        params["direction"] = direction
    records = [_event_record(r) for r in _list("/events", params, client, progress)]
    return _typed_frame(records, EVENT_COLUMNS)


GroupBy = Literal["event_name", "campaign", "user", "day"]
GROUP_BY: tuple[str, ...] = ("event_name", "campaign", "user", "day")
# The columns each grouping gives, ahead of the counts.
_GROUP_COLUMNS = {
    "event_name": "event_name:str",
    "campaign": "campaign_id:int",
    "user": "external_id:str anonymous_id:str",
    "day": "day:time",
}
_COUNT_COLUMNS = "count:int unique_user_count:int first_seen_at:time last_seen_at:time"


def event_counts(
    start: str | dt.datetime | dt.date | pd.Timestamp,
    end: str | dt.datetime | dt.date | pd.Timestamp,
    *,
    group_by: GroupBy | Sequence[GroupBy] = "event_name",
    external_id: str | int | None = None,
    anonymous_id: str | None = None,
    event_name: str | None = None,
    campaign_id: int | Sequence[int] | None = None,
    client: Client | None = None,
) -> pd.DataFrame:
    """Event counts from `start` (inclusive) to `end` (exclusive), counted by the server
    (`GET /events/aggregations`), one row per group.

    `group_by` is one of `event_name`, `campaign`, `user`, `day`, or several of them.
    Columns: the groups' (`event_name`; `campaign_id`; `external_id` and `anonymous_id`;
    `day`, midnight UTC), then `count`, `unique_user_count`, `first_seen_at`,
    `last_seen_at`. Filters and the time window are those of `events()`.
    """
    groups = [group_by] if isinstance(group_by, str) else list(group_by)
    if not groups:
        raise ValidationError(f"group_by must name at least one of {', '.join(GROUP_BY)}")
    for group in groups:
        if group not in GROUP_BY:
            raise ValidationError(
                f"group_by must be one of {', '.join(map(repr, GROUP_BY))}; got {group!r}"
            )
    groups = list(dict.fromkeys(groups))
    params = _event_params(
        start,
        end,
        external_id=external_id,
        anonymous_id=anonymous_id,
        event_name=event_name,
        campaign_id=campaign_id,
    )
    params["group_by"] = groups
    records = [_event_record(r) for r in _list("/events/aggregations", params, client)]
    spec = " ".join([*(_GROUP_COLUMNS[g] for g in groups), _COUNT_COLUMNS])
    return _typed_frame(records, _columns(spec))


# -- lists and tags ----------------------------------------------------------------------

LIST_TYPES = ("static", "dynamic")
LIST_STATES = ("draft", "ready", "loading")
LIST_COLUMNS = _columns(
    "id:int project_id:int name:str type:category state:category rule:object version:int "
    "users_count:int tags:list is_visible:bool refreshed_at:time created_at:time "
    "updated_at:time",
    type=LIST_TYPES,
    state=LIST_STATES,
)
TAG_COLUMNS = _columns("id:int project_id:int name:str created_at:time updated_at:time")


def lists(client: Client | None = None, **filters: Any) -> pd.DataFrame:
    """Every list of the project as a typed frame (`type` static/dynamic and `state`
    draft/ready/loading categorical; a dynamic list's `rule` as a dict; `users_count`
    NA where the server gives none). `filters` are query parameters (`type=`, `q=`, …).
    There is no API route that adds users to a static list."""
    return _typed_frame(_list("/lists", _filters(filters), client), LIST_COLUMNS)


def tags(client: Client | None = None, **filters: Any) -> pd.DataFrame:
    """Every tag of the project as a typed frame: `id`, `project_id`, `name`,
    `created_at`, `updated_at`."""
    return _typed_frame(_list("/tags", _filters(filters), client), TAG_COLUMNS)
