"""The `spotzee-frames` command line: upsert a file of contacts, track its events, delete
its users, change their subscriptions, list campaigns, journeys, subscriptions, lists and
tags, trigger sends from a file, serve the sandbox, run the demo.

Exit codes a script can rely on: 0 every row succeeded, 1 some rows did not (the report
is written when asked), 2 a usage or configuration error (nothing, or nothing more, was
sent), 130 interrupted. Data goes to stdout, errors and progress to stderr.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
import pandas as pd

from ._client import Client
from ._errors import Interrupted, SpotzeeError
from ._read import COMPRESSED, file_format, read_file
from ._spelling import cli_spelling
from ._summary import (
    SENT_STATUSES,
    format_table,
    needs_attention,
    sent_without_a_field,
    summary,
)
from ._summary import preview as payload_preview
from ._version import __version__
from ._warnings import SpotzeeWarning

if TYPE_CHECKING:
    from ._encoding import BigIntPolicy, NullPolicy
    from ._mapping import MappingSpec
    from ._prepare import DuplicatePolicy, InvalidFieldPolicy
    from ._upsert import Mode

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_ROWS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_REPORT_FORMATS = (".csv", ".parquet")
# Result columns copied into a report, in this order, when the result has them.
_REPORT_COLUMNS = (
    "status",
    "error_code",
    "error_field",
    "error_message",
    "warning_code",
    "warning_field",
    "warning_message",
    "attempts",
    "batch",
    "request_id",
    "replayed",
)

_ENV_HELP = """
\b
Environment:
  SPOTZEE_API_KEY   the project's secret key (sk_...). It is read only from the
                    environment, never from an option, so it stays out of shell history.
  SPOTZEE_BASE_URL  the API base URL (default https://apix.spotzee.com/api/client).

\b
Exit codes:
  0    every row was sent (or skipped as a copy of a row that was)
  1    some rows were not sent or were refused (see --report)
  2    usage or configuration error (bad option, missing key, unreadable file,
       campaign or journey that cannot take sends)
  130  interrupted (Ctrl-C); a --report still lists what was done
"""


class UsageFailure(click.ClickException):
    """A configuration or usage problem: exit code 2, one line on stderr."""

    exit_code = EXIT_USAGE


class _State:
    def __init__(self) -> None:
        self.sandbox = False
        self._client: Client | None = None

    def client(self) -> Client:
        if self._client is None:
            if self.sandbox:
                self._client = Client.sandbox()
            else:
                if not os.environ.get("SPOTZEE_API_KEY", "").strip():
                    raise UsageFailure(
                        "no API key: set SPOTZEE_API_KEY in the environment "
                        "(or add --sandbox to try against the embedded sandbox)"
                    )
                self._client = Client()
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _state() -> _State:
    ctx = click.get_current_context()
    state = ctx.find_object(_State)
    if state is None:  # a command invoked on its own, without the group
        state = ctx.ensure_object(_State)
    return state


def _set_sandbox(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(_State).sandbox = True
    return value


_SANDBOX_HELP = (
    "Run against an embedded in-process sandbox instead of Spotzee (no key needed). "
    "Every run starts a fresh sandbox with the demo campaigns and journeys; nothing is "
    "kept after the command ends."
)


def _sandbox_option(f: F) -> F:
    return click.option(
        "--sandbox",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_set_sandbox,
        help=_SANDBOX_HELP,
    )(f)


def _guarded(f: Callable[P, R]) -> Callable[P, R]:
    """Turn whole-call errors into one clear line on stderr and exit code 2, and Ctrl-C
    into exit code 130 (click's own handling would exit 1, which means "rows failed")."""

    @functools.wraps(f)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            with cli_spelling(), warnings.catch_warnings():
                _echo_toolkit_warnings()
                return f(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except SpotzeeError as exc:
            raise UsageFailure(_one_line(exc)) from None
        except OSError as exc:  # the input file vanished or cannot be opened
            raise UsageFailure(_one_line(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        finally:
            state = click.get_current_context().find_object(_State)
            if state is not None:
                state.close()

    return wrapper


def _echo_toolkit_warnings() -> None:
    """Show each toolkit warning once, as one `warning:` line on stderr: Python's own
    format names a file and line of the package, which means nothing at a shell. Call
    inside `warnings.catch_warnings()`."""
    warnings.simplefilter("default", SpotzeeWarning)
    others = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: Any = None,
        line: str | None = None,
    ) -> None:
        if issubclass(category, SpotzeeWarning):
            click.echo(f"warning: {' '.join(str(message).split())}", err=True)
        else:
            others(message, category, filename, lineno, file, line)

    warnings.showwarning = show


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- reading input and options ---------------------------------------------------------------


def _parse_map(values: Sequence[str], mapping_file: Path | None) -> dict[Hashable, Any]:
    """`--mapping` and `--map` as one `mapping=`: a column's `--map` entries replace its
    entry in the file, and several `--map` entries for one column feed it to each field."""
    mapping: dict[Hashable, Any] = {}
    if mapping_file is not None:
        try:
            loaded = json.loads(mapping_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageFailure(
                f"cannot read mapping file {mapping_file}: {_one_line(exc)}"
            ) from None
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and _is_target(v) for k, v in loaded.items()
        ):
            raise UsageFailure(
                f"mapping file {mapping_file} must hold a JSON object of "
                '{"column": "field"} (a field, a list of fields, or null to leave the '
                "column out)"
            )
        mapping.update(loaded)
    from_flags: dict[str, list[str | None]] = {}
    for item in values:
        column, sep, field = item.partition("=")
        if not sep or not column:
            raise UsageFailure(
                f"--map {item!r}: write COLUMN=FIELD, e.g. --map customer_id=external_id "
                "(or COLUMN= to leave the column out)"
            )
        from_flags.setdefault(column, []).append(field or None)
    for column, fields in from_flags.items():
        if None in fields and len(fields) > 1:
            raise UsageFailure(
                f"--map {column}= leaves column {column!r} out, but another --map sends it; "
                "choose one"
            )
        mapping[column] = fields[0] if len(fields) == 1 else list(dict.fromkeys(fields))
    return mapping


def _is_target(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)


def _split(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items


def _check_report_path(report: Path | None) -> None:
    """Refuse a report the run could not write, before anything is read or sent."""
    if report is None:
        return
    if report.suffix.lower() not in _REPORT_FORMATS:
        raise UsageFailure(
            f"--report {report.name!r}: the report is written as CSV or Parquet; "
            "give it a .csv or .parquet extension"
        )
    folder = report.parent
    if not folder.is_dir():
        raise UsageFailure(f"--report {str(report)!r}: folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageFailure(f"--report {str(report)!r}: folder {str(folder)!r} is not writable")


def _read_source(
    file: Path, mapping: MappingSpec, encoding: str, sheet: str | None
) -> pd.DataFrame:
    """FILE as `read_file` reads it, indexed by line (or sheet row) numbers, so every
    message and the report name the place an editor shows."""
    which: str | int = 0 if sheet is None else int(sheet) if sheet.isdigit() else sheet
    return read_file(file, mapping or None, encoding=encoding, sheet_name=which, line_numbers=True)


def _where(frame: pd.DataFrame, expression: str | None) -> pd.DataFrame:
    if not expression:
        return frame
    try:
        picked = frame.query(expression, engine="python")
    except Exception as exc:  # any failure here is a bad expression
        raise UsageFailure(
            f"--where {expression!r}: {_one_line(exc)}{_backtick_hint(frame, expression)}"
        ) from None
    if not isinstance(picked, pd.DataFrame):
        raise UsageFailure(f"--where {expression!r} did not select rows")
    return picked


def _backtick_hint(frame: pd.DataFrame, expression: str) -> str:
    """A hint for a column whose name is no Python name (`First Name`, `e-mail`) written
    bare in a --where expression: pandas reads such a name only between backticks."""
    bare = [
        str(c)
        for c in frame.columns
        if not str(c).isidentifier() and str(c) in expression and f"`{c}`" not in expression
    ]
    if not bare:
        return ""
    example = expression.replace(bare[0], f"`{bare[0]}`")
    return f' (a column name like {bare[0]!r} goes between backticks: --where "{example}")'


# -- results, reports and exit codes --------------------------------------------------------


def build_report(result: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """The rows that were not sent or were refused, and those sent with a field left out:
    the result's status, error and warning columns, then the source columns as read (a
    source column that shares a name with a result column keeps its name; the result's
    is prefixed `spotzee_`). The first column is where the row is in the file: its `line`
    (the header is line 1), a sheet's `row`, or the `record` number."""
    keep = needs_attention(result) | sent_without_a_field(result)
    columns = [c for c in _REPORT_COLUMNS if c in result.columns]
    part = result.loc[keep, columns]
    part = part.rename(columns={c: f"spotzee_{c}" for c in columns if c in source.columns})
    src = source.loc[keep]
    report: pd.DataFrame = pd.concat(
        [part.reset_index(drop=True), src.reset_index(drop=True)], axis=1
    )
    index = src.index
    levels = (
        [(str(n), index.get_level_values(i)) for i, n in enumerate(index.names)]
        if isinstance(index, pd.MultiIndex)  # a streamed folder: file and row
        else [(str(index.name or "row"), index)]
    )
    for where, values in reversed(levels):
        report.insert(0, f"spotzee_{where}" if where in report.columns else where, list(values))
    return report


def _report_frame(report: pd.DataFrame, *, parquet: bool) -> pd.DataFrame:
    """The report as written: lists and dicts as JSON text, so CSV and Parquet both take
    them; for Parquet, text columns as `string` and every name a string."""
    out = report.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v
            )
    if parquet:
        out.columns = [str(c) for c in out.columns]
        for column in out.columns:
            if out[column].dtype == object:
                out[column] = (
                    out[column]
                    .map(
                        lambda v: v if v is None or isinstance(v, str) else str(v),
                        na_action="ignore",
                    )
                    .astype("string")
                )
    return out


def write_report(report: pd.DataFrame, path: Path) -> None:
    parquet = path.suffix.lower() == ".parquet"
    out = _report_frame(report, parquet=parquet)
    try:
        if parquet:
            out.to_parquet(path, index=False)
        else:
            out.to_csv(path, index=False)
    except (OSError, ValueError, ImportError) as exc:
        raise UsageFailure(f"cannot write report {path}: {_one_line(exc)}") from None


def _finish(
    result: pd.DataFrame, source: pd.DataFrame, report: Path | None, *, interrupted: bool = False
) -> int:
    """Print the summary, write the report, and return the exit code."""
    click.echo(str(summary(result)))
    if report is not None:
        rows = build_report(result, source)
        write_report(rows, report)
        sent = rows["status"].astype("string").isin(SENT_STATUSES).fillna(False)
        what = f"{int((~sent).sum()):,} row(s) not sent"
        if sent.any():
            what += f" and {int(sent.sum()):,} sent without a field"
        click.echo(f"report: {what} written to {report}", err=True)
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if summary(result).ok else EXIT_ROWS_FAILED


@contextmanager
def _interruptible(source: pd.DataFrame, report: Path | None) -> Iterator[None]:
    try:
        yield
    except Interrupted as exc:
        click.echo("interrupted: the rows below were done before the stop", err=True)
        partial = exc.result
        if isinstance(partial, pd.DataFrame) and "status" in partial.columns:
            _finish(partial, source, report, interrupted=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise click.exceptions.Exit(EXIT_INTERRUPTED) from None


def _exit(code: int) -> NoReturn:
    raise click.exceptions.Exit(code)


_progress_option = click.option(
    "--progress/--no-progress",
    default=None,
    help="Show a progress bar on stderr. Default: only when stderr is a terminal.",
)


# -- the commands ---------------------------------------------------------------------------


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=_ENV_HELP,
)
@_sandbox_option
@click.version_option(__version__, "-V", "--version", prog_name="spotzee-frames")
def cli() -> None:
    """Push frames of contacts into Spotzee and fire campaigns and journeys at them.

    Each row of the input gets an outcome; the rows that were not sent, and why, are
    printed and can be written to a report (--report errors.csv|errors.parquet).
    Try `spotzee-frames demo` first: it needs no key and no network.
    """
    click.get_current_context().ensure_object(_State)


_mapping_options = [
    click.option(
        "--map",
        "maps",
        multiple=True,
        metavar="COLUMN=FIELD",
        help="Send COLUMN as FIELD: external_id, anonymous_id, email, phone, timezone, "
        "locale, first_name, last_name or data.<key>; COLUMN= leaves it out. Repeatable; "
        "repeat a COLUMN to send it as several fields (--map Email=external_id --map "
        "Email=email). Columns named like a field map themselves (E-mail, First Name).",
    ),
    click.option(
        "--mapping",
        "mapping_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help='A JSON file {"column": "field", ...} (a list of fields feeds several, null '
        "leaves a column out); a column's --map entries replace its entry.",
    ),
]


def _with(options: list[Callable[[F], F]]) -> Callable[[F], F]:
    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


_region_option = click.option(
    "--default-region",
    metavar="CC",
    help="Country (ISO 3166 alpha-2, e.g. AU) for phone numbers in national format.",
)


def _choice_option(flag: str, choices: Sequence[str], help: str) -> Callable[[F], F]:
    """An option that takes one of `choices`, the first of them by default."""
    return click.option(
        flag, type=click.Choice(list(choices)), default=choices[0], show_default=True, help=help
    )


_duplicates_option = _choice_option(
    "--duplicates",
    ["reject", "first", "last"],
    "Rows sharing an external_id: reject holds back those that differ (copies are "
    "sent once); first or last sends that one and skips the others.",
)
_big_ints_option = _choice_option(
    "--big-ints",
    ["invalid", "string"],
    "Integers beyond 2**53, which a server reading JSON numbers as doubles would round "
    "(I-JSON, RFC 7493): invalid holds their rows back; string sends them as exact text.",
)

_file_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)
)
_encoding_option = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    metavar="CODEC",
    help="Text encoding of a CSV, TSV or JSON-lines FILE (e.g. cp1252 for a spreadsheet "
    "saved on Windows). A UTF-8 byte-order mark is always understood.",
)


_sheet_option = click.option(
    "--sheet",
    metavar="NAME",
    help="The sheet of an .xlsx FILE to read: its name, or its position from 0. "
    "Default: the first.",
)


def _input_file(func: F) -> F:
    """FILE and the --encoding (or --sheet) it is read with."""
    return _file_argument(_encoding_option(_sheet_option(func)))


_report_option = click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the rows that were not sent, with their errors and source columns, "
    "to this .csv or .parquet file.",
)


_ledger_option = click.option(
    "--ledger",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="A ledger file (created on the first run): records what the server confirmed and "
    "every request before it goes, so a killed run re-run sends only what is missing "
    "and nothing twice, even past the server's 24 hours or where it ignores idempotency "
    "keys. One run writes a ledger at a time.",
)

_source_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=True, readable=True, path_type=Path)
)


