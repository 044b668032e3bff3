"""Frames in and out through Arrow, copying only what must be copied.

In: an Arrow table (a Spark partition's record batches, a polars frame's buffers) becomes
a pandas frame of `pd.ArrowDtype` columns that share the Arrow buffers, which the
operations read as they are (dictionary columns become pandas categoricals, which they
read as such). Out: a result frame becomes an Arrow table of plain types — `status` as
text, counters as int64, flags as bool, payloads as JSON text — that Spark, Dask's
Arrow-backed frames and polars take without conversion.
"""

from __future__ import annotations

from typing import Any

import orjson
import pandas as pd
import pyarrow as pa

__all__ = ["frame_from_arrow", "result_to_arrow"]


def _arrow_dtype(arrow_type: pa.DataType) -> pd.ArrowDtype | None:
    # None: pyarrow's own conversion (a dictionary column becomes a pandas categorical).
    return None if pa.types.is_dictionary(arrow_type) else pd.ArrowDtype(arrow_type)


_VIEWS = {pa.string_view(): pa.large_string(), pa.binary_view(): pa.large_binary()}


def frame_from_arrow(data: pa.Table | pa.RecordBatch) -> pd.DataFrame:
    """A pandas view of `data`: ArrowDtype columns over the same buffers (string and
    binary views are rewritten as large strings: Arrow cannot yet take or filter them)."""
    schema = data.schema
    if any(field.type in _VIEWS for field in schema):
        data = data.cast(pa.schema([f.with_type(_VIEWS.get(f.type, f.type)) for f in schema]))
    frame: pd.DataFrame = data.to_pandas(types_mapper=_arrow_dtype)
    return frame


def _json_text(values: pd.Series) -> pa.Array:
    return pa.array(
        [None if v is None else orjson.dumps(v).decode() for v in values], type=pa.string()
    )


def _column(values: pd.Series, arrow_type: pa.DataType | None) -> pa.Array:
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        array: Any = values.array.__arrow_array__()
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
    elif isinstance(dtype, pd.CategoricalDtype):
        array = pa.array(values.astype(object), type=pa.string(), from_pandas=True)
    elif pd.api.types.is_object_dtype(dtype):
        array = _json_text(values)  # payloads: dicts, as the JSON that was (or would be) sent
    else:
        array = pa.array(values, from_pandas=True)
    if arrow_type is not None and not array.type.equals(arrow_type):
        array = array.cast(arrow_type)
    return array


def result_to_arrow(frame: pd.DataFrame, schema: pa.Schema | None = None) -> pa.Table:
    """`frame` (a result frame, maybe with carried input columns) as an Arrow table; with
    `schema`, exactly those columns and types."""
    names = list(frame.columns) if schema is None else schema.names
    arrays = [
        _column(frame[name], None if schema is None else schema.field(name).type) for name in names
    ]
    if schema is not None:
        return pa.Table.from_arrays(arrays, schema=schema)
    return pa.Table.from_arrays(arrays, names=[str(n) for n in names])
