"""A readable summary of a result frame (upsert, track, delete, set_subscription, a
trigger): counts by status and the
problems grouped by code and field, with a few example rows — HTML in Jupyter, text
everywhere else.
"""

from __future__ import annotations

import html
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._errors import ValidationError
from ._results import place_word
from ._runner import NOTES_ATTR, OPERATION_ATTR

if TYPE_CHECKING:
    from ._encoding import BigIntPolicy, NullPolicy
    from ._mapping import MappingSpec
    from ._prepare import DuplicatePolicy, InvalidFieldPolicy

__all__ = [
    "LEDGER_STATUSES",
    "OK_STATUSES",
    "SENT_STATUSES",
    "Preview",
    "Summary",
    "SummaryTally",
    "format_table",
    "needs_attention",
    "preview",
    "sent_without_a_field",
    "summary",
]

# A row with one of these statuses went (or, in a dry run, would go) through.
SENT_STATUSES = ("upserted", "queued", "triggered", "imported", "updated", "valid")
# Kept back by a ledger because the server already holds exactly this: nothing to do.
LEDGER_STATUSES = ("unchanged", "already_triggered", "already_tracked")
# Nothing went wrong with these rows: `skipped` ones duplicate a row that was sent.
OK_STATUSES = (*SENT_STATUSES, *LEDGER_STATUSES, "skipped")
# Display order; statuses not listed here come after, alphabetically.
_ORDER = (
    *SENT_STATUSES,
    *LEDGER_STATUSES,
    "skipped",
    "invalid",
    "rejected",
    "failed",
    "interrupted",
    "unconfirmed",
)
_MESSAGE_WIDTH = 90


def _label(value: Hashable) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_label(v) for v in value) + ")"
    return str(value)