@cli.command(epilog=_ENV_HELP)
@_source_argument
@_encoding_option
@_sheet_option
@_with(_mapping_options)
@_choice_option(
    "--mode",
    ["sync", "async"],
    "sync: POST /users/batch with a result per row. async: PATCH /users; rows are "
    "queued with no per-row outcome.",
)
@_choice_option(
    "--nulls",
    ["omit", "clear"],
    "omit: an empty cell leaves that field as it is in Spotzee. clear: it sends null "
    "and erases the stored value.",
)
@_region_option
@_duplicates_option
@_choice_option(
    "--invalid-fields",
    ["omit", "reject"],
    "A row whose email, phone, timezone or locale cannot be used: omit sends it "
    "without that field (the summary and --report say which, and why); reject holds the "
    "whole row back. A row without a usable id is never sent.",
)
@_big_ints_option
@click.option("--dry-run", is_flag=True, help="Validate and build every payload; send nothing.")
@click.option(
    "--preview",
    type=click.IntRange(min=0),
    default=0,
    metavar="N",
    help="Also print what would be sent for the first N rows, beside their source values.",
)
@_report_option
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="Users per request (the API takes at most 100).",
)
@_ledger_option
@click.option(
    "--only-changed",
    is_flag=True,
    help="With --ledger: rows whose payload the ledger holds as confirmed are not sent "
    "(status unchanged).",
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE.parquet",
    help="Write every row's result (status, error, request id…) to this Parquet file.",
)
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Read FILE a chunk at a time (a CSV, TSV, Parquet file or folder of Parquet "
    "files), for files larger than memory; rows are then named by their 0-based row in "
    "the file. Default: when FILE would not fit comfortably in the memory available.",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=100_000,
    show_default=True,
    help="Rows per chunk with --stream.",
)
@_progress_option
@_sandbox_option
@_guarded
def upsert(
    file: Path,
    maps: tuple[str, ...],
    mapping_file: Path | None,
    mode: Mode,  # the click.Choice options above hold these to their literals
    nulls: NullPolicy,
    default_region: str | None,
    duplicates: DuplicatePolicy,
    invalid_fields: InvalidFieldPolicy,
    big_ints: BigIntPolicy,
    dry_run: bool,
    preview: int,
    report: Path | None,
    batch_size: int,
    ledger: Path | None,
    only_changed: bool,
    results: Path | None,
    stream: bool | None,
    chunk_rows: int,
    progress: bool | None,
    encoding: str,
    sheet: str | None,
) -> None:
    """Upsert the contacts in FILE (.csv, .tsv, .parquet, .jsonl, .json or .xlsx, or a
    folder of Parquet files) as users.

    Prints how many rows were upserted and the rows that were not, grouped by reason;
    rows are named by their line in FILE (the header is line 1). Columns that are no
    first-class field go to the user's custom `data`. Re-running the same file is safe:
    each batch carries an idempotency key derived from its content; with --ledger it
    stays safe after a crash and past the server's 24 hours, and --only-changed sends
    just the rows that changed since the last confirmed run.
    """
    from ._upsert import upsert as upsert_frame

    _check_report_path(report)
    _check_results_path(results)
    mapping = _parse_map(maps, mapping_file)
    if stream is None:
        stream = _too_big(file)
    if stream or file.is_dir():
        if preview:
            raise UsageFailure(
                "--preview reads FILE whole; with --stream, a --dry-run --report shows "
                "what would be sent"
            )
        _exit(
            _upsert_streaming(
                file,
                mapping,
                report=report,
                results=results,
                encoding=encoding,
                upsert_dataset_options={
                    "mode": mode,
                    "nulls": nulls,
                    "default_region": default_region,
                    "duplicates": duplicates,
                    "invalid_fields": invalid_fields,
                    "big_ints": big_ints,
                    "dry_run": dry_run,
                    "batch_size": batch_size,
                    "progress": progress,
                    "ledger": ledger,
                    "only_changed": only_changed,
                    "chunk_rows": chunk_rows,
                },
            )
        )
    source = _read_source(file, mapping, encoding, sheet)
    if preview:
        shown = payload_preview(
            source,
            mapping or None,
            n=preview,
            default_region=default_region,
            nulls=nulls,
            duplicates=duplicates,
            invalid_fields=invalid_fields,
            big_ints=big_ints,
        )
        click.echo(str(shown))
        click.echo()
    client = _state().client()
    with _interruptible(source, report):
        result = upsert_frame(
            source,
            mapping or None,
            mode=mode,
            nulls=nulls,
            default_region=default_region,
            duplicates=duplicates,
            invalid_fields=invalid_fields,
            big_ints=big_ints,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
            client=client,
            ledger=ledger,
            only_changed=only_changed,
        )
    if results is not None:
        _write_results(result, results)
    _exit(_finish(result, source, report))


