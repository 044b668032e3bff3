"""Sources larger than memory: `upsert_dataset` reads a Parquet file or folder, a CSV, or
any iterable of frames a chunk at a time, sends every chunk through the one runner (one
stream for all of them, so sending never pauses between chunks), and writes the result
rows to a Parquet file as chunks finish, each with a stable row id (`file`, `row`).

What holds across chunks exactly as it holds for one frame:

- **Types.** A CSV is read with `read_file`'s lossless rules (only empty fields are
  missing; first-class columns are text; a column is a number or a boolean only where
  all its values read back exactly). Those rules look at a whole column, so a first pass
  decides each column's type over the whole file and every chunk is read with it: a
  `0800` in one chunk and `800` in another are text in both.
- **Duplicates.** The duplicate policy (`duplicates=`) needs every row of an id. The
  first pass hashes each row's normalised `external_id` and `anonymous_id` (8 bytes a
  row); rows whose id occurs more than once anywhere in the source are held out of their
  chunk and sent together at the end as one frame, so `reject`, `first` and `last` decide
  exactly as they would on the whole source (messages name rows by their row id). Memory
  then grows with the rows that share ids, not with the source.
- **The ledger**, the result statuses and the summary: the same as for `upsert`.

A one-shot iterator of frames cannot be read twice, so its frames are kept in a
temporary folder (pickled, exact dtypes) during the first pass. Other files `read_file`
reads (JSON, JSON lines, `.xlsx`, compressed text) are read whole.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import contextvars
import os
import pickle
import queue
import tempfile
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._encoding import BigIntPolicy, NullPolicy
from ._errors import (
    AuthenticationError,
    Interrupted,
    MissingRouteError,
    PermissionDeniedError,
    ValidationError,
)
from ._ledger import Ledger, Session, check_ledger, open_session
from ._mapping import ID_FIELDS, MappingSpec, resolve_mapping
from ._normalize import _arrow_text, _is_stringish, normalize_field
from ._prepare import DuplicatePolicy, InvalidFieldPolicy, prepare
from ._progress import ProgressLike, Reporter, make_reporter
from ._read import (
    COMPRESSED,
    ColumnKind,
    _first_class_columns,
    _has_utf8_bom,
    _is_utf8,
    _separator,
    file_format,
    read_file,
)
from ._results import ResultBuilder
from ._runner import NOTES_ATTR, InOrder, Part, admit, drive, result_frame
from ._summary import Summary, SummaryTally
from ._upsert import Mode, _check_options, plan_upsert

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["DEFAULT_CHUNK_ROWS", "upsert_dataset"]

DEFAULT_CHUNK_ROWS = 100_000
#: The stable row id of every result row: the source file (None for frames) and the row's
#: 0-based position in it.
ROW_ID = ("file", "row")
Source = str | os.PathLike[str] | pd.DataFrame | Iterable[pd.DataFrame]
ChunkCallback = Callable[[pd.DataFrame, pd.DataFrame], Any]


@dataclass
class _Chunk:
    """Rows of the source, indexed by their row id, and where they start in it."""

    frame: pd.DataFrame
    offset: int  # position of the first row among all the source's rows


# -- the first pass: which ids repeat ---------------------------------------------------------


@dataclass
class _Ids:
    """Per source row, a hash of its normalised ids (0: none); and those that repeat."""

    fields: dict[str, Hashable]  # id field -> source column
    hashes: dict[str, list[np.ndarray]] = field(default_factory=dict)
    repeated: dict[str, np.ndarray] = field(default_factory=dict)
    rows: int = 0

    def of(self, frame: pd.DataFrame) -> dict[str, np.ndarray]:
        """The hashes of one chunk's rows, per id field (pure: safe on a helper thread)."""
        return {
            name: _id_hashes(frame[column], name, column) for name, column in self.fields.items()
        }

    def add(self, hashes: dict[str, np.ndarray], rows: int) -> None:
        """The next chunk's hashes (`of`), in source order."""
        for name, values in hashes.items():
            self.hashes.setdefault(name, []).append(values)
        self.rows += rows

    def finish(self) -> None:
        for name, parts in self.hashes.items():
            every = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
            self.hashes[name] = [every]
            present = every[every != 0]
            present.sort()  # in place: 8 bytes a row more, not 16
            again = present[1:][present[1:] == present[:-1]]
            del present
            self.repeated[name] = np.unique(again)

    def shared(self, offset: int, n: int) -> np.ndarray:
        """Which rows of `offset:offset+n` have an id that another row has too."""
        out = np.zeros(n, dtype=bool)
        for name, repeated in self.repeated.items():
            if len(repeated):
                out |= np.isin(self.hashes[name][0][offset : offset + n], repeated)
        return out


