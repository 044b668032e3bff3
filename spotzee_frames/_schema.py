"""pandera schemas of what an upsert reads, checked column by column, with failures as rows.

Two schemas, both columnar (every check is one vectorised operation over a column, never a
Python call per cell):

- `source_schema`: the columns the mapping names for first-class fields must be present
  and of a dtype the field can be read from (text for email, timezone and locale; text or
  numbers for ids and phones). A column of the wrong dtype makes its non-missing rows
  invalid — it does not stop the call.
- `identity_schema`: over one boolean column per identifier (True where the row has a
  usable, normalised value of it), every row needs an `external_id` or an `anonymous_id`.

`row_failures` runs a schema lazily and turns pandera's `failure_cases` into
`{check name: row positions}`, so callers can report them as per-row statuses.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Hashable, Iterator, Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd


@contextlib.contextmanager
def _without_pandas_on_spark() -> Iterator[None]:
    """pandera imports `pyspark.pandas` (for pandas-on-Spark, which this package does not
    use) on its first import whenever PySpark is installed, and again on its first
    validation when PySpark is loaded, as on a Spark worker. That costs about half a second,
    a FutureWarning under pandas 3, and — at import — SPARK_LOCAL_IP=127.0.0.1 set in
    os.environ, which would bind a Spark driver started afterwards to loopback, out of its
    executors' reach. Block that one import (pandera catches the ImportError) and leave
    the environment as it was."""
    saved = {name: os.environ.get(name) for name in ("SPARK_LOCAL_IP", "PYARROW_IGNORE_TIMEZONE")}
    block = "pyspark.pandas" not in sys.modules
    if block:
        sys.modules["pyspark.pandas"] = None  # type: ignore[assignment]  # None: "cannot import"
    try:
        yield
    finally:
        if block and sys.modules.get("pyspark.pandas", ...) is None:
            del sys.modules["pyspark.pandas"]
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


with _without_pandas_on_spark():
    import pandera.pandas as pa
    from pandera.errors import SchemaErrors


@functools.cache
def _pandera_ready() -> None:
    """pandera's first validation registers its backends: do it with pandas-on-Spark blocked."""
    with _without_pandas_on_spark():
        pa.DataFrameSchema({}).validate(pd.DataFrame())


__all__ = [
    "DTYPE_CHECK",
    "IDENTITY_CHECK",
    "dtype_family",
    "identity_schema",
    "row_failures",
    "source_schema",
]

DTYPE_CHECK = "readable_dtype"
IDENTITY_CHECK = "has_identifier"

_TEXT = frozenset({"text", "object", "category"})
_TEXT_OR_NUMBER = _TEXT | {"integer", "float", "decimal"}
# What each first-class field can be read from.
FIELD_FAMILIES: dict[str, frozenset[str]] = {
    "external_id": _TEXT_OR_NUMBER,
    "anonymous_id": _TEXT_OR_NUMBER,
    "email": _TEXT,
    "phone": _TEXT_OR_NUMBER,
    "timezone": _TEXT,
    "locale": _TEXT,
}


def dtype_family(dtype: Any) -> str:
    """`text`, `integer`, `float`, `decimal`, `bool`, `datetime`, `timedelta`, `category`,
    `object` or `other`: the coarse kind of a column's dtype."""
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.StringDtype):
        return "text"
    if isinstance(dtype, pd.ArrowDtype):
        import pyarrow as pa_

        t = dtype.pyarrow_dtype
        if pa_.types.is_string(t) or pa_.types.is_large_string(t) or pa_.types.is_string_view(t):
            return "text"
        if pa_.types.is_dictionary(t):  # how a pyarrow-backed frame holds a category
            return "category"
        if pa_.types.is_decimal(t):
            return "decimal"
        if pa_.types.is_integer(t):
            return "integer"
        if pa_.types.is_floating(t):
            return "float"
        if pa_.types.is_boolean(t):
            return "bool"
        if pa_.types.is_timestamp(t) or pa_.types.is_date(t):
            return "datetime"
        return "other"
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "float"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    if pd.api.types.is_object_dtype(dtype):
        return "object"
    return "other"


def _readable(families: frozenset[str], values: pd.Series) -> pd.Series | bool:
    # One dtype test for the whole column; only a wrong dtype costs a per-row answer
    # (missing values are fine whatever the dtype).
    if dtype_family(values.dtype) in families:
        return True
    return values.isna()


def source_schema(fields: Mapping[str, Hashable]) -> pa.DataFrameSchema:
    """Columns feeding first-class fields: present, and of a dtype the field can read.

    `fields` maps a field to the label it has in the frame to validate.
    """
    columns = {}
    for field, label in fields.items():
        columns[label] = pa.Column(
            nullable=True,
            required=True,
            checks=pa.Check(
                partial(_readable, FIELD_FAMILIES[field]), name=f"{DTYPE_CHECK}:{field}"
            ),
        )
    return pa.DataFrameSchema(columns, strict=False, coerce=False)


def _has_identifier(frame: pd.DataFrame) -> pd.Series:
    return frame.any(axis=1)


def identity_schema(id_columns: list[Hashable]) -> pa.DataFrameSchema:
    """Over per-identifier flags (a bool column each, True where the row has that id):
    each row has at least one.

    Flags rather than the ids themselves: the check is then one pass over booleans, not a
    missing-value test over a million strings per identifier."""
    return pa.DataFrameSchema(
        {c: pa.Column(bool, nullable=False, required=True) for c in id_columns},
        checks=[pa.Check(_has_identifier, name=IDENTITY_CHECK)],
        strict=False,
    )


def row_failures(schema: pa.DataFrameSchema, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Validate lazily; return `{check name: sorted row positions}` for failed checks.

    The frame is validated with a fresh RangeIndex, so failure cases name positions even
    when the caller's index repeats labels.
    """
    _pandera_ready()
    positional = frame.set_axis(pd.RangeIndex(len(frame)), axis=0)
    try:
        schema.validate(positional, lazy=True)
    except SchemaErrors as exc:
        cases = exc.failure_cases
        out: dict[str, np.ndarray] = {}
        for check, group in cases.groupby("check", sort=False):
            idx = pd.to_numeric(group["index"], errors="coerce").dropna()
            if len(idx):
                out[str(check)] = np.unique(idx.to_numpy(dtype=np.int64))
        missing = cases[cases["check"].astype(str).str.startswith("column_in_dataframe")]
        if len(missing):
            raise  # a required column is absent: a caller bug, not a row problem
        return out
    return {}
