"""Parse and run the SOQL subset the fake Salesforce understands, with Salesforce's rules.

    SELECT COUNT() | field, Parent.field, … FROM Object
    [WHERE condition] [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], …] [LIMIT n] [OFFSET n]

A condition is `field op literal` (`=`, `!=`, `<>`, `<`, `<=`, `>`, `>=`, `LIKE`,
`IN (…)`, `NOT IN (…)`), `NOT condition`, or conditions joined by `AND` / `OR` — never both
at one level without parentheses, which Salesforce refuses too. Literals: 'quoted strings'
(backslash escapes; `\\%` and `\\_` only mean a literal % or _ inside LIKE), numbers,
`true` / `false`, `null`, dates (`2026-05-03`) and unquoted datetimes
(`2026-05-03T15:57:00Z`, or with an offset).

Semantics as Salesforce's: text comparisons and LIKE ignore case; a null field satisfies
only `= null`, `!=` / `<>` of a value, `NOT IN`, and `NOT` of a condition it fails; a
literal of the wrong kind for its field (quotes around a number, a date for a datetime)
is an error, as are unknown fields and LIKE on anything but text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "Comparison",
    "Condition",
    "Junction",
    "Negation",
    "OrderItem",
    "Query",
    "SoqlError",
    "parse",
]

TEXT_TYPES: Final = frozenset(
    {
        "string",
        "textarea",
        "picklist",
        "multipicklist",
        "combobox",
        "email",
        "phone",
        "url",
        "id",
        "reference",
    }
)
NUMBER_TYPES: Final = frozenset({"double", "int", "long", "currency", "percent"})


class SoqlError(Exception):
    """A query Salesforce would refuse; `code` is its errorCode."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_TOKEN: Final = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2})
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    """,
    re.VERBOSE,
)
_ESCAPES: Final = {
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_KEYWORDS: Final = frozenset(
    {
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "like",
        "in",
        "order",
        "by",
        "asc",
        "desc",
        "nulls",
        "first",
        "last",
        "limit",
        "offset",
        "true",
        "false",
        "null",
        "count",
    }
)


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int

    def word(self) -> str | None:
        return self.text.lower() if self.kind == "word" else None


@dataclass(frozen=True, slots=True)
class Literal:
    """A value as written: `kind` is string, number, boolean, null, date or datetime."""

    kind: str
    value: Any
    #: For strings: the text between the quotes, escapes undone except `\\%` / `\\_`
    #: (kept, so that LIKE can tell a literal % from a wildcard).
    raw: str = ""


@dataclass(frozen=True, slots=True)
class Comparison:
    field: str
    op: str  # = != < <= > >= like in notin
    literal: Literal | tuple[Literal, ...]


@dataclass(frozen=True, slots=True)
class Negation:
    inner: Condition


@dataclass(frozen=True, slots=True)
class Junction:
    kind: str  # "and" | "or"
    parts: tuple[Condition, ...]


Condition = Comparison | Negation | Junction


@dataclass(frozen=True, slots=True)
class OrderItem:
    field: str
    descending: bool
    nulls_last: bool


@dataclass(frozen=True, slots=True)
class Query:
    object: str
    fields: tuple[str, ...]  # empty for COUNT()
    count: bool
    where: Condition | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected character {text[at]!r} at position {at}"
            )
        kind = match.lastgroup or ""
        if kind != "ws":
            out.append(_Token(kind, match.group(), at))
        at = match.end()
    return out


def _unquote(body: str) -> tuple[str, str]:
    """(value, raw-for-LIKE) of a quoted string's inside."""
    value: list[str] = []
    raw: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            value.append(ch)
            raw.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _ESCAPES:
            value.append(_ESCAPES[nxt])
            raw.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
        elif nxt in "%_":
            value.append("\\" + nxt)  # only meaningful in LIKE; elsewhere as written
            raw.append("\\" + nxt)
        else:
            raise SoqlError("MALFORMED_QUERY", f"invalid escape sequence \\{nxt} in a string")
        i += 2
    return "".join(value), "".join(raw)


