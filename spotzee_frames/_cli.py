"""The `spotzee-frames` command line: upsert a file of contacts, list campaigns and
journeys, trigger sends from a file, serve the sandbox, run the demo.

Exit codes a script can rely on: 0 every row succeeded, 1 some rows did not (the report
is written when asked), 2 a usage or configuration error (nothing, or nothing more, was
sent), 130 interrupted. Data goes to stdout, errors and progress to stderr.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import json
import lzma
import os
import sys
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeVar

import click
import orjson
import pandas as pd

from ._client import Client
from ._errors import Interrupted, SpotzeeError, ValidationError
from ._listing import nullable_column, records_frame, to_int
from ._summary import format_table, needs_attention, summary
from ._summary import preview as payload_preview
from ._version import __version__

if TYPE_CHECKING:
    from ._encoding import NullPolicy
    from ._prepare import DuplicatePolicy
    from ._upsert import Mode

__all__ = ["cli", "main"]

F = TypeVar("F", bound=Callable[..., Any])
P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK, EXIT_ROWS_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_READERS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
}
_REPORT_FORMATS = (".csv", ".parquet")
_COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
# Result columns copied into a report, in this order, when the result has them.
_REPORT_COLUMNS = (
    "status",
    "error_code",
    "error_field",
    "error_message",
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
            return f(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit):
            raise
        except SpotzeeError as exc:
            raise UsageFailure(_one_line(exc)) from None
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from None
        finally:
            state = click.get_current_context().find_object(_State)
            if state is not None:
                state.close()

    return wrapper


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- reading input and options ---------------------------------------------------------------


def _kind_of(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in _COMPRESSED and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    kind = _READERS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise UsageFailure(
            f"cannot tell the format of {path.name!r} from its extension; use one of "
            ".csv, .tsv, .parquet, .jsonl (JSON lines) or .json (an array, or lines)"
        )
    return kind


def read_frame(
    path: Path,
    text_columns: Callable[[Sequence[Hashable]], list[Hashable]],
    *,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet, JSON-lines or JSON-array file, losing nothing.

    In text files only empty fields are missing values (a name "NA" or "None" stays text).
    The columns `text_columns(header)` names are text; any other column becomes a number
    or a boolean only when every value reads back exactly as written, so a postcode 0800,
    an account 00123 or an 18-digit id stays text, and whole numbers with blanks stay
    whole numbers (`Int64`), never floats. A CSV's separator (`,` `;` `|` or tab) is taken
    from its header line; a UTF-8 byte-order mark is never part of a column name. Rows
    that end in an extra separator (as spreadsheets write them) do not shift columns.
    """
    kind = _kind_of(path)
    codec = encoding
    try:
        if _has_utf8_bom(path) or _is_utf8(encoding):
            codec = "utf-8-sig"  # the same as UTF-8, and a byte-order mark is not a column
        if kind in ("csv", "tsv"):
            sep = "\t" if kind == "tsv" else _separator(path, codec)
            frame = pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                na_values=[""],
                encoding=codec,
                index_col=False,
            )
            return _exact_types(frame, set(text_columns(list(frame.columns))))
        if kind == "parquet":
            return pd.read_parquet(path, dtype_backend="numpy_nullable")
        return _read_json(path, codec)
    except UnicodeDecodeError as exc:
        raise UsageFailure(
            f"cannot read {path}: it is not {encoding} text ({_one_line(exc)}); "
            "pass --encoding (e.g. --encoding cp1252)"
        ) from None
    except LookupError:
        raise UsageFailure(f"unknown --encoding {encoding!r}") from None
    except (OSError, ValueError, ImportError) as exc:
        raise UsageFailure(f"cannot read {path}: {_one_line(exc)}") from None


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")


def _has_utf8_bom(path: Path) -> bool:
    if path.suffix.lower() in (*_COMPRESSED, ".parquet", ".pq"):
        return False
    with path.open("rb") as f:
        return f.read(3) == b"\xef\xbb\xbf"