def _check_results_path(results: Path | None) -> None:
    """Refuse a results file the run could not write, before anything is read or sent."""
    if results is None:
        return
    if results.suffix.lower() != ".parquet":
        raise UsageFailure(f"--results {results.name!r}: the results file is Parquet (.parquet)")
    if not results.parent.is_dir():
        raise UsageFailure(
            f"--results {str(results)!r}: folder {str(results.parent)!r} does not exist"
        )


def _write_results(result: pd.DataFrame, path: Path) -> None:
    """Every row's result with where it is in FILE (its `line`, sheet `row` or `record`)."""
    out = result.reset_index()
    out.columns = [str(c) for c in out.columns]
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(
                lambda v: v if v is None or isinstance(v, str) else json.dumps(v, default=str)
            )
    try:
        out.to_parquet(path, index=False)
    except (OSError, ValueError, ImportError) as exc:
        raise UsageFailure(f"cannot write results {path}: {_one_line(exc)}") from None


# In memory, a file takes several times its size on disk (Python strings for every text
# cell, then the payloads); past half the memory available it is streamed instead.
_IN_MEMORY_FACTOR = {"csv": 10, "tsv": 10, "parquet": 30}


def _too_big(file: Path) -> bool:
    """Whether FILE should be streamed: a CSV, TSV or Parquet file (or a folder) whose
    in-memory copy would take more than half the memory available."""
    if file.is_dir():
        return True
    try:
        kind = file_format(file)
    except SpotzeeError:
        return False  # read_file names the problem
    factor = _IN_MEMORY_FACTOR.get(kind)
    if factor is None or file.suffix.lower() in COMPRESSED:
        return False
    return file.stat().st_size * factor > _available_memory() / 2


