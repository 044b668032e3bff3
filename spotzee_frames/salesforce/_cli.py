"""`spotzee-frames salesforce sync|preview|status|log|health CONFIG.toml`: the Python API's
integration, configured in a TOML file, for cron jobs and shells.

    [integration]
    id = "acme"                          # sf_acme_Lead_00Q…
    objects = ["Lead", "CampaignMember"]
    state = "acme.sfstate"               # relative to this file
    opt_out = "unsubscribed"             # false: leave opt-outs alone
    subscription_id = 1
    frequency = "60min"
    default_region = "US"

    [rules]
    Lead = [["LeadSource", "equals", "Web"], ["Email", "is_set"]]

    [match]                              # or `match = "any"` under [integration]
    Lead = "all"

    [mappings.Lead]
    Company = "data.company"
    Rating = ["data.rating", "number"]

    [source]                             # optional: exported records instead of Salesforce
    Lead = "leads.csv"

Salesforce credentials come from the environment (see `salesforce.connect()`), the
Spotzee key from SPOTZEE_API_KEY. Exit codes as `upsert`'s: 0 every record synced, 1 some
did not (or the run stopped part-way), 2 a configuration problem (nothing sent), 130
interrupted.
"""

from __future__ import annotations

import contextlib
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd

from .._cli import (
    _ENV_HELP,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    UsageFailure,
    _exit,
    _guarded,
    _progress_option,
    _report_option,
    _sandbox_option,
    _state,
    build_report,
    print_frame,
    write_report,
)
from .._errors import Interrupted, SalesforceError, SalesforceSessionError
from .._summary import format_table, summary
from ._integration import Integration

__all__ = ["salesforce"]

_SALESFORCE_ENV = """
\b
Salesforce, from the environment:
  SALESFORCE_INSTANCE_URL + SALESFORCE_ACCESS_TOKEN, or
  SALESFORCE_USERNAME + SALESFORCE_PASSWORD + SALESFORCE_SECURITY_TOKEN
  (SALESFORCE_DOMAIN=test for a sandbox org).
"""
_KEYS = {
    "id", "objects", "state", "match", "opt_out", "subscription_id", "frequency",
    "overlap", "default_region", "retry_attempts", "retry_backoff",
}  # fmt: skip