def _separator(path: Path, codec: str) -> str:
    """The CSV separator its header line uses most: `,` unless `;`, `|` or tab win."""
    header = pd.read_csv(path, sep="\x01", nrows=0, encoding=codec, dtype=str).columns
    line = str(header[0]) if len(header) else ""
    counts = {sep: line.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_DECIMAL = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_BOOLEANS = {"true": True, "false": False}


def _exact_types(frame: pd.DataFrame, text: set[Hashable]) -> pd.DataFrame:
    """Text columns as read; others typed only where the text reads back exactly."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        present = values.dropna()
        if column in text or not len(present):
            out[column] = values.astype("string") if column in text else values
            continue
        if present.str.fullmatch(_INTEGER).all():
            objects = pd.Series(
                [int(v) if isinstance(v, str) else None for v in values], dtype=object
            )
            ints = to_int(objects)
            if isinstance(ints.dtype, pd.Int64Dtype):  # within 64 bits
                out[column] = ints.set_axis(values.index)
                continue
        elif present.str.fullmatch(_DECIMAL).all():
            out[column] = values.astype("Float64")
            continue
        elif present.str.lower().isin(list(_BOOLEANS)).all():
            out[column] = values.str.lower().map(_BOOLEANS).astype("boolean")
            continue
        out[column] = values
    return pd.DataFrame(out, index=frame.index)


def _read_json(path: Path, codec: str) -> pd.DataFrame:
    """JSON lines, or one JSON array of objects; each column with the nullable dtype that
    holds its values exactly (see `webhooks_to_frame`)."""
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        path.suffix.lower(), open
    )
    with opener(path, "rt", encoding=codec) as f:
        text = f.read()
    stripped = text.lstrip()
    if stripped.startswith("["):
        records = orjson.loads(stripped)
    else:
        records = [orjson.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected JSON objects, one per line or in one array")
    frame = records_frame(records)
    return pd.DataFrame({k: nullable_column(frame[k]) for k in frame.columns}, index=frame.index)


def _parse_map(values: Sequence[str], mapping_file: Path | None) -> dict[Hashable, str | None]:
    mapping: dict[Hashable, str | None] = {}
    if mapping_file is not None:
        try:
            loaded = json.loads(mapping_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageFailure(
                f"cannot read mapping file {mapping_file}: {_one_line(exc)}"
            ) from None
        if not isinstance(loaded, dict) or not all(
            isinstance(k, str) and (v is None or isinstance(v, str)) for k, v in loaded.items()
        ):
            raise UsageFailure(
                f"mapping file {mapping_file} must hold a JSON object of "
                '{"column": "field"} (a field, or null to leave the column out)'
            )
        mapping.update(loaded)
    for item in values:
        column, sep, field = item.partition("=")
        if not sep or not column:
            raise UsageFailure(
                f"--map {item!r}: write COLUMN=FIELD, e.g. --map customer_id=external_id "
                "(or COLUMN= to leave the column out)"
            )
        mapping[column] = field or None
    return mapping


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


def _text_columns_for(
    mapping: dict[Hashable, str | None],
) -> Callable[[Sequence[Hashable]], list[Hashable]]:
    """The columns that feed first-class user fields: read them as text."""

    def pick(header: Sequence[Hashable]) -> list[Hashable]:
        from ._mapping import resolve_mapping

        try:
            resolved = resolve_mapping(header, mapping)
        except ValidationError:
            return []  # the real call reports the problem with its full message
        return list(resolved.fields.values())

    return pick


def _where(frame: pd.DataFrame, expression: str | None) -> pd.DataFrame:
    if not expression:
        return frame
    try:
        picked = frame.query(expression, engine="python")
    except Exception as exc:  # any failure here is a bad expression
        raise UsageFailure(f"--where {expression!r}: {_one_line(exc)}") from None
    if not isinstance(picked, pd.DataFrame):
        raise UsageFailure(f"--where {expression!r} did not select rows")
    return picked


# -- results, reports and exit codes --------------------------------------------------------


def build_report(result: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """The rows that were not sent, or were refused: the result's status and error
    columns, then the source columns as read (a source column that shares a name with a
    result column keeps its name; the result's is prefixed `spotzee_`). `row` is the
    source row label (0 is the first data line)."""
    attention = needs_attention(result)
    bad = result.index[attention]
    columns = [c for c in _REPORT_COLUMNS if c in result.columns]
    part = result.loc[attention, columns]
    part = part.rename(columns={c: f"spotzee_{c}" for c in columns if c in source.columns})
    src = source.loc[attention]
    report = pd.concat([part.reset_index(drop=True), src.reset_index(drop=True)], axis=1)
    report.insert(0, "spotzee_row" if "row" in report.columns else "row", list(bad))
    return report


def write_report(report: pd.DataFrame, path: Path) -> None:
    out = report.copy()
    for column in out.columns:
        if out[column].dtype == object:
            # Lists and dicts as JSON text, so CSV and Parquet both take them.
            out[column] = out[column].map(
                lambda v: json.dumps(v, default=str) if isinstance(v, (list, dict)) else v
            )
    try:
        if path.suffix.lower() == ".parquet":
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
        click.echo(f"report: {len(rows):,} row(s) not sent written to {report}", err=True)
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
        "locale, first_name, last_name or data.<key>; COLUMN= leaves it out. Repeatable. "
        "Columns named like a field map themselves.",
    ),
    click.option(
        "--mapping",
        "mapping_file",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help='A JSON file {"column": "field", ...} (null leaves a column out); '
        "--map entries override it.",
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
_duplicates_option = click.option(
    "--duplicates",
    type=click.Choice(["reject", "first", "last"]),
    default="reject",
    show_default=True,
    help="Rows sharing an external_id: reject holds back those that differ (copies are "
    "sent once); first or last sends that one and skips the others.",
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


def _input_file(func: F) -> F:
    """FILE and the --encoding it is read with."""
    return _file_argument(_encoding_option(func))


_report_option = click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the rows that were not sent, with their errors and source columns, "
    "to this .csv or .parquet file.",
)


@cli.command(epilog=_ENV_HELP)
@_input_file
@_with(_mapping_options)
@click.option(
    "--mode",
    type=click.Choice(["sync", "async"]),
    default="sync",
    show_default=True,
    help="sync: POST /users/batch with a result per row. async: PATCH /users; rows are "
    "queued with no per-row outcome.",
)
@click.option(
    "--nulls",
    type=click.Choice(["omit", "clear"]),
    default="omit",
    show_default=True,
    help="omit: an empty cell leaves that field as it is in Spotzee. clear: it sends null "
    "and erases the stored value.",
)
@_region_option
@_duplicates_option
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
    dry_run: bool,
    preview: int,
    report: Path | None,
    batch_size: int,
    progress: bool | None,
    encoding: str,
) -> None:
    """Upsert the contacts in FILE (.csv, .tsv, .parquet, .jsonl or .json) as Spotzee users.

    Prints how many rows were upserted and the rows that were not, grouped by reason.
    Every other column goes to the user's custom `data`. Re-running the same file is
    safe: each batch carries an idempotency key derived from its content.
    """
    from ._upsert import upsert as upsert_frame

    _check_report_path(report)
    mapping = _parse_map(maps, mapping_file)
    source = read_frame(file, _text_columns_for(mapping), encoding=encoding)
    if preview:
        shown = payload_preview(
            source,
            mapping or None,
            n=preview,
            default_region=default_region,
            nulls=nulls,
            duplicates=duplicates,
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
            dry_run=dry_run,
            batch_size=batch_size,
            progress=progress,
            client=client,
        )
    _exit(_finish(result, source, report))


_TABLE_COLUMNS = {
    "campaigns": ["id", "name", "type", "channel", "state", "delivery_sent", "delivery_total"],
    "journeys": ["id", "name", "status", "tags", "stats_entrance", "updated_at"],
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
        from . import _listing

        lister = getattr(_listing, name)
        frame = lister(client=_state().client(), **({"q": search} if search else {}))
        print_frame(frame, fmt, _TABLE_COLUMNS[name])

    command.__doc__ = f"List every {what} of the project (all pages)."
    return cli.command(name, epilog=_ENV_HELP)(command)


campaigns_command = _listing_command("campaigns", "campaign")
journeys_command = _listing_command("journeys", "journey")

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
    encoding: str,
    **extra: Any,
) -> None:
    from . import _trigger as trigger_module

    _check_report_path(report)
    mapping = _parse_map(maps, mapping_file)
    events = _split(event_columns)
    attrs = _split(attributes)
    source = read_frame(file, _text_columns_for(mapping), encoding=encoding)
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


@cli.command(epilog=_ENV_HELP)
@_progress_option
def demo(progress: bool | None) -> None:
    """Run the demo against the embedded sandbox (no key, no network).

    Imports a bundled file of 200 messy contacts, prints the result and the rows that
    failed and why, then lists the campaigns and triggers one for a filtered slice.
    """
    from ._demo import run_demo

    _exit(run_demo(progress=progress))


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
