"""`read_file`: a contact file (CSV, TSV, Parquet, JSON lines, a JSON array, an Excel
workbook) as a frame, losing nothing on the way.

`pd.read_csv` reads `0000001` as the integer 1 and a postcode `0800` as 800, so an upsert
would send a different id than the file holds. Here only empty fields are missing values
(a name "NA" or "None" stays text); the columns that feed first-class fields (the ones
`mapping=` and the naming rules send as `external_id`, `email`, `phone`, …) are text in
every format; any other column becomes a number or a boolean only where every value reads
back exactly as written, so `0800`, `00123` and 18-digit ids stay as written, and whole
numbers with blanks stay whole (`Int64`), never floats. A CSV's separator (`,` `;` `|` or
tab) is taken from its header line, a UTF-8 byte-order mark is never part of a column
name, CR, LF and CRLF line ends all work, and rows that end in an extra separator (as
spreadsheets write them) do not shift columns. The command line reads its files here.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import io
import lzma
import os
import re
import zipfile
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import orjson
import pandas as pd

from . import _spelling as spell
from ._errors import ValidationError
from ._listing import nullable_column, records_frame, to_int
from ._mapping import MappingSpec, resolve_mapping

__all__ = ["COMPRESSED", "FORMATS", "ColumnKind", "read_file"]

#: File suffix → format (a compressed text file also takes one of `COMPRESSED` after it).
FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".xlsx": "excel",
    ".xlsm": "excel",
}
COMPRESSED = (".gz", ".bz2", ".zip", ".xz", ".zst")
# What the index of `line_numbers=True` counts, per format.
_POSITION_NAME = {
    "csv": "line",
    "tsv": "line",
    "jsonl": "line",
    "excel": "row",
    "parquet": "record",
    "json": "record",
}

_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_DECIMAL = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
_BOOLEANS = {"true": True, "false": False}
# An Excel number format of zeros only ("0000000"): the cell shows its integer padded.
_ZERO_PADDED = re.compile(r"0+")


def file_format(path: Path) -> str:
    """The format a file's suffix names (`report.csv.gz` is a CSV); ValidationError if none."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED and len(suffixes) > 1:
        suffixes = suffixes[:-1]
    kind = FORMATS.get(suffixes[-1] if suffixes else "")
    if kind is None:
        raise ValidationError(
            f"cannot tell the format of {path.name!r} from its extension; use one of "
            ".csv, .tsv, .parquet, .jsonl (JSON lines), .json (an array, or lines) or .xlsx"
        )
    return kind


