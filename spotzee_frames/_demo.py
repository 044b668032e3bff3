"""The bundled sample of messy contacts, and the demo job `spotzee-frames demo` runs with it
against an embedded sandbox: import, show what failed and why, list campaigns, trigger one
for a filtered slice, and show that re-running the trigger sends nothing twice.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from ._progress import ProgressLike
from ._summary import SENT_STATUSES, format_table, summary

__all__ = ["run_demo", "sample_contacts", "write_sample"]

_SAMPLE = "messy_contacts.csv"
_TEXT_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "timezone",
    "locale",
    "plan",
    "signup_date",
    "opted_in",
    "tags",
)


def write_sample(path: Path) -> int:
    """Write the bundled sample file to `path`, byte for byte; return its size."""
    data = resources.files("spotzee_frames").joinpath("data", _SAMPLE).read_bytes()
    path.write_bytes(data)
    return len(data)


def sample_contacts() -> pd.DataFrame:
    """200 contacts as a CRM export gives them: a bundled, deterministic sample.

    Columns: `external_id` (text, as written; a few missing, a few duplicated),
    `first_name`, `last_name` (unicode), `email` (padded, mis-cased or invalid ones),
    `phone` (E.164, Australian and US national formats, junk), `timezone` (valid,
    mis-cased, invalid), `locale` (`en_AU`, `en-au`, `fr`, junk), `plan`
    (free/pro/enterprise), `signup_date` (text: ISO, day-first, unparsable),
    `lifetime_value` (float, some blank), `opted_in` (yes/no/blank), `tags` (JSON lists,
    `;`-separated, broken). Only empty cells are missing values; everything else is kept
    as the text it was, for you to clean with pandas.
    """
    source = resources.files("spotzee_frames").joinpath("data", _SAMPLE)
    with source.open("r", encoding="utf-8") as fh:
        frame = pd.read_csv(
            fh,
            dtype={c: "string" for c in ("external_id", *_TEXT_COLUMNS)},
            keep_default_na=False,
            na_values=[""],
        )
    frame["lifetime_value"] = frame["lifetime_value"].astype("Float64")
    return frame


class _Out:
    def __init__(self, stream: TextIO | None) -> None:
        self._stream = stream

    def __call__(self, text: str = "") -> None:
        print(text, file=self._stream or sys.stdout, flush=True)

    def heading(self, text: str) -> None:
        self()
        self(text)
        self("-" * len(text))


def _shorten(text: Any, width: int) -> str:
    value = "" if text is None or text is pd.NA else " ".join(str(text).split())
    return value if len(value) <= width else value[: width - 1] + "…"


def _rows_table(
    contacts: pd.DataFrame, result: pd.DataFrame, rows: pd.Series, prefix: str
) -> pd.DataFrame:
    """One line per row of mask `rows`: which row, which field, and why (the message quotes
    the offending value), from the result's `<prefix>_field` and `<prefix>_message`."""
    bad = result[rows.to_numpy()]
    table = pd.DataFrame(
        {
            "row": bad.index,
            "external_id": contacts.loc[bad.index, "external_id"].astype("string").to_numpy(),
            "status": bad["status"].astype("string").to_numpy(),
            "field": bad[f"{prefix}_field"].fillna("-").to_numpy(),
            "why": [_shorten(m, 96) for m in bad[f"{prefix}_message"]],
        }
    )
    if table["status"].nunique() <= 1:
        table = table.drop(columns="status")  # all alike: the heading says which
    return table