def _parse_datetime(text: str) -> dt.datetime:
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    elif re.search(r"[+-]\d{4}$", text):
        text = text[:-2] + ":" + text[-2:]
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.i = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise SoqlError("MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return token

    def expect_word(self, word: str) -> None:
        token = self.take()
        if token.word() != word:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"expected {word.upper()} at position {token.at}, got {token.text!r}",
            )

    def expect(self, text: str) -> None:
        token = self.take()
        if token.text != text:
            raise SoqlError(
                "MALFORMED_QUERY", f"expected {text!r} at position {token.at}, got {token.text!r}"
            )

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.word() in words

    def name(self) -> str:
        token = self.take()
        if token.kind != "word" or token.text.lower() in _KEYWORDS:
            raise SoqlError(
                "MALFORMED_QUERY",
                f"expected a field name at position {token.at}, got {token.text!r}",
            )
        return token.text

    def query(self) -> Query:
        self.expect_word("select")
        fields: list[str] = []
        count = False
        if self.at_word("count"):
            self.take()
            self.expect("(")
            self.expect(")")
            count = True
        else:
            fields.append(self.name())
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                fields.append(self.name())
        self.expect_word("from")
        obj = self.name()
        where = None
        if self.at_word("where"):
            self.take()
            where = self.condition()
        order: list[OrderItem] = []
        if self.at_word("order"):
            self.take()
            self.expect_word("by")
            order.append(self.order_item())
            while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
                self.take()
                order.append(self.order_item())
        limit = None
        offset = 0
        if self.at_word("limit"):
            self.take()
            limit = self.integer("LIMIT")
        if self.at_word("offset"):
            self.take()
            offset = self.integer("OFFSET")
        token = self.peek()
        if token is not None:
            raise SoqlError(
                "MALFORMED_QUERY", f"unexpected token {token.text!r} at position {token.at}"
            )
        return Query(obj, tuple(fields), count, where, tuple(order), limit, offset)

    def integer(self, what: str) -> int:
        token = self.take()
        if token.kind != "number" or not token.text.isdigit():
            raise SoqlError("MALFORMED_QUERY", f"{what} takes a whole number, got {token.text!r}")
        return int(token.text)

    def order_item(self) -> OrderItem:
        field = self.name()
        descending = False
        nulls_last: bool | None = None
        if self.at_word("asc", "desc"):
            descending = self.take().word() == "desc"
        if self.at_word("nulls"):
            self.take()
            token = self.take()
            if token.word() not in ("first", "last"):
                raise SoqlError("MALFORMED_QUERY", "NULLS takes FIRST or LAST")
            nulls_last = token.word() == "last"
        # Salesforce's default: nulls first ascending, last descending.
        return OrderItem(field, descending, descending if nulls_last is None else nulls_last)

    def condition(self) -> Condition:
        first = self.unary()
        kind: str | None = None
        parts = [first]
        while self.at_word("and", "or"):
            word = self.take().word()
            if kind is not None and word != kind:
                raise SoqlError(
                    "MALFORMED_QUERY",
                    "AND and OR cannot be mixed without parentheses",
                )
            kind = word
            parts.append(self.unary())
        if kind is None:
            return first
        return Junction(kind, tuple(parts))

    def unary(self) -> Condition:
        if self.at_word("not"):
            self.take()
            return Negation(self.unary())
        token = self.peek()
        if token is not None and token.text == "(":
            self.take()
            inner = self.condition()
            self.expect(")")
            return inner
        return self.comparison()

    def comparison(self) -> Comparison:
        field = self.name()
        token = self.take()
        if token.kind == "op":
            op = "!=" if token.text == "<>" else token.text
            return Comparison(field, op, self.literal())
        word = token.word()
        if word == "like":
            return Comparison(field, "like", self.literal())
        if word == "not" and self.at_word("in"):
            self.take()
            return Comparison(field, "notin", self.literal_list())
        if word == "in":
            return Comparison(field, "in", self.literal_list())
        raise SoqlError(
            "MALFORMED_QUERY", f"expected an operator at position {token.at}, got {token.text!r}"
        )

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect("(")
        items = [self.literal()]
        while self.peek() is not None and self.peek().text == ",":  # type: ignore[union-attr]
            self.take()
            items.append(self.literal())
        self.expect(")")
        return tuple(items)

    def literal(self) -> Literal:
        token = self.take()
        if token.kind == "string":
            value, raw = _unquote(token.text[1:-1])
            return Literal("string", value, raw)
        if token.kind == "number":
            number: int | float = float(token.text) if "." in token.text else int(token.text)
            return Literal("number", number)
        if token.kind == "date":
            try:
                return Literal("date", dt.date.fromisoformat(token.text))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid date {token.text}") from None
        if token.kind == "datetime":
            try:
                return Literal("datetime", _parse_datetime(token.text))
            except ValueError:
                raise SoqlError("MALFORMED_QUERY", f"invalid datetime {token.text}") from None
        word = token.word()
        if word in ("true", "false"):
            return Literal("boolean", word == "true")
        if word == "null":
            return Literal("null", None)
        raise SoqlError(
            "MALFORMED_QUERY", f"expected a value at position {token.at}, got {token.text!r}"
        )


def parse(text: str) -> Query:
    """The query `text` stands for; `SoqlError` (MALFORMED_QUERY) if it is not SOQL we know."""
    return _Parser(text).query()


# -- evaluation -------------------------------------------------------------------------