def _id_hashes(values: Any, name: str, column: Hashable) -> np.ndarray:
    """A 64-bit hash of each row's normalised id (0: the row has none); `values` is a
    pandas Series or an Arrow column.

    Text ids are normalised as they are (a blank one is none) and integers are their
    decimal text, so both are hashed straight from Arrow's bytes; anything else goes
    through `normalize_field` first. Equal ids always hash alike; a collision only makes
    a row wait for the end with the duplicates, which decides it exactly anyway."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if isinstance(values, pa.ChunkedArray | pa.Array):
        kind = values.type
        if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind):
            text = pc.cast(values, pa.large_string())
        else:
            return _id_hashes(values.to_pandas(types_mapper=_nullable), name, column)
    elif _is_stringish(values):
        text = _arrow_text(values)
    elif pd.api.types.is_integer_dtype(values.dtype) and not pd.api.types.is_bool_dtype(
        values.dtype
    ):
        text = pc.cast(pa.array(values.array), pa.large_string())
    else:
        result = normalize_field(name, values, column=column)
        objects = np.asarray(result.values, dtype=object).copy()
        objects[result.missing | result.invalid] = None
        text = pa.array(objects, type=pa.large_string(), from_pandas=True)
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    hashes = _byte_hashes(text)  # an empty text is 0 already
    none = pc.or_(pc.is_null(text), pc.fill_null(pc.utf8_is_space(text), False))
    hashes[np.asarray(none.to_numpy(zero_copy_only=False), dtype=bool)] = 0
    return hashes


_POWERS = np.ones(1, dtype=np.uint64)
_PRIME = np.uint64(0x100000001B3)  # FNV's 64-bit prime: a polynomial over the bytes


def _byte_hashes(text: Any) -> np.ndarray:
    """A polynomial hash (mod 2**64) of each string's UTF-8 bytes, mixed with its length;
    vectorised over Arrow's buffers (offsets and data), so no Python string is made."""
    global _POWERS
    n = len(text)
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64, count=n + 1, offset=text.offset * 8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    out = np.zeros(n, dtype=np.uint64)
    total = int(offsets[-1] - offsets[0])
    if not total:
        return out
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    longest = int(lengths.max())
    if len(_POWERS) < longest:
        powers = np.cumprod(np.full(longest - 1, _PRIME, dtype=np.uint64))  # wraps: mod 2**64
        _POWERS = np.concatenate([np.ones(1, dtype=np.uint64), powers])
    local = starts - offsets[0]
    position = np.arange(total, dtype=np.int64) - np.repeat(local, lengths)
    weighted = data.astype(np.uint64) * _POWERS[position]
    filled = lengths > 0
    out[filled] = np.add.reduceat(weighted, local[filled])
    mixed = out * _PRIME + lengths.astype(np.uint64)
    mixed ^= mixed >> np.uint64(29)
    hashed: np.ndarray = np.where(mixed == 0, np.uint64(1), mixed)  # 0 means "no id"
    hashed[lengths == 0] = 0  # nor has an empty text one
    return hashed


# -- sources ----------------------------------------------------------------------------------