def load_config(path: Path) -> tuple[Integration, dict[str, Path]]:
    """The integration a TOML file describes, and the exported-records files of its
    [source] table (empty: pull from Salesforce)."""
    try:
        config = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageFailure(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    unknown = set(config) - {"integration", "rules", "match", "mappings", "source"}
    if unknown:
        raise UsageFailure(f"{path.name}: unknown table(s) {', '.join(sorted(unknown))}")
    section = dict(config.get("integration") or {})
    extra = set(section) - _KEYS
    if extra:
        raise UsageFailure(
            f"{path.name}: unknown [integration] key(s) {', '.join(sorted(extra))}; "
            f"keys are {', '.join(sorted(_KEYS))}"
        )
    for key in ("id", "objects", "state"):
        if key not in section:
            raise UsageFailure(f"{path.name}: [integration] needs {key} = …")
    base = path.parent
    state = Path(section.pop("state"))
    options: dict[str, Any] = {k: v for k, v in section.items() if k != "id"}
    if options.get("opt_out") is False:
        options["opt_out"] = None
    if "match" in config:
        options["match"] = config["match"]
    rules = {
        obj: [tuple(rule) for rule in items] for obj, items in (config.get("rules") or {}).items()
    }
    mappings = {
        obj: {f: tuple(t) if isinstance(t, list) else t for f, t in table.items()}
        for obj, table in (config.get("mappings") or {}).items()
    }
    integration = Integration(
        section["id"],
        state=state if state.is_absolute() else base / state,
        rules=rules or None,
        mappings=mappings or None,
        **options,
    )
    sources = {
        obj: (Path(p) if Path(p).is_absolute() else base / p)
        for obj, p in (config.get("source") or {}).items()
    }
    return integration, sources


@contextlib.contextmanager
def _source(sources: dict[str, Path]) -> Iterator[Any]:
    """Salesforce from the environment (its connections closed afterwards), or the frames
    of the exported files."""
    if not sources:
        from ._connect import connect

        session = connect()
        try:
            yield session
        finally:
            session.session.close()
        return
    frames = {}
    for obj, path in sources.items():
        try:
            if path.suffix.lower() in (".parquet", ".pq"):
                frames[obj] = pd.read_parquet(path)
            else:  # as text: a phone +14155550123 keeps its +, an id its zeros
                frames[obj] = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        except (OSError, ValueError, ImportError) as exc:
            raise UsageFailure(f"cannot read {path}: {' '.join(str(exc).split())}") from None
    yield frames


_config_argument = click.argument(
    "config", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)


@click.group(epilog=_SALESFORCE_ENV)
def salesforce() -> None:
    """Sync Salesforce Leads, Contacts and CampaignMembers into Spotzee, as Spotzee's own
    Salesforce integration does (same external ids, same properties)."""


@salesforce.command(epilog=_SALESFORCE_ENV + _ENV_HELP)
@_config_argument
@click.option("--dry-run", is_flag=True, help="Pull and check every record; send nothing.")
@click.option("--full", is_flag=True, help="Pull every matching record, not only changes.")
@click.option(
    "--batch-size", type=click.IntRange(1, 100), default=100, show_default=True,
    help="Users per request.",
)  # fmt: skip
@_report_option
@_progress_option
@_sandbox_option
@_guarded
def sync(
    config: Path,
    dry_run: bool,
    full: bool,
    batch_size: int,
    report: Path | None,
    progress: bool | None,
) -> None:
    """Pull what changed since the last successful sync (everything the first time) and
    upsert it; prints the outcome per status and the records that did not sync."""
    integration, sources = load_config(config)
    client = None if dry_run else _state().client()
    try:
        with _source(sources) as source:
            result = integration.sync(
                source, client=client, dry_run=dry_run, full=full, batch_size=batch_size,
                progress=progress,
            )  # fmt: skip
    except Interrupted as exc:
        click.echo("interrupted: the records below were done before the stop", err=True)
        if isinstance(exc.result, pd.DataFrame):
            _finish(exc.result, report)
        _exit(EXIT_INTERRUPTED)
    except SalesforceSessionError:
        raise
    except SalesforceError as exc:
        click.echo(f"the sync stopped: {' '.join(str(exc).split())}", err=True)
        if isinstance(exc.result, pd.DataFrame):
            _finish(exc.result, report)
        _exit(EXIT_ROWS_FAILED)
    code = _finish(result, report)
    if not dry_run:
        click.echo(f"status: {integration.status}", err=True)
    _exit(code)


def _finish(result: pd.DataFrame, report: Path | None) -> int:
    shown = summary(result)
    click.echo(str(shown))
    if report is not None:
        if report.suffix.lower() not in (".csv", ".parquet"):
            raise UsageFailure(f"--report {report.name!r}: give it a .csv or .parquet extension")
        rows = build_report(result, result.iloc[:, :0])
        write_report(rows, report)
        click.echo(f"report: {len(rows):,} record(s) written to {report}", err=True)
    return EXIT_OK if shown.ok else EXIT_ROWS_FAILED


@salesforce.command(epilog=_SALESFORCE_ENV)
@_config_argument
@_guarded
def preview(config: Path) -> None:
    """How many records each object's rules match, and how many the next sync would pull.
    Sends nothing to Spotzee."""
    integration, sources = load_config(config)
    with _source(sources) as source:
        frame = integration.preview(source)
    click.echo(format_table(frame.drop(columns=["query"])))
    for obj, query in zip(frame["object"], frame["query"], strict=True):
        click.echo(f"{obj}: {query}")


@salesforce.command(epilog=_SALESFORCE_ENV)
@_config_argument
@_guarded
def status(config: Path) -> None:
    """The integration's status, why it is in Error, and each object's watermark."""
    integration, _ = load_config(config)
    click.echo(f"{integration.id}: {integration.status}")
    error = integration.error
    if error:
        click.echo(f"error: {error}")
    for obj, mark in integration.watermarks.items():
        click.echo(f"{obj}: {'not synced yet' if mark is None else f'synced up to {mark}'}")


@salesforce.command(epilog=_SALESFORCE_ENV)
@_config_argument
@click.option("--last", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show this many of the newest entries.")  # fmt: skip
@click.option(
    "--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
    show_default=True, help="table for people; csv or json for scripts.",
)  # fmt: skip
@_guarded
def log(config: Path, last: int, fmt: str) -> None:
    """The integration's log: runs started, completed and failed, records imported and
    updated per object, health checks."""
    integration, _ = load_config(config)
    frame = integration.log.tail(last)
    if fmt == "table":
        frame = frame.drop(columns=["errors", "warnings"])
    columns = ["at", "event", "object", "count", "duration", "message", "run_id"]
    print_frame(frame, fmt, columns)


@salesforce.command(epilog=_SALESFORCE_ENV)
@_config_argument
@_guarded
def health(config: Path) -> None:
    """The four health checks (credentials, mapped fields, API quota, staleness); exit
    code 1 when one fails."""
    integration, sources = load_config(config)
    with _source(sources) as source:
        frame = integration.health(source)
    click.echo(format_table(frame))
    _exit(EXIT_ROWS_FAILED if (frame["ok"] == False).any() else EXIT_OK)  # noqa: E712