def _like(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def _check_literal(field: str, kind: str, literal: Literal) -> Any:
    """The literal's value in the field's terms, or SoqlError when Salesforce refuses it."""
    if literal.kind == "null":
        return None
    if kind in TEXT_TYPES:
        if literal.kind != "string":
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{field}' must be of type string and "
                "should be enclosed in quotes",
            )
        return literal.value.replace("\\%", "%").replace("\\_", "_").casefold()
    if kind in NUMBER_TYPES:
        if literal.kind != "number":
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{field}' must be of type {kind} and "
                "should not be enclosed in quotes",
            )
        return literal.value
    if kind == "boolean":
        if literal.kind != "boolean":
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{field}' must be of type boolean and "
                "should not be enclosed in quotes",
            )
        return literal.value
    if kind in ("date", "datetime"):
        if literal.kind != kind:
            raise SoqlError(
                "INVALID_FIELD",
                f"value of filter criterion for field '{field}' must be of type {kind} and "
                "should not be enclosed in quotes",
            )
        return literal.value
    raise SoqlError("INVALID_FIELD", f"field '{field}' of type {kind} can not be filtered")


Predicate = Callable[[Any], bool]
Resolver = Callable[[str], tuple[str, Callable[[Any], Any]]]


def _comparison(cond: Comparison, resolve: Resolver) -> Predicate:
    kind, get = resolve(cond.field)
    text = kind in TEXT_TYPES

    def norm(value: Any) -> Any:
        return value.casefold() if text and isinstance(value, str) else value

    if cond.op == "like":
        if not text or kind == "multipicklist":
            raise SoqlError(
                "INVALID_FIELD",
                f"invalid operator on field '{cond.field}': LIKE needs a text field",
            )
        assert isinstance(cond.literal, Literal)
        if cond.literal.kind != "string":
            raise SoqlError("MALFORMED_QUERY", "LIKE takes a quoted pattern")
        pattern = _like(cond.literal.raw)

        def like(record: Any) -> bool:
            value = get(record)
            return isinstance(value, str) and pattern.fullmatch(value) is not None

        return like
    if cond.op in ("in", "notin"):
        assert isinstance(cond.literal, tuple)
        wanted = {_check_literal(cond.field, kind, lit) for lit in cond.literal}
        inside = cond.op == "in"
        return lambda record: (norm(get(record)) in wanted) == inside
    assert isinstance(cond.literal, Literal)
    target = _check_literal(cond.field, kind, cond.literal)
    op = cond.op
    if target is None:
        if op not in ("=", "!="):
            raise SoqlError("MALFORMED_QUERY", f"null can only be compared with = or !=, not {op}")
        return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)
    if kind == "boolean" and op not in ("=", "!="):
        raise SoqlError("INVALID_FIELD", f"a boolean field '{cond.field}' takes only = or !=")
    compare: Callable[[Any, Any], bool] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]

    def test(record: Any) -> bool:
        value = get(record)
        if value is None:
            return op == "!="  # as SOQL: a null field differs from every value
        return compare(norm(value), target)

    return test


def predicate(cond: Condition, resolve: Resolver) -> Predicate:
    """A test for one record; `resolve(field)` gives the field's type and a getter, or
    raises SoqlError for a field the object does not have."""
    if isinstance(cond, Comparison):
        return _comparison(cond, resolve)
    if isinstance(cond, Negation):
        inner = predicate(cond.inner, resolve)
        return lambda record: not inner(record)
    parts = [predicate(part, resolve) for part in cond.parts]
    if cond.kind == "and":
        return lambda record: all(p(record) for p in parts)
    return lambda record: any(p(record) for p in parts)


def sort_key(
    order: Sequence[OrderItem], resolve: Resolver, records: Sequence[Any]
) -> Callable[[Any], tuple[Any, ...]]:
    """A key for sorting `records` as ORDER BY does (text ignoring case, nulls placed)."""
    getters = []
    for item in order:
        kind, get = resolve(item.field)
        getters.append((item, kind in TEXT_TYPES, get))
    # Ascending with no nulls (the usual `ORDER BY LastModifiedDate, Id`): the values
    # themselves order the records, much faster than the general key.
    plain = all(not item.descending for item in order) and all(
        get(r) is not None for r in records for _, _, get in getters
    )

    def simple(record: Any) -> tuple[Any, ...]:
        values = (get(record) for _, _, get in getters)
        return tuple(
            v.casefold() if text and isinstance(v, str) else v
            for (_, text, _), v in zip(getters, values, strict=True)
        )

    if plain:
        return simple

    def key(record: Any) -> tuple[Any, ...]:
        out: list[Any] = []
        for item, text, get in getters:
            value = get(record)
            if text and isinstance(value, str):
                value = value.casefold()
            null_rank = (1 if item.nulls_last else -1) if value is None else 0
            out.append((null_rank, _Desc(value) if item.descending else _Asc(value)))
        return tuple(out)

    return key


class _Asc:
    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Asc) -> bool:
        if self.v is None or other.v is None:
            return False
        return bool(self.v < other.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Asc) and self.v == other.v

    __hash__ = None  # type: ignore[assignment]


class _Desc(_Asc):
    __slots__ = ()

    def __lt__(self, other: _Asc) -> bool:
        if self.v is None or other.v is None:
            return False
        return bool(other.v < self.v)