class _Frames:
    """An iterable of frames: re-read from the iterable, or from the temporary copies of
    a one-shot iterator's frames."""

    def __init__(self, frames: Iterable[pd.DataFrame], spill: Path) -> None:
        self._frames = frames
        self._spill = spill
        self._spilled: list[Path] | None = None
        if iter(frames) is frames:  # one-shot: keep a copy of each frame as it is read
            self._spilled = []

    def header(self) -> list[Hashable] | None:
        return None  # known from the first frame

    def first_pass(self, columns: list[Hashable]) -> Iterator[pd.DataFrame]:
        """Every frame (whole: its columns are known only once it is read)."""
        for number, frame in enumerate(self._frames):
            if not isinstance(frame, pd.DataFrame):
                raise ValidationError(
                    f"the source's item {number} is a {type(frame).__name__}, not a DataFrame"
                )
            if self._spilled is not None:
                path = self._spill / f"frame-{number}.pickle"
                with path.open("wb") as f:
                    pickle.dump(frame, f, protocol=pickle.HIGHEST_PROTOCOL)
                self._spilled.append(path)
            yield frame

    def chunks(self) -> Iterator[_Chunk]:
        offset = 0
        spilled = self._spilled
        frames = self._frames if spilled is None else (_unpickle(p) for p in spilled)
        for frame in frames:
            labelled = frame.set_axis(pd.RangeIndex(offset, offset + len(frame), name="row"))
            yield _Chunk(labelled, offset)
            offset += len(frame)


def _unpickle(path: Path) -> pd.DataFrame:
    with path.open("rb") as f:
        frame: pd.DataFrame = pickle.load(f)  # our own file, written above
    path.unlink()
    return frame


_ARROW_NULLABLE: dict[Any, Any] = {}


def _nullable(arrow_type: Any) -> Any:
    """The pandas dtype `read_parquet(dtype_backend="numpy_nullable")` gives an Arrow type."""
    if not _ARROW_NULLABLE:
        import pyarrow as pa

        _ARROW_NULLABLE.update(
            {
                pa.int8(): pd.Int8Dtype(),
                pa.int16(): pd.Int16Dtype(),
                pa.int32(): pd.Int32Dtype(),
                pa.int64(): pd.Int64Dtype(),
                pa.uint8(): pd.UInt8Dtype(),
                pa.uint16(): pd.UInt16Dtype(),
                pa.uint32(): pd.UInt32Dtype(),
                pa.uint64(): pd.UInt64Dtype(),
                pa.bool_(): pd.BooleanDtype(),
                pa.float32(): pd.Float32Dtype(),
                pa.float64(): pd.Float64Dtype(),
                pa.string(): pd.StringDtype(),
                pa.large_string(): pd.StringDtype(),
            }
        )
    return _ARROW_NULLABLE.get(arrow_type)