def run_demo(*, progress: ProgressLike = None, out: TextIO | None = None) -> int:
    """Run the demo against a fresh in-process sandbox; return the exit code (0)."""
    from ._client import Client
    from ._delivery import campaign_events
    from ._listing import campaigns
    from ._trigger import trigger_campaign
    from ._upsert import upsert

    say = _Out(out)
    say("spotzee-frames demo: everything below runs against an embedded sandbox Spotzee,")
    say("in this process. No key is used and nothing leaves this machine.")

    with Client.sandbox() as client:
        contacts = sample_contacts()
        say.heading(
            f"1. Upsert {len(contacts)} messy contacts (bundled {_SAMPLE}, default_region='AU')"
        )
        result = upsert(contacts, default_region="AU", progress=progress, client=client)
        say(str(summary(result)))

        not_sent = ~result["status"].isin(SENT_STATUSES)
        failed = _rows_table(contacts, result, not_sent, "error")
        if len(failed):
            say()
            say(f"The {len(failed)} rows that were not upserted, and why:")
            say(format_table(failed))
        without = _rows_table(contacts, result, result["warning_field"].notna(), "warning")
        if len(without):
            say()
            say(
                f"The {len(without)} rows upserted without a field they had (an unusable "
                "value is left out, never sent), and why:"
            )
            say(format_table(without.drop(columns="status", errors="ignore")))
        stored = int(result["status"].eq("upserted").sum())
        say()
        say(
            f"The sandbox now holds {sum(1 for _ in client.paginate('/users'))} users "
            f"({stored} rows upserted); fix the rows "
            "above in pandas and upsert just those again: "
            "df.loc[result.status.ne('upserted') | result.warning_field.notna()]."
        )

        say.heading("2. Campaigns in the project")
        listing = campaigns(client=client)
        shown = listing[["id", "name", "type", "channel", "state"]].sort_values("id")
        say(format_table(shown))

        runnable = listing[listing["type"].eq("trigger") & listing["state"].eq("running")]
        target = runnable.sort_values("id").iloc[0]
        audience = contacts[
            result["status"].eq("upserted")
            & contacts["plan"].eq("enterprise")
            & contacts["opted_in"].eq("yes")
        ]
        say.heading(
            f"3. Trigger campaign {target['id']} ({target['name']!r}) for the "
            f"{len(audience)} upserted enterprise contacts who opted in"
        )
        say(
            "   contacts[result.status.eq('upserted') & contacts.plan.eq('enterprise') "
            "& contacts.opted_in.eq('yes')]"
        )
        send = _sender(trigger_campaign, int(target["id"]), client)
        sent = send(audience, progress)
        say(str(summary(sent)))

        say.heading("4. Run the same trigger again (a re-run cell, a retried script)")
        again = send(audience, progress)
        say(str(summary(again)))
        replayed = int(again["replayed"].fillna(False).astype(bool).sum())
        calls = int(again["status"].eq("triggered").sum())
        say()
        say(
            f"{replayed} of {calls} calls were replayed by the server from their "
            "idempotency keys: nobody got the campaign twice. Pass send_id='…' to send "
            "again on purpose."
        )

        say.heading(f"5. What happened downstream: campaign {target['id']}'s events per recipient")
        now = pd.Timestamp.now(tz="UTC")
        tracked = campaign_events(
            int(target["id"]),
            now - pd.Timedelta(hours=1),
            now + pd.Timedelta(minutes=1),
            audience=audience[["external_id", "first_name", "email"]],
            client=client,
        )
        say(format_table(tracked.drop(columns=["first_event_at", "last_event_at"])))
        say()
        say(
            "(The sandbox records a send and a delivery for every trigger at once; in "
            "Spotzee these counts fill in as messages go out.)"
        )

    say()
    say(
        "Next: notebooks/quickstart.ipynb, or the same from a file: "
        "spotzee-frames demo --write-sample contacts.csv, then "
        "spotzee-frames --sandbox upsert contacts.csv --default-region AU --report errors.csv"
    )
    return 0


def _sender(
    trigger_campaign: Callable[..., pd.DataFrame], campaign_id: int, client: Any
) -> Callable[[pd.DataFrame, ProgressLike], pd.DataFrame]:
    def send(audience: pd.DataFrame, progress: ProgressLike) -> pd.DataFrame:
        return trigger_campaign(
            audience,
            campaign_id,
            event={"source": "spotzee-frames demo"},
            attributes=["first_name"],
            default_region="AU",
            progress=progress,
            client=client,
        )

    return send