def read_file(
    path: str | os.PathLike[str],
    mapping: MappingSpec | None = None,
    *,
    text_columns: Iterable[Hashable] = (),
    encoding: str = "utf-8",
    sheet_name: str | int = 0,
    line_numbers: bool = False,
) -> pd.DataFrame:
    """Read a contacts file as `upsert` and the triggers should see it: nothing lost.

    `path` ends in `.csv`, `.tsv` (either may be compressed: `.gz`, `.bz2`, `.zip`, `.xz`,
    `.zst`), `.parquet`, `.jsonl`/`.ndjson`, `.json` (an array of objects, or lines) or
    `.xlsx` (needs openpyxl: `pip install "spotzee-frames[excel]"`).

    Columns that feed first-class fields under `mapping` (the same `mapping` you pass to
    `upsert`; None uses the naming rules alone) come back as text, as do `text_columns`.
    Every other column is a number (`Int64`, `Float64`) or a boolean only where all its
    values read back exactly as written, and text otherwise: `0800` and `00123` stay as
    written. Only empty fields are missing. In a workbook, a number shown with leading
    zeros (a `0000000` number format) is read as the text the sheet shows.

    `encoding` is the text encoding of a CSV, TSV or JSON file (a UTF-8 byte-order mark is
    always understood); `sheet_name` picks a workbook's sheet (by name or 0-based
    position). `line_numbers=True` indexes the rows by where they are in the file, as the
    command line does, so messages and reports name the line an editor shows: the
    `line` of a CSV, TSV or JSON-lines file (the header is line 1), the `row` of a sheet,
    the `record` (from 1) of a JSON array or Parquet file.

    Raises `ValidationError` when the file cannot be read as its format (the message says
    why, e.g. which encoding to try); a missing file raises `FileNotFoundError`.
    """
    file = Path(path)
    kind = file_format(file)
    extra = list(text_columns)

    def pick(header: Sequence[Hashable]) -> set[Hashable]:
        return {*_first_class_columns(header, mapping), *extra}

    try:
        return _read(file, kind, pick, encoding, sheet_name, line_numbers)
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"cannot read {file}: it is not {encoding} text ({_one_line(exc)}); pass "
            f"{spell.option('encoding')} (e.g. {spell.option('encoding', 'cp1252')})"
        ) from None
    except LookupError:
        raise ValidationError(f"unknown {spell.option('encoding', encoding)}") from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (OSError, ValueError, ImportError, EOFError, zipfile.BadZipFile) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise ValidationError(f"cannot read {file}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _first_class_columns(header: Sequence[Hashable], mapping: MappingSpec | None) -> list[Hashable]:
    """The columns `mapping` and the naming rules send as first-class fields."""
    try:
        resolved = resolve_mapping(header, mapping)
    except ValidationError:
        return []  # the call that sends reports the problem with its full message
    return list(dict.fromkeys(resolved.fields.values()))


def _read(
    path: Path,
    kind: str,
    pick: Callable[[Sequence[Hashable]], set[Hashable]],
    encoding: str,
    sheet_name: str | int,
    line_numbers: bool,
) -> pd.DataFrame:
    codec = encoding
    if kind not in ("parquet", "excel"):
        codecs.lookup(encoding)  # an unknown codec is a LookupError before anything is read
        if _has_utf8_bom(path) or _is_utf8(encoding):
            codec = "utf-8-sig"  # the same as UTF-8, and a byte-order mark is not a column
    positions: np.ndarray | None = None
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
        frame = _exact_types(frame, pick(list(frame.columns)))
        if line_numbers:
            positions = _csv_lines(path, codec, sep, len(frame))
            if positions is None:  # the line count did not agree: number the records
                kind = "json"
    elif kind == "parquet":
        frame = pd.read_parquet(path, dtype_backend="numpy_nullable")
        frame = _ids_as_text(frame, pick(list(frame.columns)))
    elif kind == "excel":
        frame, rows = _read_excel(path, sheet_name, pick)
        positions = rows if line_numbers else None
    else:
        frame, lines = _read_json(path, codec)
        frame = _ids_as_text(frame, pick(list(frame.columns)))
        if lines is not None:
            kind = "jsonl"
            positions = lines if line_numbers else None
    if line_numbers:
        if positions is None:
            positions = np.arange(1, len(frame) + 1)
        frame.index = pd.Index(positions, dtype="int64", name=_POSITION_NAME[kind])
    return frame


# -- text files ------------------------------------------------------------------------------


def _is_utf8(encoding: str) -> bool:
    return encoding.lower().replace("-", "").replace("_", "") in ("utf8", "utf8sig")


def _has_utf8_bom(path: Path) -> bool:
    if path.suffix.lower() in COMPRESSED:
        with _open_binary(path) as f:
            return f.read(3) == b"\xef\xbb\xbf"
    with path.open("rb") as f:
        return f.read(3) == b"\xef\xbb\xbf"


@contextmanager
def _open_binary(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed as its last suffix says (a .zip holds one file)."""
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            if len(names) != 1:
                raise ValueError(f"a .zip must hold exactly one file, this one holds {len(names)}")
            with archive.open(names[0]) as f:
                yield f
        return
    if suffix == ".zst":
        import zstandard  # pandas reads .zst with it too

        with path.open("rb") as raw, zstandard.ZstdDecompressor().stream_reader(raw) as f:
            yield f
        return
    opener: Any = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(suffix, open)
    with opener(path, "rb") as f:
        yield f


@contextmanager
def _open_text(path: Path, codec: str) -> Iterator[IO[str]]:
    # newline="": CR, LF and CRLF all end a line, and line ends inside quotes stay as written.
    with _open_binary(path) as raw:
        yield io.TextIOWrapper(raw, encoding=codec, newline="")


def _separator(path: Path, codec: str) -> str:
    """The CSV separator its header line uses most: `,` unless `;`, `|` or tab win."""
    header = pd.read_csv(path, sep="\x01", nrows=0, encoding=codec, dtype=str).columns
    line = str(header[0]) if len(header) else ""
    counts = {sep: line.count(sep) for sep in (",", ";", "\t", "|")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] > counts[","] else ","


def _blank(record: list[str]) -> bool:
    """A line pandas skips: empty, or white space alone."""
    return not record or (len(record) == 1 and not record[0].strip())


def _csv_lines(path: Path, codec: str, sep: str, rows: int) -> np.ndarray | None:
    """The line each data record starts on (the header's is 1 when nothing precedes it),
    counting the lines inside quoted fields; None when the count of records differs from
    what pandas read, so no line number is ever a guess."""
    starts: list[int] = []
    with _open_text(path, codec) as f:
        reader = csv.reader(f, delimiter=sep)
        header_seen = False
        while True:
            before = reader.line_num
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error:
                return None
            if _blank(record):
                continue
            if header_seen:
                starts.append(before + 1)
            header_seen = True
    return np.asarray(starts, dtype=np.int64) if len(starts) == rows else None


def _exact_types(frame: pd.DataFrame, text: set[Hashable]) -> pd.DataFrame:
    """Text columns as read; others typed only where the text reads back exactly."""
    out = {}
    for column in frame.columns:
        values = frame[column]
        if column in text:
            out[column] = values.astype("string")
            continue
        kind = ColumnKind()
        kind.observe(values)
        out[column] = kind.apply(values)
    return pd.DataFrame(out, index=frame.index)


@dataclass
class ColumnKind:
    """What the values of a text column allow under the lossless rules, over all the
    parts of it seen (`observe`), and the column typed so (`apply`): an integer column
    (`Int64`, every value within 64 bits), a decimal one (`Float64`), a boolean one, or
    the text as read. A column read in chunks is observed whole first, so that every
    chunk is typed alike (`0800` in one chunk keeps `800` in another text too)."""

    present: bool = False
    integer: bool = True
    fits: bool = True
    decimal: bool = True
    boolean: bool = True

    def observe(self, values: pd.Series) -> None:
        present = values.dropna()
        if not len(present):
            return
        self.present = True
        # An integer is a decimal and no boolean; a decimal is no boolean: one regex each.
        if self.integer and present.str.fullmatch(_INTEGER).all():
            self.boolean = False
            self.fits = self.fits and _fit_int64(present)
            return
        self.integer = False
        if self.decimal and present.str.fullmatch(_DECIMAL).all():
            self.boolean = False
            return
        self.decimal = False
        self.boolean = self.boolean and bool(present.str.lower().isin(list(_BOOLEANS)).all())

    @property
    def kind(self) -> str:
        if not self.present:
            return "text"
        if self.integer:
            return "integer" if self.fits else "text"
        if self.decimal:
            return "decimal"
        return "boolean" if self.boolean else "text"

    def apply(self, values: pd.Series) -> pd.Series:
        kind = self.kind
        if kind == "integer":
            ints = _exact_ints(values)
            if ints is not None:
                return ints
        elif kind == "decimal":
            return values.astype("Float64")
        elif kind == "boolean":
            return values.str.lower().map(_BOOLEANS).astype("boolean")
        return values


def _fit_int64(texts: pd.Series) -> bool:
    """Whether every integer text fits in 64 bits (by its count of digits first)."""
    negative = texts.str.startswith("-").to_numpy(dtype=bool)
    digits = texts.str.lstrip("-")
    lengths = digits.str.len().to_numpy()
    if (lengths < 19).all():
        return True
    if (lengths > 19).any():
        return False
    long = lengths == 19
    limit = np.where(negative[long], "9223372036854775808", "9223372036854775807")
    return bool((digits[long].to_numpy(dtype=object) <= limit).all())


def _exact_ints(values: pd.Series) -> pd.Series | None:
    """Integer texts as `Int64` when every one fits in 64 bits, else None."""
    objects = pd.Series([int(v) if isinstance(v, str) else None for v in values], dtype=object)
    ints = to_int(objects)
    return ints.set_axis(values.index) if isinstance(ints.dtype, pd.Int64Dtype) else None


def _ids_as_text(frame: pd.DataFrame, text: set[Hashable]) -> pd.DataFrame:
    """Columns of `text` that hold integers (or integers and strings) as their decimal
    text: an id stored as a JSON or Parquet number is exact, and sending its text is what
    upsert would do anyway. Anything else (floats, booleans) is left for validation."""
    out = frame.copy(deep=False)
    for column in frame.columns:
        if column not in text:
            continue
        values = frame[column]
        if pd.api.types.is_integer_dtype(values.dtype):
            out[column] = values.astype("string")
        elif values.dtype == object:
            present = values.dropna()
            if all(isinstance(v, str | int) and not isinstance(v, bool) for v in present):
                out[column] = pd.Series(
                    [None if v is None else str(v) for v in values],
                    index=values.index,
                    dtype="string",
                )
    return out


def _read_json(path: Path, codec: str) -> tuple[pd.DataFrame, np.ndarray | None]:
    """JSON lines, or one JSON array of objects; each column with the nullable dtype that
    holds its values exactly (see `webhooks_to_frame`). For JSON lines, also the line of
    each record."""
    with _open_text(path, codec) as f:
        text = f.read()
    stripped = text.lstrip()
    lines: np.ndarray | None = None
    if stripped.startswith("["):
        records = orjson.loads(stripped)
    else:
        # Only CR and LF end a JSON line (U+2028 may stand raw inside a string).
        physical = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        numbered = [(i + 1, line) for i, line in enumerate(physical) if line.strip()]
        records = [orjson.loads(line) for _, line in numbered]
        lines = np.asarray([i for i, _ in numbered], dtype=np.int64)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("expected JSON objects, one per line or in one array")
    frame = records_frame(records)
    typed = pd.DataFrame({k: nullable_column(frame[k]) for k in frame.columns}, index=frame.index)
    return typed, lines


# -- workbooks ---------------------------------------------------------------------------------


def _cell_value(value: Any, number_format: str | None) -> Any:
    """A cell as the sheet shows it where that matters: an integer in a zero-padded
    number format as its padded text."""
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and number_format
        and _ZERO_PADDED.fullmatch(number_format)
        and float(value).is_integer()
    ):
        return str(int(value)).zfill(len(number_format))
    if isinstance(value, str) and not value:
        return None  # an empty text cell is an empty field, as in a CSV
    return value


def _as_text(value: Any) -> Any:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a sheet stores every number as a float
    return str(value)


def _unique_names(names: list[Any]) -> list[Hashable]:
    """Header cells as column labels, the way `pd.read_csv` makes them: a blank one is
    `Unnamed: <i>`, a repeat of `a` is `a.1`."""
    out: list[Hashable] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        label = f"Unnamed: {i}" if name is None or str(name).strip() == "" else str(name)
        if label in seen:
            seen[label] += 1
            label = f"{label}.{seen[label]}"
        seen.setdefault(label, 0)
        out.append(label)
    return out


def _read_excel(
    path: Path, sheet_name: str | int, pick: Callable[[Sequence[Hashable]], set[Hashable]]
) -> tuple[pd.DataFrame, np.ndarray]:
    try:
        import openpyxl
    except ImportError:
        raise ValidationError(
            f"reading {path.name} needs openpyxl: pip install 'spotzee-frames[excel]'"
        ) from None
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if isinstance(sheet_name, str):
            if sheet_name not in book.sheetnames:
                raise ValidationError(
                    f"{path.name} has no sheet {sheet_name!r}; its sheets are {book.sheetnames!r}"
                )
            sheet = book[sheet_name]
        else:
            if not -len(book.worksheets) <= sheet_name < len(book.worksheets):
                raise ValidationError(
                    f"{path.name} has {len(book.worksheets)} sheet(s); no sheet {sheet_name}"
                )
            sheet = book.worksheets[sheet_name]
        header: list[Any] | None = None
        records: list[list[Any]] = []
        rows: list[int] = []
        for cells in sheet.iter_rows():
            values = [_cell_value(c.value, getattr(c, "number_format", None)) for c in cells]
            if all(v is None for v in values):
                continue  # a blank row, as pandas skips blank lines
            if header is None:
                header = values
                continue
            records.append(values)
            rows.append(int(cells[0].row))
    finally:
        book.close()
    if header is None:
        return pd.DataFrame(), np.zeros(0, dtype=np.int64)
    width = max([len(header), *(len(r) for r in records)])
    # Trailing columns with neither a header nor a value are a sheet's formatting.
    while (
        width
        and (len(header) < width or header[width - 1] is None)
        and all(len(r) < width or r[width - 1] is None for r in records)
    ):
        width -= 1
    names = _unique_names([header[i] if i < len(header) else None for i in range(width)])
    text = pick(names)
    columns: dict[Hashable, pd.Series] = {}
    for i, name in enumerate(names):
        cells = [r[i] if i < len(r) else None for r in records]
        raw = pd.Series(cells, dtype=object)
        present = [v for v in cells if v is not None]
        mixed = any(isinstance(v, str) for v in present) and all(
            isinstance(v, str | int | float) and not isinstance(v, bool) for v in present
        )
        # An id column, or text and numbers mixed (postcodes typed in as numbers beside
        # ones typed as text): what the sheet shows, as text.
        if name in text or mixed:
            columns[name] = pd.Series([_as_text(v) for v in cells], dtype="string")
        elif len(raw.dropna()) and all(hasattr(v, "year") for v in raw.dropna()):
            columns[name] = pd.to_datetime(raw)
        else:
            columns[name] = nullable_column(raw)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))
    return frame, np.asarray(rows, dtype=np.int64)
