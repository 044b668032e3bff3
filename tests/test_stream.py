"""`upsert_dataset`: sources larger than memory, a chunk at a time, with the same results
as one frame — types over the whole file, the duplicate policy across chunks, the ledger,
and a results file with a stable row id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from spotzee_frames import (
    Client,
    Interrupted,
    Ledger,
    ProgressEvent,
    Summary,
    ValidationError,
    upsert,
    upsert_dataset,
)
from spotzee_frames._cli import cli
from spotzee_frames.sandbox import Faults, Sandbox

from .conftest import FAST, Served


def contacts(n: int, *, start: int = 0) -> pd.DataFrame:
    ids = range(start, start + n)
    return pd.DataFrame(
        {
            "external_id": [f"c{k}" for k in ids],
            "email": [f"c{k}@example.com" for k in ids],
            "score": pd.array(list(ids), dtype="Int64"),
        }
    )


def _results(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path)


def test_a_folder_of_parquet_files_streams_into_one_results_file(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    contacts(250).to_parquet(folder / "part-0.parquet", index=False)
    second = contacts(180, start=250)
    second["score"] = second["score"].astype("int32")  # files of one folder may differ a bit
    second = second.drop(columns="email")  # and lack a column
    pq.write_table(pa.Table.from_pandas(second, preserve_index=False), folder / "part-1.parquet")
    out = tmp_path / "results.parquet"
    seen: list[tuple[int, int]] = []

    def chunk(result: pd.DataFrame, source: pd.DataFrame) -> None:
        assert result.index.equals(source.index)
        seen.append((len(result), int(result.batch.min())))

    summary = upsert_dataset(
        folder, results=out, client=client, chunk_rows=100, progress=False, on_chunk=chunk
    )
    assert isinstance(summary, Summary) and summary.ok
    assert summary.counts.to_dict() == {"upserted": 430}
    assert summary.batches == 5  # chunks of 100, 100, 50 | 100, 80: a batch each
    frame = _results(out)
    assert len(frame) == 430 and frame.status.eq("upserted").all()
    assert frame.file.tolist() == ["part-0.parquet"] * 250 + ["part-1.parquet"] * 180
    assert frame.row.tolist() == [*range(250), *range(180)]
    assert frame.external_id.tolist() == [f"c{k}" for k in range(430)]
    assert frame.batch.is_unique is False and sorted(frame.batch.unique()) == list(range(5))
    assert [s for s, _ in seen] == [100, 100, 50, 100, 80]
    assert len(sandbox.users) == 430
    assert sandbox.users["c300"]["email"] is None and sandbox.users["c3"]["data"]["score"] == 3
    assert set(sandbox.write_counts.values()) == {1}
    assert not list(tmp_path.glob(".*.partial"))  # only the whole file is left


def _csv(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_csv_in_chunks_is_typed_over_the_whole_file(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    lines = ["external_id,email,postcode,orders,vip,big"]
    for k in range(12):
        postcode = "0800" if k == 9 else str(800 + k)  # one zero-padded code, late
        big = "12345678901234567890" if k == 10 else str(k)  # one past 64 bits, late
        lines.append(f"u{k},u{k}@example.com,{postcode},{k if k % 4 else ''},{k % 2 == 1},{big}")
    path = _csv(tmp_path, lines)
    kinds: list[dict[str, str]] = []
    upsert_dataset(
        path,
        client=client,
        chunk_rows=3,
        progress=False,
        on_chunk=lambda result, source: kinds.append({c: str(source[c].dtype) for c in source}),
    )
    assert len({tuple(k.items()) for k in kinds}) == 1  # every chunk typed alike
    users = sandbox.users
    assert users["u2"]["data"] == {"postcode": "802", "orders": 2, "vip": False, "big": "2"}
    assert users["u9"]["data"]["postcode"] == "0800"
    assert "orders" not in users["u0"]["data"]  # a blank cell is no value
    # the same as reading it whole
    whole = Sandbox()
    with Client.sandbox(whole, **FAST) as api:
        from spotzee_frames import read_file

        upsert(read_file(path), client=api, progress=False)
    assert {k: u["data"] for k, u in whole.users.items()} == {
        k: u["data"] for k, u in users.items()
    }


@pytest.mark.parametrize("policy", ["reject", "first", "last"])
def test_the_duplicate_policy_holds_across_chunks(
    client: Client, sandbox: Sandbox, tmp_path: Path, policy: str
) -> None:
    lines = ["external_id,email,score"]
    lines += [f"u{k},u{k}@example.com,{k}" for k in range(10)]
    lines += ["u1,other@example.com,100", "u3,u3@example.com,3", "u8,u8@example.com,8"]
    path = _csv(tmp_path, lines)  # rows 10-12 repeat rows 1, 3 and 8, chunks apart
    out = tmp_path / "out.parquet"
    summary = upsert_dataset(
        path, results=out, client=client, chunk_rows=4, duplicates=policy, progress=False
    )
    frame = _results(out).set_index("row").sort_index()
    expected = upsert(
        pd.read_csv(path, dtype={"external_id": str}),
        duplicates=policy,
        dry_run=True,
    )
    sent = {"upserted": "valid"}
    got = frame.status.astype(str).replace(sent)
    assert got.tolist() == expected.status.astype(str).tolist()
    assert frame.error_message.fillna("").tolist() == expected.error_message.fillna("").tolist()
    assert summary.counts.sum() == 13
    if policy == "reject":
        assert "u1" not in sandbox.users  # its two rows differ: neither is sent
        assert sandbox.users["u3"]["data"]["score"] == 3
    else:
        want = "u1@example.com" if policy == "first" else "other@example.com"
        assert sandbox.users["u1"]["email"] == want
    assert set(sandbox.write_counts.values()) == {1}


def test_an_iterator_of_frames_is_read_once_and_decided_whole(
    client: Client, sandbox: Sandbox
) -> None:
    consumed = []

    def frames() -> Iterator[pd.DataFrame]:
        for start in (0, 50, 100):
            consumed.append(start)
            part = contacts(50, start=start)
            if start == 100:
                part.loc[0, "external_id"] = "c7"  # same id and values as an earlier row
                part.loc[0, "email"] = "c7@example.com"
                part.loc[0, "score"] = 7
            yield part

    summary = upsert_dataset(frames(), client=client, chunk_rows=10, progress=False)
    assert consumed == [0, 50, 100]  # one pass over the iterator
    assert summary.counts.to_dict() == {"upserted": 149, "skipped": 1}
    assert summary.errors.examples.tolist() == [[100]]  # named by its row in the stream
    assert len(sandbox.users) == 149


def test_a_dry_run_needs_no_client_and_a_ledger_skips_what_is_confirmed(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.parquet"
    contacts(300).to_parquet(path, index=False)
    dry = upsert_dataset(path, dry_run=True, chunk_rows=128)
    assert dry.dry_run and dry.counts.to_dict() == {"valid": 300}
    ledger = tmp_path / "crm.ledger"
    with Client.sandbox(sandbox, **FAST) as api:
        first = upsert_dataset(path, ledger=ledger, only_changed=True, client=api, progress=False)
        assert first.counts.to_dict() == {"upserted": 300}
        changed = contacts(300)
        changed.loc[[5, 250], "score"] = -1
        changed.to_parquet(path, index=False)
        seen = len(sandbox.requests)
        again = upsert_dataset(
            path, ledger=ledger, only_changed=True, client=api, progress=False, chunk_rows=128
        )
    assert again.counts.to_dict() == {"upserted": 2, "unchanged": 298}
    assert len(sandbox.requests) - seen == 2  # one batch per chunk holding a change
    assert Ledger(ledger).destinations().confirmed.tolist() == [300]


def test_a_stop_keeps_a_whole_results_file_of_every_row_read(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    path = tmp_path / "contacts.parquet"
    contacts(10_000).to_parquet(path, index=False, row_group_size=200)
    out = tmp_path / "out.parquet"
    sandbox.faults = Faults(latency=0.12)

    def stop(event: ProgressEvent) -> None:
        if event.done >= 400 and not event.finished:
            raise KeyboardInterrupt

    with (
        Client.sandbox(sandbox, **{**FAST, "max_concurrency": 2}) as api,
        pytest.raises(Interrupted) as info,
    ):
        upsert_dataset(path, results=out, client=api, chunk_rows=200, progress=stop)
    partial = info.value.result
    assert isinstance(partial, Summary)
    frame = _results(out)
    assert len(frame) == partial.total < 10_000  # rows never read are not in it
    assert frame.row.is_unique
    assert set(frame.status.astype(str)) <= {"upserted", "interrupted"}
    done = set(frame.external_id[frame.status.eq("upserted")])
    assert done <= set(sandbox.users)


def test_an_unreadable_file_in_a_folder_stops_the_run_before_anything_is_sent(
    client: Client, sandbox: Sandbox, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    contacts(10).to_parquet(folder / "a.parquet", index=False)
    (folder / "b.parquet").write_bytes(b"PAR1 not really a parquet file")
    with pytest.raises(ValidationError, match=r"b\.parquet"):
        upsert_dataset(folder, client=client, results=tmp_path / "out.parquet")
    assert sandbox.requests == [] and not (tmp_path / "out.parquet").exists()


def test_bad_arguments_raise_before_anything_is_read(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "contacts.parquet"
    contacts(3).to_parquet(path, index=False)
    with pytest.raises(ValidationError, match=r"end it in \.parquet"):
        upsert_dataset(path, results=tmp_path / "out.csv", client=client)
    with pytest.raises(ValidationError, match="chunk_rows"):
        upsert_dataset(path, chunk_rows=0, client=client)
    with pytest.raises(ValidationError, match="does not exist"):
        upsert_dataset(tmp_path / "nope.parquet", client=client)
    with pytest.raises(ValidationError, match="source must be"):
        upsert_dataset(42, client=client)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="external_id"):
        upsert_dataset([pd.DataFrame({"name": ["x"]})], client=client)


def test_the_cli_streams_a_file_with_a_ledger_and_a_report(served: Served, tmp_path: Path) -> None:
    lines = ["external_id,email,score"] + [f"u{k},u{k}@example.com,{k}" for k in range(30)]
    lines.append("u31,not-an-email,31")
    path = _csv(tmp_path, lines)
    env = {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}
    args = [
        "upsert",
        str(path),
        "--stream",
        "--chunk-rows",
        "8",
        "--ledger",
        str(tmp_path / "crm.ledger"),
        "--only-changed",
        "--invalid-fields",
        "reject",
        "--report",
        str(tmp_path / "errors.csv"),
        "--results",
        str(tmp_path / "out.parquet"),
    ]
    first = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert first.exit_code == 1, first.output  # one row is invalid
    assert "30 upserted, 1 invalid" in first.stdout
    report = pd.read_csv(tmp_path / "errors.csv")
    assert report.row.tolist() == [30] and report.status.tolist() == ["invalid"]
    assert len(_results(tmp_path / "out.parquet")) == 31
    again = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
    assert "30 unchanged, 1 invalid" in again.stdout
    assert len(served.sandbox.users) == 30
    with_preview = CliRunner().invoke(cli, [*args, "--preview", "3"], env=env)
    assert with_preview.exit_code == 2 and "--preview" in with_preview.stderr


def test_the_cli_reads_a_parquet_folder(served: Served, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    for part in range(3):
        contacts(40, start=40 * part).to_parquet(folder / f"{part}.parquet", index=False)
    env = {"SPOTZEE_API_KEY": "sk_test_cli", "SPOTZEE_BASE_URL": served.base_url}
    result = CliRunner().invoke(cli, ["upsert", str(folder)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "120 upserted" in result.stdout
    assert len(served.sandbox.users) == 120
