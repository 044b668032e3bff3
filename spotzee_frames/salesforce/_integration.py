"""`Integration`: one Salesforce org's sync into Spotzee, configured as code.

It holds the configuration (checked on its own when made), and reads and writes its state
file for every status, log, run and health check, so several processes (a notebook and a
cron job) see one integration.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import pandas as pd

from .._batching import check_batch_size
from .._errors import (
    IntegrationStateError,
    Interrupted,
    SalesforceError,
    SalesforceSessionError,
    SpotzeeError,
    ValidationError,
)
from .._mapping import FIRST_CLASS
from .._normalize import check_region
from .._progress import ProgressLike, check_progress
from ._convert import parse_destination, parse_mappings
from ._fields import OBJECTS, close_match
from ._plan import ObjectConfig, ObjectPlan, plan_object
from ._rules import MATCHES, Match, parse_rules
from ._source import FrameSource, SalesforceSource, Selection, make_source, modified_text
from ._state import LOG_EVENTS, StateFile, iso_now
from ._sync import (
    MAX_LOGGED_WARNINGS,
    ObjectOutcome,
    Rows,
    RunOptions,
    new_run_id,
    run_object,
    started_entry,
)

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

    from .._client import Client

__all__ = ["STATUSES", "Integration"]

#: The integration's own status, as the server integration shows it.
STATUSES: Final = ("Incomplete", "Active", "Error", "Inactive")
_ID: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_QUOTA_FLOOR: Final = 0.10

SourceLike = Any  # Salesforce | Mapping[str, pd.DataFrame]


def _duration(value: Any, name: str) -> dt.timedelta:
    if isinstance(value, bool | int | float):
        raise ValidationError(
            f"{name} needs a unit: a timedelta or a text such as '60min' or '1h', not {value!r}"
        )
    try:
        delta = pd.Timedelta(value)
    except (ValueError, TypeError):
        raise ValidationError(
            f"{name} must be a timedelta or a text such as '60min', not {value!r}"
        ) from None
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise ValidationError(f"{name} must not be negative, got {value!r}")
    return delta.to_pytimedelta()


def _per_object(name: str, value: Any, objects: Sequence[str]) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValidationError(
            f"{name} must be a dict keyed by object ({', '.join(objects) or 'Lead'}), "
            f"not {type(value).__name__}"
        )
    for key in value:
        if key not in objects:
            raise ValidationError(
                f"{name} names {key!r}, which is not among objects={list(objects)!r}"
                f"{close_match(str(key), objects)}"
            )
    return value


class Integration:
    """One Salesforce org synced into Spotzee with the server integration's semantics.

    Parameters
    ----------
    integration_id
        The integration's id, part of every external id it makes:
        `sf_<integration_id>_<Object>_<18-character record id>`. Give the id the server
        integration has to land on the same users.
    objects
        Any of `"Lead"`, `"Contact"`, `"CampaignMember"`. None yet: `Incomplete`.
    rules
        Per object, a list of `(field, operator, value)` (`(field, "is_set")` and
        `(field, "is_not_set")` take no value); operators `equals`, `not_equals`,
        `contains`, `not_contains`, `starts_with`, `ends_with`, `greater_than`, `less_than`
        (numbers and dates), `is_set`, `is_not_set`. SOQL semantics: text ignores case, a
        null field matches only `is_not_set`, `not_equals` and `not_contains`.
    match
        `"all"` (AND) or `"any"` (OR), or per object `{"Lead": "any"}` (default `"all"`).
    mappings
        Per object, `{field: destination}` or `{field: (destination, type)}` added to the
        defaults (`Email→email`, `FirstName→data.first_name`, `LastName→data.last_name`,
        `Phone→phone`; map one to None to drop it). Destinations: `email`, `phone`,
        `timezone`, `locale` or `data.<key>`; types `string`, `number`, `boolean`,
        `date`, `array` (default: from the field's Salesforce type).
    opt_out
        The boolean property `HasOptedOutOfEmail` lands in (`"unsubscribed"` is
        `data.unsubscribed`; for a CampaignMember it is read through its lead or contact),
        or None to leave opt-outs alone.
    subscription_id
        The email subscription an opted-out user is unsubscribed from (state 0). A user
        not opted out is never changed: an unsubscribe made in Spotzee is never undone.
    state
        The state file: status, one watermark per object, and the log. Required: each
        integration needs its own, kept where every run (notebook, cron) finds it.
    frequency
        How often it is meant to run (default `"60min"`), for the staleness health check.
    overlap
        How far each incremental pull reaches back before the last successful one
        (default `"5min"`): Salesforce stamps to the second and a record can commit with
        an older stamp. Records seen unchanged in that window are not sent again.
    default_region
        Region for phone numbers written without a country code (`"US"`); without it such
        a number makes its record `invalid`.
    retry_attempts, retry_backoff
        Tries of each Salesforce call (5xx, `REQUEST_LIMIT_EXCEEDED`, network errors) and
        the first wait in seconds (doubling, with jitter, up to a minute).
    """

    def __init__(
        self,
        integration_id: str,
        *,
        objects: Sequence[str],
        state: str | os.PathLike[str],
        rules: Mapping[str, Sequence[tuple[Any, ...]]] | None = None,
        match: Match | Mapping[str, Match] = "all",
        mappings: Mapping[str, Mapping[str, str | tuple[str, str] | None]] | None = None,
        opt_out: str | None = "unsubscribed",
        subscription_id: int | None = None,
        frequency: str | dt.timedelta = "60min",
        overlap: str | dt.timedelta = "5min",
        default_region: str | None = None,
        retry_attempts: int = 5,
        retry_backoff: float = 1.0,
    ) -> None:
        if not isinstance(integration_id, str) or not _ID.fullmatch(integration_id):
            raise ValidationError(
                "integration_id must be 1 to 64 letters, digits, '_' or '-' (it is part of "
                f"every external id), not {integration_id!r}"
            )
        self.id = integration_id
        if isinstance(objects, str) or not isinstance(objects, Sequence):
            raise ValidationError(f"objects must be a list such as ['Lead'], not {objects!r}")
        for obj in objects:
            if obj not in OBJECTS:
                raise ValidationError(
                    f"unknown object {obj!r}{close_match(str(obj), OBJECTS)}; the integration "
                    f"syncs {', '.join(OBJECTS)}"
                )
        if len(set(objects)) != len(objects):
            raise ValidationError(f"objects lists one twice: {list(objects)!r}")
        self.objects: tuple[str, ...] = tuple(objects)
        if isinstance(state, bool) or not isinstance(state, str | os.PathLike):
            raise ValidationError(f"state must be a file path, not {state!r}")
        self.state_path = Path(state)
        self._state = StateFile(self.state_path, integration_id)
        rules_of = _per_object("rules", rules, self.objects)
        mappings_of = _per_object("mappings", mappings, self.objects)
        match_of = self._matches(match)
        destination = None
        if opt_out is not None:
            bare = isinstance(opt_out, str) and "." not in opt_out and opt_out not in FIRST_CLASS
            destination = (
                "data." + opt_out.strip() if bare else parse_destination(opt_out, "opt_out")
            )
            if not destination.startswith("data.") or destination == "data.":
                raise ValidationError(
                    "opt_out must name a boolean user property such as 'unsubscribed' "
                    f"(data.unsubscribed), not {opt_out!r}"
                )
        if subscription_id is not None:
            if isinstance(subscription_id, bool) or not isinstance(subscription_id, int):
                raise ValidationError(
                    f"subscription_id must be an integer, not {subscription_id!r}"
                )
            if subscription_id < 1:
                raise ValidationError(f"subscription_id must be 1 or more, not {subscription_id}")
            if destination is None:
                raise ValidationError("subscription_id needs opt_out (the opt-out to act on)")
        self.opt_out = destination
        self.subscription_id = subscription_id
        self.frequency = _duration(frequency, "frequency")
        self.overlap = _duration(overlap, "overlap")
        self.default_region = check_region(default_region)
        if (
            isinstance(retry_attempts, bool)
            or not isinstance(retry_attempts, int)
            or retry_attempts < 1
        ):
            raise ValidationError(f"retry_attempts must be 1 or more, not {retry_attempts!r}")
        if not isinstance(retry_backoff, int | float) or retry_backoff < 0:
            raise ValidationError(
                f"retry_backoff must be seconds (0 or more), not {retry_backoff!r}"
            )
        self._retry = (retry_attempts, float(retry_backoff))
        self._configs = tuple(
            ObjectConfig(
                obj,
                parse_rules(obj, rules_of.get(obj)),
                match_of.get(obj, "all"),
                parse_mappings(obj, mappings_of.get(obj)),
                destination,
            )
            for obj in self.objects
        )

    def _matches(self, match: Any) -> dict[str, str]:
        if isinstance(match, str):
            if match not in MATCHES:
                raise ValidationError(f"match must be 'all' or 'any', not {match!r}")
            return dict.fromkeys(self.objects, match)
        chosen = dict(_per_object("match", match, self.objects))
        for obj, value in chosen.items():
            if value not in MATCHES:
                raise ValidationError(f"match for {obj} must be 'all' or 'any', not {value!r}")
        return {obj: chosen.get(obj, "all") for obj in self.objects}

    def __repr__(self) -> str:
        return (
            f"<salesforce.Integration {self.id!r} objects={list(self.objects)} "
            f"state={str(self.state_path)!r}>"
        )

    # -- state ---------------------------------------------------------------------------------

    @property
    def status(self) -> str:
        """`Incomplete` (no objects, or never given a connection), `Active`, `Error` (the
        last run or health check failed, or a run was cut short; the next successful sync
        clears it) or `Inactive` (paused)."""
        state = self._state.read()
        if state["paused"]:
            return "Inactive"
        if not self.objects or state["connection"] is None:
            return "Incomplete"
        if state["error"]:
            return "Error"
        last = state["last_run"]
        if last is not None and last.get("outcome") is None and not self._state.running():
            return "Error"  # started and never finished: the process died mid-run
        return "Active"

    @property
    def error(self) -> str | None:
        """Why the status is `Error`, or None."""
        state = self._state.read()
        last = state["last_run"]
        if state["error"]:
            return str(state["error"])
        if last is not None and last.get("outcome") is None and not self._state.running():
            return f"run {last.get('run_id')} started at {last.get('started_at')} never finished"
        return None

    @property
    def watermarks(self) -> dict[str, pd.Timestamp | None]:
        """Per object, the LastModifiedDate the next incremental pull starts from (before
        the overlap), or None before the first successful sync."""
        objects = self._state.read()["objects"]
        out: dict[str, pd.Timestamp | None] = {}
        for obj in self.objects:
            mark = (objects.get(obj) or {}).get("watermark")
            out[obj] = pd.Timestamp(mark) if mark else None
        return out

    @property
    def log(self) -> pd.DataFrame:
        """Every logged event, oldest first: `at`, `event` (sync_started, sync_completed,
        sync_failed, records_imported, records_updated, health_check), `run_id`, `object`,
        `count`, `duration`, `message`, `errors` and `warnings` (lists)."""
        entries = self._state.read()["log"]
        frame = pd.DataFrame(
            {
                "at": pd.to_datetime(
                    pd.Series([e.get("at") for e in entries], dtype=object),
                    utc=True,
                    format="ISO8601",
                ).astype("datetime64[ns, UTC]"),
                "event": pd.Categorical(
                    [e.get("event") for e in entries], categories=list(LOG_EVENTS)
                ),
                "run_id": pd.array([e.get("run_id") for e in entries], dtype="string"),
                "object": pd.array([e.get("object") for e in entries], dtype="string"),
                "count": pd.array([e.get("count") for e in entries], dtype="Int64"),
                "duration": pd.to_timedelta(
                    pd.Series([e.get("duration") for e in entries], dtype="Float64"), unit="s"
                ),
                "message": pd.array([e.get("message") for e in entries], dtype="string"),
                "errors": pd.Series([e.get("errors") or [] for e in entries], dtype=object),
                "warnings": pd.Series([e.get("warnings") or [] for e in entries], dtype=object),
            }
        )
        return frame

    def pause(self) -> None:
        """Status `Inactive`: `sync` refuses until `resume()`; rules, mappings, watermarks
        and the log are kept."""
        with self._state.update() as state:
            state["paused"] = True

    def resume(self) -> None:
        """Undo `pause()`: the next sync carries on from the watermarks."""
        with self._state.update() as state:
            state["paused"] = False

    # -- running ---------------------------------------------------------------------------------

    def _source(self, source: SourceLike) -> SalesforceSource | FrameSource:
        attempts, backoff = self._retry
        return make_source(source, attempts=attempts, backoff=backoff, backoff_max=60.0)

    def _plans(self, src: SalesforceSource | FrameSource) -> list[ObjectPlan]:
        return [plan_object(config, src) for config in self._configs]

    def _selection(self, plan: ObjectPlan, state: dict[str, Any], full: bool) -> Selection:
        kept = state["objects"].get(plan.obj) or {}
        mark = kept.get("watermark")
        if full or not mark or kept.get("fingerprint") != plan.fingerprint:
            return Selection(plan.rules, plan.match, None)
        since = pd.Timestamp(mark).to_pydatetime() - self.overlap
        return Selection(plan.rules, plan.match, since.replace(microsecond=0))

    def _pull(
        self, plan: ObjectPlan, state: dict[str, Any], full: bool
    ) -> tuple[Selection, dict[str, str]]:
        """What a run pulls of one object, and the records it already synced in the
        overlapping window (none when the pull starts afresh)."""
        selection = self._selection(plan, state, full)
        kept = (state["objects"].get(plan.obj) or {}).get("seen") or {}
        return selection, {} if selection.since is None else kept

    def preview(self, source: Salesforce | Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """Per object: how many records the rules match (`matched`), how many the next sync
        would pull (`next_pull`: all of them on the initial sync, else those modified since
        the watermark less the overlap), from when (`since`) and the query. Sends nothing."""
        src = self._source(source)
        state = self._state.read()
        plans = self._plans(src)
        out = []
        for plan in plans:
            everything = Selection(plan.rules, plan.match, None)
            selection = self._selection(plan, state, full=False)
            matched = src.count(plan.obj, everything)
            pending = matched if selection.since is None else src.count(plan.obj, selection)
            out.append(
                {
                    "object": plan.obj,
                    "matched": matched,
                    "next_pull": pending,
                    "mode": "initial" if selection.since is None else "incremental",
                    "since": selection.since,
                    "query": src.describe_query(plan.obj, plan.fields, selection),
                }
            )
        frame = pd.DataFrame(
            out, columns=["object", "matched", "next_pull", "mode", "since", "query"]
        )
        frame["matched"] = frame["matched"].astype("Int64")
        frame["next_pull"] = frame["next_pull"].astype("Int64")
        frame["since"] = pd.to_datetime(frame["since"], utc=True).astype("datetime64[ns, UTC]")
        frame["query"] = frame["query"].astype("string")
        return frame

    def sync(
        self,
        source: Salesforce | Mapping[str, pd.DataFrame],
        *,
        client: Client | None = None,
        dry_run: bool = False,
        full: bool = False,
        batch_size: int = 100,
        progress: ProgressLike = None,
    ) -> pd.DataFrame:
        """Pull what changed since the last successful sync (everything the first time, or
        with `full=True`) and upsert it into Spotzee; one result row per record pulled.

        `source` is a simple-salesforce session (`salesforce.connect()`) or a dict of
        `{object: DataFrame}` of exported records. `dry_run=True` pulls and builds every
        payload but sends nothing and changes no state (records `valid` or `invalid`).

        Result columns: `object`, `salesforce_id`, `external_id`, `status` (`imported`: a
        new user; `updated`: an existing one; `invalid`: not sent, a value failed
        validation; `rejected`: Spotzee refused it; `failed`: no success known, the next run
        sends it again; `skipped`: unchanged since the previous run, which synced it;
        `valid`: dry run; `interrupted`), `error_code`, `error_field` (the Salesforce
        field), `error_message`, `warnings` (values dropped as type mismatches),
        `last_modified`, `unsubscribed` (True: unsubscribed from `subscription_id` now;
        False: not opted out, nothing changed), `user_id`, `attempts`, `request_id`.

        A run with any `failed` record, or one that stops (a Salesforce error after
        retries, an expired session, Ctrl-C), is logged `sync_failed`, leaves the status
        `Error` and every watermark where it was; the next run catches up. A stop raises,
        with the rows done so far in the exception's `.result`.
        """
        check_progress(progress)
        check_batch_size(batch_size)
        for name, flag in (("dry_run", dry_run), ("full", full)):
            if not isinstance(flag, bool):
                raise ValidationError(f"{name} must be True or False, not {flag!r}")
        src = self._source(source)
        if dry_run:
            return self._dry_run(src, full, batch_size, progress)
        from .._client import resolve_client

        api = resolve_client(client)
        with self._state.run_lock():
            return self._run(src, api, full, batch_size, progress)

    def _options(self, batch_size: int, progress: ProgressLike, dry_run: bool) -> RunOptions:
        return RunOptions(
            self.id,
            self.subscription_id,
            self.default_region,
            batch_size,
            dry_run,
            progress,
            self.overlap,
        )

    def _check_runnable(self, state: dict[str, Any]) -> None:
        if state["paused"]:
            raise IntegrationStateError(
                f"integration {self.id!r} is Inactive (paused); resume() it to sync",
                reason="inactive",
            )
        if not self.objects:
            raise IntegrationStateError(
                f"integration {self.id!r} is Incomplete: pick the objects to sync",
                reason="incomplete",
            )

    def _dry_run(
        self,
        src: SalesforceSource | FrameSource,
        full: bool,
        batch_size: int,
        progress: ProgressLike,
    ) -> pd.DataFrame:
        state = self._state.read()
        self._check_runnable(state)
        rows = Rows()
        options = self._options(batch_size, progress, True)
        for plan in self._plans(src):
            selection, seen = self._pull(plan, state, full)
            run_object(plan, src, None, selection, seen, rows, ObjectOutcome(), options)
        return rows.to_frame(list(self.objects))

    def _run(
        self,
        src: SalesforceSource | FrameSource,
        api: Client,
        full: bool,
        batch_size: int,
        progress: ProgressLike,
    ) -> pd.DataFrame:
        state = self._state.read()
        self._check_runnable(state)
        run_id = new_run_id()
        started = time.monotonic()
        rows = Rows()
        outcomes: dict[str, ObjectOutcome] = {}
        try:
            plans = self._plans(src)
        except SpotzeeError as exc:
            self._failed(run_id, started, src, [], outcomes, rows, exc, begun=False)
            raise
        pulls = {plan.obj: self._pull(plan, state, full) for plan in plans}
        selections = {obj: selection for obj, (selection, _) in pulls.items()}
        with self._state.update() as st:
            st["connection"] = {"where": src.where, "at": iso_now()}
            st["last_run"] = {"run_id": run_id, "started_at": iso_now(), "outcome": None}
            since = {
                obj: None if s.since is None else modified_text(s.since)
                for obj, s in selections.items()
            }
            modes = {
                obj: "initial" if s.since is None else "incremental"
                for obj, s in selections.items()
            }
            st["log"].append(started_entry(run_id, since, modes))
        options = self._options(batch_size, progress, False)
        try:
            for plan in plans:
                selection, seen = pulls[plan.obj]
                outcome = outcomes[plan.obj] = ObjectOutcome()
                run_object(plan, src, api, selection, seen, rows, outcome, options)
        except Interrupted as exc:
            result = rows.to_frame(list(self.objects))
            self._failed(run_id, started, src, plans, outcomes, rows, exc)
            raise Interrupted(
                f"sync interrupted: {len(result)} records have a row in .result; the "
                "watermarks did not move, so the next sync sends what is missing",
                result=result,
            ) from exc
        except KeyboardInterrupt as exc:
            result = rows.to_frame(list(self.objects))
            self._failed(run_id, started, src, plans, outcomes, rows, exc)
            raise Interrupted(
                "sync interrupted while pulling from Salesforce; the watermarks did not move",
                result=result,
            ) from exc
        except SpotzeeError as exc:
            self._failed(run_id, started, src, plans, outcomes, rows, exc)
            if hasattr(exc, "result"):
                exc.result = rows.to_frame(list(self.objects))
            raise
        result = rows.to_frame(list(self.objects))
        counts = rows.statuses()
        if counts["failed"] or counts["interrupted"]:
            self._failed(run_id, started, src, plans, outcomes, rows, None)
        else:
            self._completed(run_id, started, plans, selections, outcomes, counts)
        return result

    def _record_counts(
        self, st: dict[str, Any], run_id: str, outcomes: dict[str, ObjectOutcome], now: str
    ) -> None:
        for obj, outcome in outcomes.items():
            for status, event in (("imported", "records_imported"), ("updated", "records_updated")):
                if outcome.counts[status]:
                    st["log"].append(
                        {
                            "at": now,
                            "event": event,
                            "run_id": run_id,
                            "object": obj,
                            "count": outcome.counts[status],
                        }
                    )

    def _summary(
        self, outcomes: dict[str, ObjectOutcome]
    ) -> tuple[Counter[str], list[str], list[Any]]:
        counts: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        warnings: list[Any] = []
        for outcome in outcomes.values():
            counts.update(outcome.counts)
            errors.update(outcome.errors)
            warnings.extend(outcome.warnings)
        listed = [f"{n} x {text}" if n > 1 else text for text, n in errors.most_common(50)]
        return counts, listed, warnings[:MAX_LOGGED_WARNINGS]

    def _completed(
        self,
        run_id: str,
        started: float,
        plans: list[ObjectPlan],
        selections: dict[str, Selection],
        outcomes: dict[str, ObjectOutcome],
        counts: Counter[str],
    ) -> None:
        now = iso_now()
        with self._state.update() as st:
            for plan in plans:
                outcome = outcomes[plan.obj]
                fresh = selections[plan.obj].since is None
                kept = {} if fresh else (st["objects"].get(plan.obj) or {})
                stamps = [m for m in outcome.done.values() if m]
                if kept.get("watermark"):
                    stamps.append(kept["watermark"])
                mark = max(stamps) if stamps else None
                seen: dict[str, str] = {}
                if mark is not None:
                    floor = modified_text(pd.Timestamp(mark) - self.overlap) or mark
                    candidates = {**(kept.get("seen") or {}), **outcome.done}
                    seen = {k: v for k, v in candidates.items() if v and v >= floor}
                st["objects"][plan.obj] = {
                    "watermark": mark,
                    "seen": seen,
                    "fingerprint": plan.fingerprint,
                    "synced_at": now,
                }
            st["error"] = None
            st["last_run"] = {**(st["last_run"] or {}), "finished_at": now, "outcome": "completed"}
            st["last_success"] = now
            self._record_counts(st, run_id, outcomes, now)
            total, errors, warnings = self._summary(outcomes)
            st["log"].append(
                {
                    "at": now,
                    "event": "sync_completed",
                    "run_id": run_id,
                    "count": sum(total.values()),
                    "duration": round(time.monotonic() - started, 3),
                    "message": _counts_text(total),
                    "errors": errors,
                    "warnings": warnings,
                }
            )

    def _failed(
        self,
        run_id: str,
        started: float,
        src: SalesforceSource | FrameSource,
        plans: list[ObjectPlan],
        outcomes: dict[str, ObjectOutcome],
        rows: Rows,
        exc: BaseException | None,
        *,
        begun: bool = True,
    ) -> None:
        total, errors, warnings = self._summary(outcomes)
        if exc is None:
            why = (
                f"{total['failed'] + total['interrupted']} records failed; the watermarks "
                "stay where they were, so the next sync sends them again"
            )
        elif isinstance(exc, KeyboardInterrupt):
            why = "interrupted (Ctrl-C); the watermarks stay where they were"
        else:
            why = " ".join(str(exc).split()) or type(exc).__name__
        now = iso_now()
        with self._state.update() as st:
            st["connection"] = {"where": src.where, "at": now}
            if not begun:
                st["last_run"] = {"run_id": run_id, "started_at": now}
            st["last_run"] = {**(st["last_run"] or {}), "finished_at": now, "outcome": "failed"}
            st["error"] = why
            self._record_counts(st, run_id, outcomes, now)
            st["log"].append(
                {
                    "at": now,
                    "event": "sync_failed",
                    "run_id": run_id,
                    "count": sum(total.values()),
                    "duration": round(time.monotonic() - started, 3),
                    "message": why + (f" ({_counts_text(total)})" if total else ""),
                    "errors": errors,
                    "warnings": warnings,
                }
            )

    # -- health ---------------------------------------------------------------------------------

    def health(self, source: Salesforce | Mapping[str, pd.DataFrame]) -> pd.DataFrame:
        """The server integration's four checks, one row each (`check`, `ok`, `detail`):
        `credentials` (the session still authorises), `mapped_fields` (every field the
        rules and mappings name still exists), `api_quota` (more than 10 % of the daily
        Salesforce API requests left, from `Sforce-Limit-Info`) and `staleness` (the last
        successful sync is within twice `frequency`). `ok` is NA where a check does not
        apply (a frame source has no credentials). Logged as `health_check`; a failed check
        sets the status to `Error` until the next successful sync."""
        src = self._source(source)
        checks: list[tuple[str, bool | None, str]] = []
        credentials: bool | None = None
        if isinstance(src, FrameSource):
            checks.append(("credentials", None, "a frame source: no Salesforce session to check"))
        else:
            try:
                for obj in self.objects:
                    src.schema(obj)
                credentials = True
                checks.append(("credentials", True, f"the session authorises ({src.where})"))
            except SalesforceSessionError as exc:
                credentials = False
                checks.append(("credentials", False, str(exc)))
            except SalesforceError as exc:
                checks.append(("credentials", None, f"not known: {exc}"))
        if credentials is False:
            checks.append(("mapped_fields", None, "not checked: the session is not valid"))
        else:
            problems = []
            for config in self._configs:
                try:
                    plan_object(config, src)
                except ValidationError as exc:
                    problems.append(str(exc))
                except SalesforceError as exc:
                    problems.append(f"{config.obj}: not checked ({exc})")
            if problems:
                checks.append(("mapped_fields", False, "; ".join(problems)))
            else:
                checks.append(
                    ("mapped_fields", True, "every field the rules and mappings name exists")
                )
        usage = src.api_usage()
        if usage is None:
            checks.append(("api_quota", None, "no Sforce-Limit-Info seen (no Salesforce call)"))
        else:
            used, limit = usage
            left = (limit - used) / limit if limit else 0.0
            checks.append(
                (
                    "api_quota",
                    left > _QUOTA_FLOOR,
                    f"{limit - used:,} of {limit:,} daily API requests left ({left:.0%})",
                )
            )
        checks.append(self._staleness())
        frame = pd.DataFrame(
            {
                "check": pd.array([c[0] for c in checks], dtype="string"),
                "ok": pd.array([c[1] for c in checks], dtype="boolean"),
                "detail": pd.array([c[2] for c in checks], dtype="string"),
            }
        )
        failing = [f"{name}: {detail}" for name, ok, detail in checks if ok is False]
        with self._state.update() as st:
            if isinstance(src, SalesforceSource) or st["connection"] is None:
                st["connection"] = {"where": src.where, "at": iso_now()}
            if failing:
                st["error"] = "health check failed: " + "; ".join(failing)
            st["log"].append(
                {
                    "at": iso_now(),
                    "event": "health_check",
                    "count": len(failing),
                    "message": "all checks passed" if not failing else f"{len(failing)} failed",
                    "errors": failing,
                }
            )
        return frame

    def _staleness(self) -> tuple[str, bool | None, str]:
        state = self._state.read()
        last = state["last_success"]
        limit = 2 * self.frequency
        if last is None:
            if state["last_run"] is None:
                return ("staleness", None, "no sync has run yet")
            return ("staleness", False, "no sync has succeeded yet")
        age = dt.datetime.now(dt.UTC) - pd.Timestamp(last).to_pydatetime()
        ok = age <= limit
        return (
            "staleness",
            ok,
            f"last successful sync {_ago(age)} ago (at most {_ago(limit)} for a "
            f"{_ago(self.frequency)} schedule)",
        )


def _ago(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172_800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86_400} days"


def _counts_text(counts: Counter[str]) -> str:
    parts = [f"{n:,} {status}" for status, n in counts.most_common() if n]
    return ", ".join(parts) if parts else "no records"