def _ahead(items: Iterator[Any]) -> Iterator[Any]:
    """`items`, each made on a helper thread while the one before is used: the next chunk
    is read (Arrow decodes without the GIL) while this one is prepared. One item ahead at
    most, so memory holds one chunk more, not the source."""
    slot: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slot.put((True, item), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slot.put((False, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slot.put((False, exc))

    worker = threading.Thread(target=produce, name="spotzee-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            more, item = slot.get()
            if not more:
                if item is not None:
                    raise item
                return
            yield item
    finally:
        stop.set()
        with contextlib.suppress(queue.Empty):
            slot.get_nowait()  # a producer waiting on a full slot sees the stop
        worker.join(timeout=10)


def _conform(table: Any, schema: Any) -> Any:
    """`table` in `schema`: columns in its order, missing ones null, types cast (the files
    of one folder may differ a little; every chunk must look the same)."""
    import pyarrow as pa

    if table.schema.equals(schema):
        return table
    columns = [
        table.column(f.name).cast(f.type)
        if f.name in table.column_names
        else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


class _Parquet:
    """A Parquet file, or a folder of them (files in name order), in record batches."""

    def __init__(self, path: Path, chunk_rows: int) -> None:
        import pyarrow.dataset as ds

        try:
            self._dataset = ds.dataset(path, format="parquet")
        except (OSError, ValueError) as exc:
            raise ValidationError(f"cannot read {str(path)!r} as Parquet: {exc}") from None
        self._root = path
        self._chunk_rows = chunk_rows
        self._files = sorted(self._dataset.files)
        self._several = path.is_dir()

    def header(self) -> list[Hashable]:
        return list(self._dataset.schema.names)

    def _name(self, file: str) -> str:
        return os.path.relpath(file, self._root) if self._several else Path(file).name

    def _batches(self, columns: list[str] | None) -> Iterator[tuple[str, Any]]:
        """Tables of about `chunk_rows` rows, file by file, in the dataset's schema.

        `ParquetFile.iter_batches` reads a row group at a time (a dataset scanner reads
        ahead of a slow consumer without bound), and memory is the point here."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = self._dataset.schema
        wanted = schema if columns is None else pa.schema([schema.field(c) for c in columns])
        for file in self._files:
            try:
                # pre_buffer would keep every row group read so far in memory
                with pq.ParquetFile(file, pre_buffer=False) as parquet:
                    have = set(parquet.schema_arrow.names)
                    present = [name for name in wanted.names if name in have]
                    pending: list[Any] = []
                    rows = 0
                    for batch in parquet.iter_batches(batch_size=self._chunk_rows, columns=present):
                        pending.append(batch)
                        rows += batch.num_rows
                        if rows >= self._chunk_rows:
                            yield file, _conform(pa.Table.from_batches(pending), wanted)
                            pending, rows = [], 0
                    if pending:
                        yield file, _conform(pa.Table.from_batches(pending), wanted)
            except (OSError, pa.ArrowException) as exc:  # the first pass meets it: nothing sent
                raise ValidationError(f"cannot read {file!r} as Parquet: {exc}") from None

    def first_pass(self, columns: list[Hashable]) -> Iterator[Any]:
        """The id columns, as Arrow tables (hashed from Arrow's buffers, no pandas)."""
        wanted = [str(c) for c in columns]
        for _, table in self._batches(wanted):
            yield table

    def chunks(self) -> Iterator[_Chunk]:
        offset = 0
        at: dict[str, int] = {}
        for file, frame in _ahead(
            (file, table.to_pandas(types_mapper=_nullable)) for file, table in self._batches(None)
        ):
            start = at.get(file, 0)
            rows = np.arange(start, start + len(frame), dtype=np.int64)
            at[file] = start + len(frame)
            if self._several:
                index: pd.Index = pd.MultiIndex.from_arrays(
                    [np.full(len(frame), self._name(file), dtype=object), rows], names=ROW_ID
                )
            else:
                index = pd.Index(rows, name="row")
            yield _Chunk(frame.set_axis(index), offset)
            offset += len(frame)

    @property
    def file_label(self) -> str | None:
        """The `file` of every row: the file's name, or None when rows name their own."""
        if self._several or not self._files:
            return None
        return self._name(self._files[0])


class _Csv:
    """A CSV or TSV read in chunks with `read_file`'s lossless rules, each column typed
    over the whole file (the first pass observes every chunk: `ColumnKind`)."""

    def __init__(
        self,
        path: Path,
        kind: str,
        mapping: MappingSpec | None,
        chunk_rows: int,
        encoding: str,
    ) -> None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValidationError(f"unknown encoding {encoding!r}") from None
        self._path = path
        self._codec = "utf-8-sig" if _has_utf8_bom(path) or _is_utf8(encoding) else encoding
        self._sep = "\t" if kind == "tsv" else _separator(path, self._codec)
        self._chunk_rows = chunk_rows
        self._header: list[Hashable] = list(self._reader(nrows=0).columns)
        self._text = set(_first_class_columns(self._header, mapping))
        self._kinds = {c: ColumnKind() for c in self._header if c not in self._text}

    def _reader(self, **options: Any) -> Any:
        return pd.read_csv(
            self._path,
            sep=self._sep,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            encoding=self._codec,
            index_col=False,
            **options,
        )

    def header(self) -> list[Hashable]:
        return self._header

    def first_pass(self, columns: list[Hashable]) -> Iterator[pd.DataFrame]:
        with self._reader(chunksize=self._chunk_rows) as reader:
            for chunk in reader:
                for column, kind in self._kinds.items():
                    kind.observe(chunk[column])
                yield self._typed(chunk[list(columns)])

    def _typed(self, chunk: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                column: chunk[column].astype("string")
                if column in self._text
                else self._kinds[column].apply(chunk[column])
                for column in chunk.columns
            },
            index=chunk.index,
        )

    def chunks(self) -> Iterator[_Chunk]:
        offset = 0
        with self._reader(chunksize=self._chunk_rows) as reader:
            for chunk in reader:
                frame = self._typed(chunk)
                frame.index = pd.RangeIndex(offset, offset + len(frame), name="row")
                yield _Chunk(frame, offset)
                offset += len(frame)

    @property
    def file_label(self) -> str:
        return self._path.name


# -- the results file -------------------------------------------------------------------------


_FEW_VALUES = ("file", "status", "error_code", "error_field", "warning_code", "warning_field")


class _Results:
    """Result rows appended to a Parquet file as chunks finish, in source order.

    Written under a temporary name beside it and renamed when closed, so a results file
    that exists is whole (a run killed part-way leaves only the temporary one)."""

    def __init__(self, path: Path, file_label: str | None) -> None:
        self.path = path
        self._partial = path.with_name(f".{path.name}.partial")
        self._file_label = file_label
        self._writer: Any = None
        self._schema: Any = None
        self._encoding: Future[None] | None = None  # the chunk being written, meanwhile
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="spotzee-results")
        self.rows = 0

    def write(self, result: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        frame = result.reset_index()
        if "file" not in frame.columns:
            label, n = self._file_label, len(frame)
            every = pa.nulls(n, pa.large_string()) if label is None else pa.repeat(label, n)
            frame.insert(0, "file", pd.array(every.cast(pa.large_string()), dtype="string"))
        else:
            frame["file"] = frame["file"].astype("string")
        frame["row"] = frame["row"].astype("int64")
        if self._writer is None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            self._schema = table.schema
            # Dictionary pages only for the columns of few values (ids and request ids
            # would each fill a dictionary in vain): writes take about half the time.
            few = [c for c in _FEW_VALUES if c in table.column_names]
            self._writer = pq.ParquetWriter(self._partial, self._schema, use_dictionary=few)
        else:
            table = pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False)
        self._wait()
        # Parquet encodes and compresses without the GIL: on a thread of its own, while the
        # next chunk is prepared (one chunk at a time, so memory holds one more at most).
        self._encoding = self._thread.submit(self._writer.write_table, table)
        self.rows += len(frame)

    def _wait(self) -> None:
        if self._encoding is not None:
            encoding, self._encoding = self._encoding, None
            encoding.result()

    def close(self) -> None:
        try:
            self._wait()
        finally:
            self._thread.shutdown(wait=True)
        if self._writer is None:
            return
        self._writer.close()
        self._writer = None
        os.replace(self._partial, self.path)


def _check_results(results: Any) -> Path | None:
    if results is None:
        return None
    if isinstance(results, bytes) or not isinstance(results, str | os.PathLike):
        raise ValidationError(f"results must be a file path ending in .parquet, not {results!r}")
    path = Path(results)
    if path.suffix.lower() != ".parquet":
        raise ValidationError(
            f"results {str(path)!r}: the results file is Parquet; end it in .parquet"
        )
    if not path.parent.is_dir():
        raise ValidationError(f"results {str(path)!r}: folder {str(path.parent)!r} does not exist")
    if not os.access(path.parent, os.W_OK):
        raise ValidationError(f"results {str(path)!r}: folder {str(path.parent)!r} is not writable")
    return path


# -- the run ----------------------------------------------------------------------------------


@dataclass
class _Writer:
    """Finished parts, put in source order: into the results file, the summary and the
    caller's `on_chunk`; batch numbers made unique over the whole run."""

    results: _Results | None
    on_chunk: ChunkCallback | None
    tally: SummaryTally = field(default_factory=SummaryTally)
    batches: int = 0
    order: InOrder[tuple[pd.DataFrame, pd.DataFrame]] = field(init=False)

    def __post_init__(self) -> None:
        self.order = InOrder(self._write)

    def finish(self, number: int, result: pd.DataFrame, source: pd.DataFrame) -> None:
        self.order.done(number, (result, source))

    def _write(self, finished: tuple[pd.DataFrame, pd.DataFrame]) -> None:
        frame, rows = finished
        if "batch" in frame.columns and frame["batch"].notna().any():
            used = int(frame["batch"].max()) + 1
            frame["batch"] = frame["batch"] + self.batches
            self.batches += used
        if self.results is not None:
            self.results.write(frame)
        self.tally.add(frame)
        if self.on_chunk is not None:
            self.on_chunk(frame, rows)


def upsert_dataset(
    source: Source,
    mapping: MappingSpec | None = None,
    *,
    results: str | os.PathLike[str] | None = None,
    ledger: str | os.PathLike[str] | Ledger | None = None,
    only_changed: bool = False,
    mode: Mode = "sync",
    nulls: NullPolicy = "omit",
    default_region: str | None = None,
    dry_run: bool = False,
    batch_size: int = 100,
    progress: ProgressLike = None,
    client: Client | None = None,
    exclude: Iterable[Hashable] | Hashable | None = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "omit",
    big_ints: BigIntPolicy = "invalid",
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    encoding: str = "utf-8",
    on_chunk: ChunkCallback | None = None,
) -> Summary:
    """Upsert a source too large for memory, a chunk at a time; return the summary.

    Parameters
    ----------
    source
        A Parquet file or a folder of Parquet files (read in record batches), a `.csv` or
        `.tsv` file (read in chunks with `read_file`'s lossless rules, typed over the
        whole file), another file `read_file` reads (read whole), or any
        iterable of DataFrames (a one-shot iterator is kept in a temporary folder while
        it is read).
    results
        A `.parquet` file for the result rows (one per source row: `file`, `row` — the
        stable row id: the file, None for frames, and the 0-based row within it — then
        `upsert`'s result columns). Written as chunks finish; it appears whole when the
        run ends (or stops: then it holds every row read so far, `interrupted` where no
        outcome is known). None: no file, only the summary.
    chunk_rows
        Rows per chunk (default 100,000); memory grows with it.
    encoding
        Text encoding of a CSV or TSV source.
    on_chunk
        Called with each chunk's result frame (indexed by row id) and its source rows,
        in source order, as chunks finish.

    Every other option is `upsert`'s, ledger included; the duplicate policy holds across
    the whole source (see the module docstring). Returns the `Summary` of every row
    (`print()` it; `.counts`, `.errors`, `.ok`). Raises as `upsert` does; `Interrupted`,
    `AuthenticationError`, `PermissionDeniedError` and `MissingRouteError` carry the
    summary of what was done in `.result`, and the results file is closed first.
    """
    region = _check_options(
        mode, nulls, duplicates, invalid_fields, batch_size, default_region, progress, big_ints
    )
    if not isinstance(dry_run, bool):
        raise ValidationError(f"dry_run must be True or False, not {dry_run!r}")
    path = check_ledger(ledger, only_changed)
    out = _check_results(results)
    if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
        raise ValidationError(f"chunk_rows must be a positive integer, not {chunk_rows!r}")
    if on_chunk is not None and not callable(on_chunk):
        raise ValidationError(f"on_chunk must be a function (result, source), not {on_chunk!r}")
    options: dict[str, Any] = {  # prepare's
        "nulls": nulls,
        "default_region": region,
        "exclude": exclude,
        "duplicates": duplicates,
        "invalid_fields": invalid_fields,
        "big_ints": big_ints,
    }
    with contextlib.ExitStack() as stack:
        api = None
        if not dry_run or path is not None:
            from ._client import resolve_client

            api = resolve_client(client)
        journal = None
        if path is not None and api is not None:  # a busy ledger refuses before any reading
            journal = stack.enter_context(open_session(path, api, write=not dry_run))
        spill = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="spotzee-frames-")))
        reader = _open(source, mapping, chunk_rows, encoding, spill)
        ids = _first_pass(reader, mapping, options)
        writer = _Writer(
            _Results(out, getattr(reader, "file_label", None)) if out else None, on_chunk
        )
        plan = {"mode": mode, "batch_size": batch_size, "dry_run": dry_run, **options}
        run = _Run(reader, ids, mapping, plan, writer, journal, only_changed, api)
        reporter = make_reporter(progress, desc=f"upsert ({mode})", total=ids.rows)
        try:
            if dry_run:
                for part in run.parts(reporter):
                    if journal is not None:  # what the ledger would keep back
                        journal.admit(part.op, part.builder, part.rows, only_changed=only_changed)
                    run.finished(part)
                    del part  # not kept while the next chunk is read
            else:
                assert api is not None
                drive(run.parts(reporter), api, reporter, journal=journal)
        except KeyboardInterrupt as exc:
            with contextlib.suppress(Exception, KeyboardInterrupt):
                reporter.close()
            summary = run.stop(writer)
            raise Interrupted(
                f"upsert_dataset interrupted after {summary.total:,} rows were read "
                f"({ids.rows - summary.total:,} not read); the rows without an outcome are "
                "'interrupted' and may or may not have been applied; running the same call "
                "again is safe. The summary is in .result",
                result=summary,
            ) from exc
        except (AuthenticationError, PermissionDeniedError, MissingRouteError) as exc:
            reporter.close()
            exc.result = run.stop(writer)
            raise
        except BaseException:
            reporter.close()
            run.stop(writer)
            raise
        reporter.close()
        if writer.results is not None:
            writer.results.close()
        return Summary.of(writer.tally)


def _open(
    source: Source,
    mapping: MappingSpec | None,
    chunk_rows: int,
    encoding: str,
    spill: Path,
) -> Any:
    if isinstance(source, pd.DataFrame):
        return _Frames([source], spill)
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if not path.exists():
            raise ValidationError(f"source {str(path)!r} does not exist")
        if path.is_dir():
            return _Parquet(path, chunk_rows)
        kind = file_format(path)
        if kind == "parquet":
            return _Parquet(path, chunk_rows)
        if kind in ("csv", "tsv") and path.suffix.lower() not in COMPRESSED:
            return _Csv(path, kind, mapping, chunk_rows, encoding)
        return _Frames([read_file(path, mapping, encoding=encoding)], spill)  # read whole
    if isinstance(source, Iterable) and not isinstance(source, str | bytes | Mapping):
        return _Frames(source, spill)
    raise ValidationError(
        "source must be a Parquet file or folder, a CSV/TSV file (or another file "
        f"read_file reads), or an iterable of DataFrames; got {type(source).__name__}"
    )


def _first_pass(reader: Any, mapping: Any, options: dict[str, Any]) -> _Ids:
    """Check the mapping against the header, then hash every row's ids (see the module
    docstring); the count of rows comes with it."""
    header = reader.header()
    ids: _Ids | None = None
    frames = reader.first_pass([]) if isinstance(reader, _Frames) else None
    if frames is None:
        assert header is not None
        ids = _ids_for(header, mapping, options)
        frames = reader.first_pass(list(ids.fields.values()))
    # Chunks are hashed on two helper threads while the next is read (numpy and Arrow
    # work without the GIL); a few at a time, so memory holds a few chunks' ids at most.
    pending: collections.deque[tuple[Future[dict[str, np.ndarray]], int]] = collections.deque()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="spotzee-ids") as pool:
        for frame in frames:
            if ids is None:
                ids = _ids_for(list(frame.columns), mapping, options)
            job = pool.submit(contextvars.copy_context().run, ids.of, frame)
            pending.append((job, len(frame)))
            del frame
            if len(pending) > 2:
                job, rows = pending.popleft()
                ids.add(job.result(), rows)
        while pending:
            assert ids is not None
            job, rows = pending.popleft()
            ids.add(job.result(), rows)
    if ids is None:  # no frame at all
        ids = _Ids({})
    ids.finish()
    return ids