def _available_memory() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return 2**62  # unknown: read whole, as before


class _ReportAppender:
    """The report of a streamed run, written chunk by chunk: CSV appended, Parquet one
    row group per chunk."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rows = 0
        self.sent = 0
        self._parquet: Any = None

    def add(self, result: pd.DataFrame, source: pd.DataFrame) -> None:
        rows = build_report(result, source)
        if not len(rows):
            return
        self.sent += int(rows["status"].astype("string").isin(SENT_STATUSES).fillna(False).sum())
        self.rows += len(rows)
        parquet = self.path.suffix.lower() == ".parquet"
        out = _report_frame(rows, parquet=parquet)
        try:
            if parquet:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(out, preserve_index=False)
                if self._parquet is None:
                    self._parquet = pq.ParquetWriter(self.path, table.schema)
                self._parquet.write_table(table.cast(self._parquet.schema))
            else:
                first = self.rows == len(rows)
                out.to_csv(self.path, index=False, mode="w" if first else "a", header=first)
        except (OSError, ValueError, ImportError) as exc:
            raise UsageFailure(f"cannot write report {self.path}: {_one_line(exc)}") from None

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        elif not self.rows:  # nothing to report: an empty report, as a run in memory writes
            write_report(pd.DataFrame(columns=["row", "status"]), self.path)


def _upsert_streaming(
    file: Path,
    mapping: MappingSpec,
    *,
    report: Path | None,
    results: Path | None,
    encoding: str,
    upsert_dataset_options: dict[str, Any],
) -> int:
    """`upsert --stream`: FILE through `upsert_dataset`; the summary, the report and the
    exit code as for a file read whole."""
    from ._stream import upsert_dataset

    appender = _ReportAppender(report) if report is not None else None
    client = _state().client()
    try:
        summary_of = upsert_dataset(
            file,
            mapping or None,
            results=results,
            client=client,
            encoding=encoding,
            on_chunk=appender.add if appender is not None else None,
            **upsert_dataset_options,
        )
    except Interrupted as exc:
        click.echo("interrupted: the rows below were done before the stop", err=True)
        if exc.result is not None:
            click.echo(str(exc.result))
        return EXIT_INTERRUPTED
    finally:
        if appender is not None:
            appender.close()
    click.echo(str(summary_of))
    if appender is not None:
        what = f"{appender.rows - appender.sent:,} row(s) not sent"
        if appender.sent:
            what += f" and {appender.sent:,} sent without a field"
        click.echo(f"report: {what} written to {report}", err=True)
    return EXIT_OK if summary_of.ok else EXIT_ROWS_FAILED


_TABLE_COLUMNS = {
    "campaigns": ["id", "name", "type", "channel", "state", "delivery_sent", "delivery_total"],
    "journeys": ["id", "name", "status", "tags", "stats_entrance", "updated_at"],
    "subscriptions": ["id", "name", "channel", "is_public", "updated_at"],
    "lists": ["id", "name", "type", "state", "users_count", "tags", "updated_at"],
    "tags": ["id", "name", "created_at"],
}


def print_frame(frame: pd.DataFrame, fmt: str, table_columns: list[str]) -> None:
    """Write a listing to stdout as a table, CSV or a JSON array of records."""
    if fmt == "json":
        click.echo(frame.to_json(orient="records", date_format="iso", force_ascii=False))
        return
    if fmt == "csv":
        out = frame.copy()
        for column in out.columns:
            if out[column].dtype == object:
                out[column] = out[column].map(
                    lambda v: json.dumps(v) if isinstance(v, (list, dict)) else v
                )
        click.echo(out.to_csv(index=False), nl=False)
        return
    if frame.empty:
        click.echo("(none)")
        return
    shown = frame[[c for c in table_columns if c in frame.columns]]
    if "id" in shown.columns:
        shown = shown.sort_values("id")
    click.echo(format_table(shown))


def _listing_command(name: str, what: str) -> Callable[..., None]:
    @click.option(
        "--format",
        "fmt",
        type=click.Choice(["table", "csv", "json"]),
        default="table",
        show_default=True,
        help="table for people; csv or json (every column) for scripts.",
    )
    @click.option("--search", "-q", metavar="TEXT", help="Only those matching TEXT (the API's q=).")
    @_sandbox_option
    @_guarded
    def command(fmt: str, search: str | None) -> None:
        from . import _listing, _subscriptions

        lister = getattr(_subscriptions if name == "subscriptions" else _listing, name)
        frame = lister(client=_state().client(), **({"q": search} if search else {}))
        print_frame(frame, fmt, _TABLE_COLUMNS[name])

    command.__doc__ = f"List every {what} of the project (all pages)."
    return cli.command(name, epilog=_ENV_HELP)(command)


campaigns_command = _listing_command("campaigns", "campaign")
journeys_command = _listing_command("journeys", "journey")
subscriptions_command = _listing_command("subscriptions", "subscription")
lists_command = _listing_command("lists", "list")
tags_command = _listing_command("tags", "tag")

_trigger_options = [
    _input_file,
    *_mapping_options,
    click.option(
        "--where",
        metavar="EXPR",
        help="Only the rows matching this pandas query, e.g. \"plan == 'enterprise'\".",
    ),
    click.option(
        "--event-columns",
        metavar="A,B",
        help="Columns whose values form each row's event (the template's {{event.*}}).",
    ),
    click.option(
        "--attributes",
        metavar="A,B",
        help="Columns sent as custom user attributes (none unless named).",
    ),
    _region_option,
    _duplicates_option,
    _big_ints_option,
    click.option(
        "--send-id",
        metavar="ID",
        help="Names this send: re-running with the same id never sends twice; a new id "
        "sends again on purpose.",
    ),
    click.option(
        "--dry-run", is_flag=True, help="Check the target and build every call; send nothing."
    ),
    click.option(
        "--max-recipients",
        type=click.IntRange(min=1),
        default=10_000,
        show_default=True,
        help="Refuse to send to more rows than this.",
    ),
    _report_option,
    _ledger_option,
    _progress_option,
    _sandbox_option,
]


def _trigger(
    kind: str,
    target_id: int,
    file: Path,
    maps: tuple[str, ...],
    mapping_file: Path | None,
    where: str | None,
    event_columns: str | None,
    attributes: str | None,
    send_id: str | None,
    dry_run: bool,
    max_recipients: int,
    report: Path | None,
    progress: bool | None,
    default_region: str | None,
    duplicates: str,
    big_ints: str,
    encoding: str,
    sheet: str | None,
    ledger: Path | None,
    **extra: Any,
) -> None:
    from . import _trigger as trigger_module

    _check_report_path(report)
    mapping = _parse_map(maps, mapping_file)
    events = _split(event_columns)
    attrs = _split(attributes)
    source = _read_source(file, mapping, encoding, sheet)
    audience = _where(source, where)
    missing = [c for c in [*(events or []), *(attrs or [])] if c not in audience.columns]
    if missing:
        raise UsageFailure(f"no such column(s) in {file.name}: {', '.join(missing)}")
    client = _state().client()
    send = getattr(trigger_module, f"trigger_{kind}")
    with _interruptible(audience, report):
        result = send(
            audience,
            target_id,
            event=events,
            attributes=attrs,
            mapping=mapping or None,
            send_id=send_id,
            dry_run=dry_run,
            max_recipients=max_recipients,
            progress=progress,
            client=client,
            default_region=default_region,
            duplicates=duplicates,
            ledger=ledger,
            big_ints=big_ints,
            **extra,
        )
    _exit(_finish(result, audience, report))


@cli.command("trigger-campaign", epilog=_ENV_HELP)
@click.argument("campaign_id", type=click.IntRange(min=1), metavar="ID")
@_with(_trigger_options)
@_guarded
def trigger_campaign_command(campaign_id: int, file: Path, **options: Any) -> None:
    """Trigger campaign ID once for each row of FILE (optionally only --where rows).

    The campaign must be a `trigger` campaign that is not a draft; it is checked before
    anything is sent. Each row needs an external_id. Re-running the same command replays
    instead of sending twice.
    """
    _trigger("campaign", campaign_id, file, **options)


@cli.command("trigger-journey", epilog=_ENV_HELP)
@click.argument("journey_id", type=click.IntRange(min=1), metavar="ID")
@click.option(
    "--entrance-id",
    type=click.IntRange(min=1),
    required=True,
    help="The journey's entrance step (see the journey in Spotzee).",
)
@_with(_trigger_options)
@_guarded
def trigger_journey_command(journey_id: int, file: Path, entrance_id: int, **options: Any) -> None:
    """Enter each row of FILE into journey ID at --entrance-id (optionally only --where rows).

    The journey must be live; it is checked before anything is sent. Re-running the same
    command replays instead of entering anyone twice.
    """
    _trigger("journey", journey_id, file, entrance_id=entrance_id, **options)


_batch_size_option = click.option(
    "--batch-size",
    type=click.IntRange(1, 100),
    default=100,
    show_default=True,
    help="Items per request (the API takes at most 100).",
)


@cli.command(epilog=_ENV_HELP)
@_input_file
@_with(_mapping_options)
@click.option("--name", metavar="NAME", help="The event name of every row, e.g. order_placed.")
@click.option(
    "--name-column", metavar="COLUMN", help="The column holding each row's event name instead."
)
@click.option(
    "--created-at",
    metavar="COLUMN",
    help="The column of event times (ISO 8601; a column named created_at is used anyway). "
    "Without an offset, --timezone must say which zone they are in.",
)
@click.option(
    "--timezone",
    metavar="ZONE",
    help="The IANA zone of event times written without an offset, e.g. Europe/London.",
)
@click.option(
    "--user",
    "user_columns",
    metavar="A,B",
    help="Columns sent in the event's user object (email, phone, timezone and locale are "
    "profile fields; others go to the user's data).",
)
@_region_option
@_big_ints_option
@click.option("--dry-run", is_flag=True, help="Validate and build every event; send nothing.")
@_report_option
@_batch_size_option
@_ledger_option
@_progress_option
@_sandbox_option
@_guarded
def track(
    file: Path,
    maps: tuple[str, ...],
    mapping_file: Path | None,
    name: str | None,
    name_column: str | None,
    created_at: str | None,
    timezone: str | None,
    user_columns: str | None,
    default_region: str | None,
    big_ints: BigIntPolicy,
    dry_run: bool,
    report: Path | None,
    batch_size: int,
    ledger: Path | None,
    progress: bool | None,
    encoding: str,
    sheet: str | None,
) -> None:
    """Send one event per row of FILE (.csv, .tsv, .parquet, .jsonl or .json).

    Each row needs an external_id or anonymous_id; every other column goes to the event's
    data. Re-running the same file (or a report's failed rows, in order) replays instead
    of counting events twice, within Spotzee's 24-hour idempotency window.
    """
    from ._track import track as track_frame

    _send_file(
        file,
        _parse_map(maps, mapping_file),
        report,
        encoding,
        sheet,
        lambda source, mapping: track_frame(
            source,
            name,
            name_column=name_column,
            created_at=created_at,
            timezone=timezone,
            mapping=mapping,
            user=_split(user_columns),
            default_region=default_region,
            big_ints=big_ints,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
            client=None if dry_run and ledger is None else _state().client(),
            ledger=ledger,
        ),
    )


def _send_file(
    file: Path,
    mapping: dict[Hashable, str | None],
    report: Path | None,
    encoding: str,
    sheet: str | None,
    send: Callable[[pd.DataFrame, dict[Hashable, str | None] | None], pd.DataFrame],
) -> NoReturn:
    """Read FILE (its mapped id columns as text), `send(frame, mapping)`, print the summary,
    write the report, exit with the code it calls for (Ctrl-C: 130, what was done kept)."""
    _check_report_path(report)
    source = _read_source(file, mapping, encoding, sheet)
    with _interruptible(source, report):
        result = send(source, mapping or None)
    _exit(_finish(result, source, report))


_id_map_option = click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="COLUMN=external_id",
    help="The column holding the external ids, when it is not named external_id.",
)


def _stdin_is_a_terminal() -> bool:
    return sys.stdin.isatty()


@cli.command(epilog=_ENV_HELP)
@_input_file
@_id_map_option
@click.option(
    "--dry-run", is_flag=True, help="Send nothing; list exactly the users that would be deleted."
)
@click.option(
    "--yes",
    is_flag=True,
    help="Delete without asking. Required when stdin is not a terminal (scripts, CI).",
)
@click.option(
    "--max-users",
    type=click.IntRange(min=1),
    default=10_000,
    show_default=True,
    help="Refuse to delete more distinct users than this.",
)
@_report_option
@_progress_option
@_sandbox_option
@_guarded
def delete(
    file: Path,
    maps: tuple[str, ...],
    dry_run: bool,
    yes: bool,
    max_users: int,
    report: Path | None,
    progress: bool | None,
    encoding: str,
    sheet: str | None,
) -> None:
    """Delete the users FILE names by external_id. This cannot be undone.

    Safe by default: --dry-run lists who would be deleted and sends nothing. Without it,
    in a terminal the command shows what it found and asks before deleting; anywhere
    else (stdin not a terminal: a pipe, a script, CI) it refuses unless --yes is given,
    so nothing is ever deleted without someone saying so.
    """
    from ._delete import delete as delete_frame

    _check_report_path(report)
    mapping = _parse_map(maps, None)
    source = _read_source(file, mapping, encoding, sheet)
    plan = delete_frame(source, mapping=mapping or None, dry_run=True)
    who = plan.external_id[plan.status.eq("valid").to_numpy()].drop_duplicates()
    if dry_run:
        code = _finish(plan, source, report)
        click.echo(f"would delete {len(who):,} user(s):")
        for external_id in who:
            click.echo(f"  {external_id}")
        _exit(code)
    if not yes:
        if not _stdin_is_a_terminal():
            raise UsageFailure(
                f"refusing to delete {len(who):,} user(s) without confirmation: stdin is not "
                "a terminal, so no one can be asked. Check who with --dry-run, then pass "
                "--yes to delete. Nothing was deleted."
            )
        click.echo(str(summary(plan)), err=True)
        target = (
            "the sandbox" if _state().sandbox else os.environ.get("SPOTZEE_BASE_URL", "Spotzee")
        )
        if not click.confirm(
            f"Delete {len(who):,} user(s) from {target}? This cannot be undone", err=True
        ):
            raise UsageFailure("not confirmed: nothing was deleted")
    client = _state().client()
    with _interruptible(source, report):
        result = delete_frame(
            source,
            mapping=mapping or None,
            max_users=max_users,
            progress=progress,
            client=client,
        )
    _exit(_finish(result, source, report))


@cli.command("set-subscription", epilog=_ENV_HELP)
@click.argument("subscription_id", type=click.IntRange(min=1), metavar="ID")
@_input_file
@_id_map_option
@click.option(
    "--state",
    type=click.Choice(["unsubscribed", "subscribed", "opted_in", "0", "1", "2"]),
    help="The state for every row (0 unsubscribed, 1 subscribed, 2 opted in).",
)
@click.option(
    "--state-column",
    metavar="COLUMN",
    help="The column of per-row states instead: names, 0/1/2, or true (subscribed) / "
    "false (unsubscribed).",
)
@_duplicates_option
@click.option("--dry-run", is_flag=True, help="Check and build every change; send nothing.")
@_report_option
@_batch_size_option
@_progress_option
@_sandbox_option
@_guarded
def set_subscription_command(
    subscription_id: int,
    file: Path,
    maps: tuple[str, ...],
    state: str | None,
    state_column: str | None,
    duplicates: DuplicatePolicy,
    dry_run: bool,
    report: Path | None,
    batch_size: int,
    progress: bool | None,
    encoding: str,
    sheet: str | None,
) -> None:
    """Set subscription ID's state for each user of FILE (e.g. an unsubscribe list).

    Uses POST /subscriptions/batch, or one PATCH per user on a server without it.
    `spotzee-frames subscriptions` lists the subscriptions and their ids.
    """
    from ._subscriptions import set_subscription

    _send_file(
        file,
        _parse_map(maps, None),
        report,
        encoding,
        sheet,
        lambda source, mapping: set_subscription(
            source,
            subscription_id,
            state=state,
            state_column=state_column,
            mapping=mapping,
            duplicates=duplicates,
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
            client=None if dry_run else _state().client(),
        ),
    )


@cli.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def sandbox(args: tuple[str, ...]) -> None:
    """Serve the sandbox Spotzee on 127.0.0.1 until Ctrl+C (`sandbox --help` lists options).

    Same as `python -m spotzee_frames.sandbox`: the API is at
    http://127.0.0.1:<port>/api/client and accepts any sk_ key.
    """
    from .sandbox.__main__ import main as sandbox_main

    _exit(int(sandbox_main(list(args)) or 0))


@cli.command("schedule-campaign", epilog=_ENV_HELP)
@click.argument("campaign_id", type=click.IntRange(min=1), metavar="ID")
@_sandbox_option
@_guarded
def schedule_campaign_command(campaign_id: int) -> None:
    """Promote draft campaign ID to `scheduled`, so that it can be triggered.

    A campaign that is not a draft is left as it is. Prints the campaign's id, name and
    state.
    """
    from ._listing import schedule_campaign

    row = schedule_campaign(campaign_id, client=_state().client())
    shown = pd.DataFrame([row])[[c for c in ("id", "name", "type", "state") if c in row.index]]
    click.echo(format_table(shown))


@cli.command(epilog=_ENV_HELP)
@click.option(
    "--write-sample",
    "sample",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Write the bundled sample of 200 messy contacts to FILE (a CSV) instead of "
    "running the demo, to try the other commands on: spotzee-frames demo "
    "--write-sample contacts.csv.",
)
@_progress_option
@_guarded
def demo(progress: bool | None, sample: Path | None) -> None:
    """Run the demo against the embedded sandbox (no key, no network).

    Imports a bundled file of 200 messy contacts, prints the result and the rows that
    failed and why, then lists the campaigns and triggers one for a filtered slice.
    """
    from ._demo import run_demo, write_sample

    if sample is not None:
        size = write_sample(sample)
        click.echo(f"wrote {sample} ({size:,} bytes, 200 contacts)", err=True)
        _exit(EXIT_OK)
    _exit(run_demo(progress=progress))


def _add_groups() -> None:
    """Command groups kept in their own modules (they use the helpers above)."""
    from .salesforce._cli import salesforce as group

    cli.add_command(group)


_add_groups()


def main(argv: Sequence[str] | None = None) -> None:
    """The `spotzee-frames` entry point. Ctrl-C exits 130 wherever it lands (click's own
    handling would print "Aborted!" and exit 1, which here means "rows failed")."""
    args = list(argv) if argv is not None else None
    try:
        code = cli.main(args=args, prog_name="spotzee-frames", standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