def _shorten(text: str, width: int = _MESSAGE_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass(frozen=True)
class ErrorGroup:
    """Rows that were not sent (or not applied) for the same reason."""

    status: str
    code: str
    field: str
    rows: int
    examples: tuple[Hashable, ...]
    message: str


class Summary:
    """What happened to the rows of a result frame.

    `counts` is a Series of rows per status (most useful first), `errors` a DataFrame
    with one row per (status, error code, field) of the rows that were not sent, giving
    the number of rows, a few example index labels and one example message; `warnings`
    the same per (code, field) for the rows sent without a field (`invalid_fields=
    "omit"`). `matched` lists the headers that were matched to a field by name. `ok` is
    true when every row was sent, or skipped as a duplicate of a row that was (a row sent
    without a field counts as sent: see `warnings`). Renders as HTML in Jupyter and as
    text with `print()`.
    """

    def __init__(self, result: pd.DataFrame, *, examples: int = 3) -> None:
        tally = SummaryTally(examples=examples)
        tally.add(result)
        self._take(tally)

    @classmethod
    def of(cls, tally: SummaryTally) -> Summary:
        """The summary of every result chunk added to `tally` (a source larger than
        memory: `upsert_dataset`)."""
        made = cls.__new__(cls)
        made._take(tally)
        return made

    def _take(self, tally: SummaryTally) -> None:
        self._examples = tally.examples
        self.total = tally.total
        self.place = tally.place
        self.kind = tally.kind
        order = [s for s in _ORDER if s in tally.counts]
        order += sorted(set(tally.counts) - set(order))
        self.counts: pd.Series = pd.Series(
            [tally.counts[s] for s in order], index=pd.Index(order, name="status"), dtype="int64"
        ).rename("rows")
        self.ok = set(tally.counts) <= set(OK_STATUSES)
        self.groups = _sorted(tally.groups)
        self.warning_groups = _sorted(tally.warning_groups)
        self.matched: list[str] = list(tally.matched)
        self.retried = tally.retried
        self.replayed = tally.replayed
        self.batches = None if tally.batches is None else len(tally.batches)

    @property
    def errors(self) -> pd.DataFrame:
        """One row per (status, code, field): rows affected, example labels, a message."""
        return pd.DataFrame(
            [
                {
                    "status": g.status,
                    "error_code": g.code,
                    "error_field": g.field,
                    "rows": g.rows,
                    "examples": list(g.examples),
                    "message": g.message,
                }
                for g in self.groups
            ],
            columns=["status", "error_code", "error_field", "rows", "examples", "message"],
        )

    @property
    def warnings(self) -> pd.DataFrame:
        """One row per (code, field) of the rows sent without a field: rows affected,
        example labels, a message."""
        return pd.DataFrame(
            [
                {
                    "warning_code": g.code,
                    "warning_field": g.field,
                    "rows": g.rows,
                    "examples": list(g.examples),
                    "message": g.message,
                }
                for g in self.warning_groups
            ],
            columns=["warning_code", "warning_field", "rows", "examples", "message"],
        )

    # -- rendering -----------------------------------------------------------------

    def _headline(self) -> str:
        parts = [f"{n:,} {status}" for status, n in self.counts.items()]
        what = _HEADLINES.get(self.kind, "Result")
        noun = "row" if self.total == 1 else "rows"
        dry = " (dry run: nothing was sent)" if self.dry_run else ""
        return f"{what}: {self.total:,} {noun}{dry} — " + (", ".join(parts) or "nothing to do")

    @property
    def dry_run(self) -> bool:
        """True for the result of a dry run (every row `valid` or `invalid`, or what a
        ledger would keep back)."""
        seen = set(self.counts.index)
        if not self.total:
            return False
        return seen <= {"valid", "invalid"} or (
            "valid" in seen and seen <= {"valid", "invalid", "unconfirmed", *LEDGER_STATUSES}
        )

    def _notes(self) -> list[str]:
        notes = []
        if self.batches:
            verb = "would go" if self.dry_run else "sent"
            notes.append(f"{verb} in {self.batches:,} batch{'es' if self.batches != 1 else ''}")
        if self.retried:
            notes.append(f"{self.retried:,} row{'s' if self.retried != 1 else ''} needed retries")
        if self.replayed:
            notes.append(
                f"{self.replayed:,} replayed (already sent by an earlier run, not sent again)"
            )
        if self.matched:
            notes.append("matched by name: " + ", ".join(self.matched))
        return notes

    def _sent_without_phrase(self) -> str:
        if self.dry_run:
            return "Rows that would be sent without a field"
        return "Rows sent without a field"

    def _not_sent_phrase(self) -> str:
        if self.dry_run:
            return "Rows that would not be sent"
        if self.kind == "delete":
            return "Users not deleted"
        if "queued" in self.counts.index:
            return "Rows not queued"
        return {
            "upsert": "Rows not upserted",
            "trigger": "Rows not triggered",
            "set_subscription": "Rows not updated",
        }.get(self.kind, "Rows not sent")

    def __str__(self) -> str:
        lines = [self._headline()]
        notes = self._notes()
        if notes:
            lines.append("  " + "; ".join(notes))
        for phrase, groups, with_status in (
            (self._not_sent_phrase(), self.groups, True),
            (self._sent_without_phrase(), self.warning_groups, False),
        ):
            if groups:
                rows = sum(g.rows for g in groups)
                lines.append(f"{phrase} ({rows:,}), by reason:")
                lines.extend(self._table(groups, with_status=with_status))
        return "\n".join(line.rstrip() for line in lines)

    def _table(self, groups: list[ErrorGroup], *, with_status: bool) -> list[str]:
        """The text table of `groups`: rows, (status,) code, field, examples, a message."""
        head = ["rows", "status", "code", "field", f"example {self.place}s", "example message"]
        table = [head]
        for g in groups:
            cells = [f"{g.rows:,}", g.status, g.code or "-", g.field or "-", _examples_text(g)]
            table.append([*cells, _shorten(g.message)])
        if not with_status:
            table = [row[:1] + row[2:] for row in table]
        last = len(table[0]) - 1
        widths = [max(len(row[i]) for row in table) for i in range(last)]
        lines = []
        for row in table:
            cells = [row[0].rjust(widths[0])] + [row[i].ljust(widths[i]) for i in range(1, last)]
            lines.append("  " + "  ".join(cells) + "  " + row[last])
        return lines

    def __repr__(self) -> str:
        return str(self)

    def _html_table(self, phrase: str, groups: list[ErrorGroup], *, with_status: bool) -> str:
        esc = html.escape
        left = "style='text-align:left'"
        rows = "".join(
            "<tr>"
            f"<td style='text-align:right'>{g.rows:,}</td>"
            + (f"<td {left}>{_badge(g.status)}</td>" if with_status else "")
            + f"<td {left}><code>{esc(g.code or '-')}</code></td>"
            f"<td {left}>{esc(g.field or '-')}</td>"
            f"<td {left}>{esc(_examples_text(g))}</td>"
            f"<td {left}>{esc(_shorten(g.message, 140))}</td>"
            "</tr>"
            for g in groups
        )
        return (
            f"<p style='margin:.8em 0 .4em 0'>{esc(phrase)}, by reason "
            f"(example {self.place}s are index labels: <code>result.loc[[…]]</code>):</p>"
            "<table><thead><tr><th style='text-align:right'>rows</th>"
            + (f"<th {left}>status</th>" if with_status else "")
            + f"<th {left}>code</th><th {left}>field</th>"
            f"<th {left}>example {self.place}s</th>"
            f"<th {left}>example message</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        counts = "".join(
            f"<tr><td style='text-align:left'>{_badge(str(s))}</td>"
            f"<td style='text-align:right'>{n:,}</td></tr>"
            for s, n in self.counts.items()
        )
        parts = [
            "<div class='spotzee-summary'>",
            f"<p style='margin:0 0 .4em 0'><strong>{esc(self._headline())}</strong></p>",
        ]
        notes = self._notes()
        if notes:
            parts.append(f"<p style='margin:0 0 .4em 0'>{esc('; '.join(notes).capitalize())}</p>")
        parts.append(
            "<table><thead><tr><th style='text-align:left'>status</th>"
            f"<th style='text-align:right'>rows</th></tr></thead><tbody>{counts}</tbody></table>"
        )
        for phrase, groups, with_status in (
            (self._not_sent_phrase(), self.groups, True),
            (self._sent_without_phrase(), self.warning_groups, False),
        ):
            if groups:
                parts.append(self._html_table(phrase, groups, with_status=with_status))
        parts.append("</div>")
        return "".join(parts)


_BADGE_COLOURS = {
    "upserted": "#1a7f37",
    "queued": "#1a7f37",
    "triggered": "#1a7f37",
    "updated": "#1a7f37",
    "valid": "#1a7f37",
    "unchanged": "#57606a",
    "already_triggered": "#57606a",
    "already_tracked": "#57606a",
    "unconfirmed": "#cf222e",
    "invalid": "#9a6700",
    "rejected": "#bc4c00",
    "failed": "#cf222e",
    "skipped": "#57606a",
    "interrupted": "#cf222e",
}


def _badge(status: str) -> str:
    colour = _BADGE_COLOURS.get(status, "#57606a")
    return f"<span style='color:{colour};font-weight:600'>{html.escape(status)}</span>"


def _examples_text(group: ErrorGroup) -> str:
    shown = ", ".join(_label(v) for v in group.examples)
    more = group.rows - len(group.examples)
    if more > 0 and shown:
        shown += f" (+{more:,})"
    return shown


_HEADLINES = {
    "upsert": "Upsert",
    "trigger": "Trigger",
    "track": "Track",
    "delete": "Delete",
    "set_subscription": "Subscriptions",
}


def _kind(result: pd.DataFrame, values: set[str]) -> str:
    # The runner names the operation in the frame's attrs (kept by pandas through most
    # selections); without it, upsert results have batches and trigger results do not.
    named = result.attrs.get(OPERATION_ATTR)
    if named in _HEADLINES:
        return str(named)
    if values & {"upserted", "queued"} or "batch" in result.columns:
        return "upsert"
    if "triggered" in values or "replayed" in result.columns:
        return "trigger"
    return "result"


def _status_in(status: pd.Series, names: Sequence[str]) -> np.ndarray:
    """Per row, whether its status is one of `names` (by the codes of a categorical)."""
    if isinstance(status.dtype, pd.CategoricalDtype):
        wanted = [i for i, c in enumerate(status.cat.categories) if c in names]
        return np.isin(status.cat.codes.to_numpy(), wanted)
    return np.asarray(status.astype("string").isin(names).fillna(False), dtype=bool)


def needs_attention(result: pd.DataFrame) -> np.ndarray:
    """Per row of a result frame: it was not sent (or not applied) and says why, so it
    belongs among the problems and in a report. A row a ledger kept back because the
    server already holds it needs nothing, unless it carries an error code."""
    status = result["status"]
    quiet = _status_in(status, LEDGER_STATUSES)
    if "error_code" in result.columns and quiet.any():
        quiet = quiet & result["error_code"].isna().to_numpy(dtype=bool)
    attention: np.ndarray = ~_status_in(status, SENT_STATUSES) & ~quiet
    return attention


def sent_without_a_field(result: pd.DataFrame) -> np.ndarray:
    """Per row: it was sent with a field left out (`warning_field`). A row a ledger kept
    back was not sent this time: what it was sent without was said when it was."""
    if "warning_field" not in result.columns:
        return np.zeros(len(result), dtype=bool)
    warned = result["warning_field"].notna().to_numpy(dtype=bool)
    kept: np.ndarray = warned & ~_status_in(result["status"], LEDGER_STATUSES)
    return kept


def _status_counts(status: pd.Series) -> dict[str, int]:
    """Rows per status present (a missing status counts as "unknown")."""
    counts = {str(k): int(v) for k, v in status.value_counts(dropna=False).items() if v}
    for missing in [k for k in counts if k in ("nan", "<NA>", "None")]:
        counts["unknown"] = counts.get("unknown", 0) + counts.pop(missing)
    return counts


_Groups = dict[tuple[str, str, str], tuple[int, list[Hashable], str]]


class SummaryTally:
    """Counts and problem groups of result frames added one chunk at a time (a source
    larger than memory); `Summary.of(tally)` is their summary."""

    def __init__(self, *, examples: int = 3) -> None:
        if examples < 0:
            raise ValidationError(f"examples must be 0 or more, not {examples}")
        self.examples = examples
        self.total = 0
        self.place = "row"
        self.kind = "result"
        self.counts: dict[str, int] = {}
        self.groups: _Groups = {}
        self.warning_groups: _Groups = {}
        self.matched: dict[str, None] = {}
        self.retried = 0
        self.replayed = 0
        self.batches: set[int] | None = None

    def add(self, result: pd.DataFrame) -> None:
        if not isinstance(result, pd.DataFrame) or "status" not in result.columns:
            raise ValidationError(
                "summary() needs a result frame (the DataFrame returned by upsert, track, "
                "delete, set_subscription or a trigger, with a `status` column)"
            )
        counts = _status_counts(result["status"])
        if not self.total:
            self.place = place_word(result.index)
        self.total += len(result)
        if self.kind == "result":
            self.kind = _kind(result, set(counts))
        for name, n in counts.items():
            self.counts[name] = self.counts.get(name, 0) + n
        _merge(self.groups, _groups(result, needs_attention(result), self.examples), self.examples)
        warned = sent_without_a_field(result)
        if warned.any():
            found = _groups(result, warned, self.examples, prefix="warning")
            _merge(self.warning_groups, found, self.examples)
        self.matched.update(dict.fromkeys(str(n) for n in result.attrs.get(NOTES_ATTR, [])))
        if "attempts" in result.columns:
            attempts = pd.to_numeric(result["attempts"], errors="coerce")
            self.retried += int((attempts > 1).fillna(False).sum())
        if "replayed" in result.columns:
            self.replayed += int(result["replayed"].fillna(False).astype(bool).sum())
        if "batch" in result.columns:
            self.batches = self.batches or set()
            self.batches.update(int(b) for b in result["batch"].dropna().unique())


def _merge(into: _Groups, groups: list[ErrorGroup], examples: int) -> None:
    for group in groups:
        key = (group.status, group.code, group.field)
        rows, shown, message = into.get(key, (0, [], ""))
        shown.extend(group.examples[: examples - len(shown)])
        into[key] = (rows + group.rows, shown, message or group.message)


def _sorted(groups: _Groups) -> list[ErrorGroup]:
    rank = {s: i for i, s in enumerate(_ORDER)}
    return sorted(
        (
            ErrorGroup(status, code, field, rows, tuple(shown), message)
            for (status, code, field), (rows, shown, message) in groups.items()
        ),
        key=lambda g: (-g.rows, rank.get(g.status, len(rank)), g.code, g.field),
    )


def _groups(
    result: pd.DataFrame, rows: np.ndarray, examples: int, *, prefix: str = "error"
) -> list[ErrorGroup]:
    """The rows of mask `rows` grouped by status (for errors), `<prefix>_code` and
    `<prefix>_field`."""
    at = np.flatnonzero(rows)
    if not len(at):
        return []
    bad = result.iloc[at]

    def column(name: str) -> np.ndarray:
        if name in bad.columns:
            return bad[name].astype("string").fillna("").to_numpy()
        return np.full(len(bad), "", dtype=object)

    status = (
        bad["status"].astype("string").fillna("unknown").to_numpy()
        if prefix == "error"
        else np.full(len(bad), "sent", dtype=object)
    )
    keys = pd.DataFrame(
        {
            "status": status,
            "code": column(f"{prefix}_code"),
            "field": column(f"{prefix}_field"),
            "message": column(f"{prefix}_message"),
        }
    )
    labels: Sequence[Hashable] = list(bad.index)
    keys["position"] = range(len(keys))
    groups = []
    for (st, code, field), part in keys.groupby(
        ["status", "code", "field"], sort=False, dropna=False
    ):
        positions = part["position"].tolist()
        messages = [m for m in part["message"] if m]
        groups.append(
            ErrorGroup(
                status=str(st),
                code=str(code),
                field=str(field),
                rows=len(positions),
                examples=tuple(labels[p] for p in positions[:examples]),
                message=messages[0] if messages else "",
            )
        )
    return groups


def summary(result: pd.DataFrame, *, examples: int = 3) -> Summary:
    """Summarise a result frame (from `upsert`, `track`, `delete`, `set_subscription` or a
    trigger): rows per status, and the rows
    that were not sent grouped by status, error code and field, with up to `examples`
    example index labels per group. Print it for text; Jupyter shows it as HTML."""
    return Summary(result, examples=examples)


# -- plain-text tables -------------------------------------------------------------------


def _cell(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d %H:%M")
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, float) and value != value:
        return ""
    return str(value)


def format_table(frame: pd.DataFrame, *, index: bool = False) -> str:
    """A plain-text table: numbers right-aligned, text left-aligned, two spaces apart.

    Unlike `DataFrame.to_string`, text is left-aligned (it reads like a report) and lists
    are shown as `a, b` rather than as Python reprs.
    """
    if index:
        frame = frame.reset_index()
    columns = []
    for name in frame.columns:
        cells = [_cell(v) for v in frame[name]]
        width = max([len(str(name)), *(len(c) for c in cells)])
        dtype = frame[name].dtype
        numeric = pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
        align = str.rjust if numeric else str.ljust
        columns.append([align(str(name), width), *(align(c, width) for c in cells)])
    if not columns:
        return ""
    return "\n".join("  ".join(row).rstrip() for row in zip(*columns, strict=True))


# -- dry-run payload preview ---------------------------------------------------------------


class Preview:
    """The first rows of a frame next to the payload `upsert` would send for each.

    `frame` holds the source rows plus `status`, `error_message` and `payload` (JSON
    text, NA for a row that would not be sent). Renders as a two-column HTML table in
    Jupyter (source values | payload) and as text elsewhere.
    """

    def __init__(self, frame: pd.DataFrame, source_columns: Sequence[Hashable]) -> None:
        self.frame = frame
        self._source_columns = list(source_columns)
        #: Headers matched to a field by name (`'First Name' → data.first_name`).
        self.matched: list[str] = [str(n) for n in frame.attrs.get(NOTES_ATTR, [])]

    def _rows(self) -> list[tuple[Hashable, list[tuple[str, str]], str, str, str]]:
        # The last four columns are preview_payloads' own (prefixed when a source column
        # already has the name): status, error_message, warning_message, payload.
        status_at, error_at, warning_at, payload_at = range(len(self.frame.columns))[-4:]
        out = []
        for position, label in enumerate(self.frame.index):
            row: Any = self.frame.iloc[position]
            source = [(str(c), _cell(row[c])) for c in self._source_columns]
            payload = row.iloc[payload_at]
            status = _cell(row.iloc[status_at])
            if payload is None or payload is pd.NA:
                sent = f"not sent ({status}): {_cell(row.iloc[error_at])}"
            else:
                sent = str(payload)
            out.append((label, source, status, sent, _cell(row.iloc[warning_at])))
        return out

    def __str__(self) -> str:
        blocks = []
        if self.matched:
            blocks.append("matched by name: " + ", ".join(self.matched))
        for label, source, _status, sent, warning in self._rows():
            width = max((len(k) for k, _ in source), default=0)
            lines = [f"{place_word(self.frame.index)} {_label(label)}:"]
            lines += [f"  {k.ljust(width)}  {v}" for k, v in source]
            lines.append("  would send:" if sent.startswith("{") else "  " + sent)
            if sent.startswith("{"):
                lines += ["    " + line for line in sent.splitlines()]
            if warning:
                lines.append(f"  warning: {warning}")
            blocks.append("\n".join(lines))
        return "\n\n".join(blocks) if blocks else "(no rows)"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        esc = html.escape
        body = []
        for label, source, status, sent, warning in self._rows():
            fields = "".join(
                f"<tr><td style='text-align:left;color:#57606a'>{esc(k)}</td>"
                f"<td style='text-align:left'>{esc(v)}</td></tr>"
                for k, v in source
            )
            if sent.startswith("{"):
                right = f"<pre style='margin:0;text-align:left'>{esc(sent)}</pre>"
                if warning:
                    right += f"<div style='color:#9a6700'>{esc(warning)}</div>"
            else:
                right = f"{_badge(status)} {esc(sent.split(': ', 1)[-1])}"
            body.append(
                "<tr style='vertical-align:top'>"
                f"<td style='text-align:left'><strong>{esc(_label(label))}</strong></td>"
                f"<td style='text-align:left'><table>{fields}</table></td>"
                f"<td style='text-align:left'>{right}</td></tr>"
            )
        matched = (
            f"<p style='margin:0 0 .4em 0'>Matched by name: {esc(', '.join(self.matched))}</p>"
            if self.matched
            else ""
        )
        return (
            f"{matched}<table class='spotzee-preview'><thead><tr>"
            f"<th style='text-align:left'>{place_word(self.frame.index)}</th>"
            "<th style='text-align:left'>source row</th>"
            "<th style='text-align:left'>what would be sent</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )


def preview(
    frame: pd.DataFrame,
    mapping: MappingSpec | None = None,
    *,
    n: int = 5,
    default_region: str | None = None,
    nulls: NullPolicy = "omit",
    exclude: Iterable[Hashable] = (),
    duplicates: DuplicatePolicy = "reject",
    invalid_fields: InvalidFieldPolicy = "omit",
    big_ints: BigIntPolicy = "invalid",
) -> Preview:
    """What `upsert` would send for the first `n` rows, next to the rows themselves.

    Nothing is sent. Takes the same mapping and options as `upsert`; shown as a table
    in Jupyter and as text with `print()`.
    """
    from ._upsert import preview_payloads

    if n < 1:
        raise ValidationError(f"n must be 1 or more, not {n}")
    shown = preview_payloads(
        frame,
        mapping,
        n=n,
        nulls=nulls,
        default_region=default_region,
        exclude=exclude,
        duplicates=duplicates,
        invalid_fields=invalid_fields,
        big_ints=big_ints,
    )
    return Preview(shown, list(frame.columns))