def _ids_for(header: list[Hashable], mapping: Any, options: dict[str, Any]) -> _Ids:
    # An empty frame with the header: the mapping's mistakes raise here, before any work.
    prepare(pd.DataFrame(columns=pd.Index(header)), mapping, **options)
    resolved = resolve_mapping(header, mapping, exclude=options["exclude"])
    return _Ids({f: resolved.fields[f] for f in ID_FIELDS if f in resolved.fields})


def _result(part: Part, notes: list[str]) -> pd.DataFrame:
    frame = result_frame(part.builder, "upsert")
    frame.attrs[NOTES_ATTR] = notes  # headers matched by name, for the summary
    return frame


@dataclass
class _Run:
    """The chunks of one `upsert_dataset` call, as parts for the runner."""

    reader: Any
    ids: _Ids
    mapping: Any
    options: dict[str, Any]
    writer: _Writer
    journal: Session | None
    only_changed: bool
    client: Client | None
    open: dict[int, tuple[Part, pd.DataFrame, list[str]]] = field(default_factory=dict)
    held: list[pd.DataFrame] = field(default_factory=list)
    read_rows: int = 0

    def _part(self, number: int, frame: pd.DataFrame, reporter: Reporter) -> Part:
        prepared, builder, op = plan_upsert(frame, self.mapping, **self.options)
        part = admit(
            op,
            builder,
            op.rows,
            None if self.options["dry_run"] else self.journal,
            only_changed=self.only_changed,
            done=lambda p: self._done(number, p),
        )
        self.open[number] = (part, frame, list(prepared.notes))
        reporter.advance(len(frame) - part.size, builder.count("invalid"))
        return part

    def parts(self, reporter: Reporter) -> Iterator[Part]:
        number = 0
        for chunk in self.reader.chunks():
            frame = chunk.frame
            self.read_rows += len(frame)
            shared = self.ids.shared(chunk.offset, len(frame))
            if shared.any():  # decided with every other row of their ids, at the end
                self.held.append(frame.iloc[np.flatnonzero(shared)])
                frame = frame.iloc[np.flatnonzero(~shared)]
            del chunk
            if len(frame):
                part = self._part(number, frame, reporter)
                del frame
                yield part
                del part  # not kept while the next chunk is read
                number += 1
        if self.held:
            frame = pd.concat(self.held)
            self.held = []
            yield self._part(number, frame, reporter)

    def _done(self, number: int, part: Part) -> None:
        _, frame, notes = self.open.pop(number)
        self.writer.finish(number, _result(part, notes), frame)

    def finished(self, part: Part) -> None:
        """A dry run's part: nothing to wait for."""
        assert part.done is not None
        done, part.done = part.done, None
        done(part)

    def stop(self, writer: _Writer) -> Summary:
        """After a stop: every row read so far into the results (those without an
        outcome `interrupted`), the file closed; the summary of it all."""
        for number in sorted(self.open):
            part, frame, notes = self.open.pop(number)
            writer.finish(number, _result(part, notes), frame)
        if self.held:  # read, held for the end, never sent
            frame = pd.concat(self.held)
            builder = ResultBuilder(frame.index, extra={"user_id": "Int64", "replayed": "boolean"})
            writer.finish(writer.order.numbered, result_frame(builder, "upsert"), frame)
            self.held = []
        if writer.results is not None:
            writer.results.close()
        return Summary.of(writer.tally)
