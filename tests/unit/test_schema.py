"""pandera schemas of upsert sources: dtype gates and the identity rule, failures as rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spotzee_frames._schema import (
    DTYPE_CHECK,
    IDENTITY_CHECK,
    dtype_family,
    identity_schema,
    row_failures,
    source_schema,
)


@pytest.mark.parametrize(
    ("dtype", "family"),
    [
        ("str", "text"),
        ("string[python]", "text"),
        ("string[pyarrow]", "text"),
        ("int64", "integer"),
        ("Int8", "integer"),
        ("uint64[pyarrow]", "integer"),
        ("float32", "float"),
        ("Float64", "float"),
        ("bool", "bool"),
        ("boolean", "bool"),
        ("datetime64[ns]", "datetime"),
        ("timedelta64[ns]", "timedelta"),
        ("category", "category"),
        (object, "object"),
    ],
)
def test_dtype_families(dtype: object, family: str) -> None:
    assert dtype_family(pd.Series([], dtype=dtype).dtype) == family


def test_wrong_dtypes_fail_only_their_non_missing_rows() -> None:
    frame = pd.DataFrame(
        {
            "email": pd.to_datetime(["2024-01-01", None, "2024-01-02"]),
            "phone": [1.0, np.nan, 2.0],
            "timezone": [True, False, True],
        },
        index=[7, 7, 7],  # labels repeat: failures still come back as positions
    )
    out = row_failures(
        source_schema({"email": "email", "phone": "phone", "timezone": "timezone"}), frame
    )
    assert out[f"{DTYPE_CHECK}:email"].tolist() == [0, 2]
    assert out[f"{DTYPE_CHECK}:timezone"].tolist() == [0, 1, 2]
    assert f"{DTYPE_CHECK}:phone" not in out  # numbers are fine for phones


def test_identity_rule() -> None:
    ids = pd.DataFrame({"external_id": [True, False, False], "anonymous_id": [False, True, False]})
    assert row_failures(identity_schema(["external_id", "anonymous_id"]), ids)[
        IDENTITY_CHECK
    ].tolist() == [2]
    assert row_failures(identity_schema(["external_id"]), ids.iloc[:1]) == {}
