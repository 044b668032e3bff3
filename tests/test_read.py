"""`read_file`: every format the CLI reads, losing nothing, with line numbers that match
what an editor shows."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import spotzee_frames as sf
from spotzee_frames import ValidationError


def write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return path


def test_text_stays_text_and_numbers_are_typed_only_when_exact(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.csv",
        "external_id,phone,postcode,visits,score,vip,note\n"
        "007,0491570156,0800,4,1.5,TRUE,NA\n"
        "008,,2000,,2,false,None\n",
    )
    frame = sf.read_file(path)
    assert frame["external_id"].tolist() == ["007", "008"]
    assert frame["phone"].tolist() == ["0491570156", pd.NA]  # a first-class field: text
    assert frame["postcode"].tolist() == ["0800", "2000"]
    assert str(frame["visits"].dtype) == "Int64" and frame["visits"].tolist() == [4, pd.NA]
    assert str(frame["score"].dtype) == "Float64"
    assert str(frame["vip"].dtype) == "boolean"
    assert frame["note"].tolist() == ["NA", "None"]  # only empty fields are missing
    texts = sf.read_file(path, text_columns=["visits"])
    assert texts["visits"].tolist() == ["4", pd.NA]
    mapped = sf.read_file(path, {"visits": "external_id", "external_id": None})
    assert mapped["visits"].tolist() == ["4", pd.NA]


def test_line_numbers_count_quoted_line_ends_and_skip_blank_lines(tmp_path: Path) -> None:
    text = 'external_id,note\r\na,"two\nlines"\r\n\r\n   \r\nb,x\r\nc,y\r\n'
    frame = sf.read_file(write(tmp_path, "c.csv", text), line_numbers=True)
    assert frame.index.name == "line"
    assert frame.index.tolist() == [2, 6, 7]
    assert frame["note"].tolist() == ["two\nlines", "x", "y"]
    cr = sf.read_file(write(tmp_path, "cr.csv", "external_id\r1\r2\r"), line_numbers=True)
    assert cr.index.tolist() == [2, 3] and cr["external_id"].tolist() == ["1", "2"]
    plain = sf.read_file(tmp_path / "cr.csv")
    assert isinstance(plain.index, pd.RangeIndex)


def test_separators_compression_and_json(tmp_path: Path) -> None:
    semi = write(tmp_path, "s.csv", "external_id;email\nA1;a@example.com\n")
    assert sf.read_file(semi).columns.tolist() == ["external_id", "email"]
    tsv = write(tmp_path, "t.tsv", "external_id\tcity\nA2\tParis\n")
    assert sf.read_file(tsv)["city"].tolist() == ["Paris"]
    packed = write(tmp_path, "p.csv.gz", gzip.compress(b"\xef\xbb\xbfexternal_id\n0001\n"))
    assert sf.read_file(packed, line_numbers=True)["external_id"].tolist() == ["0001"]
    with zipfile.ZipFile(tmp_path / "z.csv.zip", "w") as archive:
        archive.writestr("z.csv", "external_id\n0002\n")
    assert sf.read_file(tmp_path / "z.csv.zip")["external_id"].tolist() == ["0002"]
    lines = write(tmp_path, "l.jsonl", '{"external_id": 7}\n\n{"external_id": "0008"}\n')
    frame = sf.read_file(lines, line_numbers=True)
    assert frame["external_id"].tolist() == ["7", "0008"]  # an id column: text
    assert frame.index.tolist() == [1, 3] and frame.index.name == "line"
    array = write(tmp_path, "a.json", '[{"external_id": 123456789012345678, "n": 1}]')
    records = sf.read_file(array, line_numbers=True)
    assert records["external_id"].tolist() == ["123456789012345678"]
    assert records.index.name == "record" and str(records["n"].dtype) == "Int64"


def test_parquet_integer_ids_come_back_as_their_text(tmp_path: Path) -> None:
    path = tmp_path / "c.parquet"
    pd.DataFrame({"external_id": pd.array([1, None], dtype="Int64"), "visits": [3, 4]}).to_parquet(
        path
    )
    frame = sf.read_file(path)
    assert frame["external_id"].tolist() == ["1", pd.NA]
    assert str(frame["visits"].dtype) == "Int64"


def test_problems_are_validation_errors_that_say_what_to_do(tmp_path: Path) -> None:
    latin = write(tmp_path, "l.csv", "external_id,city\n1,Montréal\n".encode("cp1252"))
    with pytest.raises(ValidationError, match=r"encoding='cp1252'"):
        sf.read_file(latin)
    assert sf.read_file(latin, encoding="cp1252")["city"].tolist() == ["Montréal"]
    with pytest.raises(ValidationError, match="unknown encoding='klingon'"):
        sf.read_file(latin, encoding="klingon")
    with pytest.raises(ValidationError, match=r"\.xlsx"):
        sf.read_file(write(tmp_path, "c.docx", "x"))
    with pytest.raises(ValidationError, match="cannot read"):
        sf.read_file(write(tmp_path, "bad.json", "{not json"))
    with pytest.raises(FileNotFoundError):
        sf.read_file(tmp_path / "missing.csv")
