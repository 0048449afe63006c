"""The OData query options the emulator understands: ``$select``, ``$top``, ``$filter``, ``$orderby``,
``$count`` and ``$skiptoken`` paging, with Graph's error codes for everything else.

Collections are paged with a cursor: the skip token carries the position of the next candidate in a
stable ordering of the tenant's users (their list order, or a cached sort for ``$orderby``) plus an
HMAC over that position and the query, so a token from another query or a tampered one is refused
with 400, and paging shows every match exactly once while users are appended. Token form follows
a real Graph capture: ``<64 hex>_<position>``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote

from lib.emulator.error_responses import EmulatedGraphError

# ------------------------------------------------------------------------------------ query options

def parse_query(raw: str, supported: frozenset[str]) -> dict[str, str]:
    """System query options (``$``-prefixed, names lower-cased) of a query string.

    Options outside ``supported`` and repeated options are refused the way Graph refuses them;
    parameters without a ``$`` are ignored.
    """
    options: dict[str, str] = {}
    if not raw:
        return options
    for key, value in parse_qsl(raw, keep_blank_values=True):
        if not key.startswith("$"):
            continue
        name = key.lower()
        if name in options:
            raise EmulatedGraphError(400, "BadRequest", f"Query option '{key}' was specified more than once, "
                             "but it must be specified at most once.")
        if name not in supported:
            raise EmulatedGraphError(400, "Request_BadRequest", f"'{key}' is not supported by the service.")
        options[name] = value
    return options


def parse_top(value: str | None, default: int, maximum: int = 999) -> int:
    """``$top`` as an int in 1..maximum, else 400 as Graph words it."""
    if value is None:
        return default
    try:
        top = int(value)
    except ValueError:
        raise EmulatedGraphError(400, "BadRequest", f"Invalid $top query option value '{value}'.") from None
    if not 1 <= top <= maximum:
        raise EmulatedGraphError(400, "Request_BadRequest",
                         f"Invalid page size specified: '{top}'. Must be between 1 and {maximum} inclusive.")
    return top


def parse_select(value: str | None, known: Mapping[str, str], type_name: str) -> tuple[str, ...] | None:
    """``$select`` as Graph-spelled names (case-insensitive), or None when absent."""
    if value is None:
        return None
    names: list[str] = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        canonical = known.get(part.lower())
        if canonical is None:
            raise EmulatedGraphError(400, "Request_BadRequest",
                             f"Could not find a property named '{part}' on type '{type_name}'.")
        if canonical not in names:
            names.append(canonical)
    if not names:
        raise EmulatedGraphError(400, "BadRequest", "Invalid $select query option: the list of properties is empty.")
    return tuple(names)


def wants_count(value: str | None) -> bool:
    """``$count=true|false``; anything else is a 400."""
    if value is None:
        return False
    lowered = value.lower()
    if lowered not in ("true", "false"):
        raise EmulatedGraphError(400, "BadRequest", f"Invalid value '{value}' for $count query option found. "
                         "The $count query option requires a Boolean value.")
    return lowered == "true"


def parse_orderby(value: str | None, allowed: Mapping[str, str]) -> tuple[str, bool] | None:
    """``$orderby=<prop> [asc|desc]`` → (Graph name, descending), only on ``allowed`` properties."""
    if value is None:
        return None
    parts = value.strip().split()
    if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1].lower() not in ("asc", "desc")):
        raise EmulatedGraphError(400, "BadRequest", f"Invalid $orderby query option value '{value}'.")
    name = allowed.get(parts[0].lower())
    if name is None:
        raise EmulatedGraphError(400, "Request_UnsupportedQuery", f"Sorting by '{parts[0]}' is not supported.")
    return name, len(parts) == 2 and parts[1].lower() == "desc"


# ------------------------------------------------------------------------------------------ $filter

@dataclass(frozen=True, slots=True)
class FilterField:
    """A property ``$filter`` may name, and what it supports."""

    name: str
    kind: str
    """'bool' | 'str' | 'list' (a collection of strings, filtered with ``any``)."""
    get: Callable[[Any], Any]
    eq: bool = True
    starts_with: bool = False
    in_values: bool = False
    """Whether ``prop in ('a','b',…)`` is served (at most ``MAX_IN_VALUES`` values, as Graph)."""


MAX_IN_VALUES = 15
"""Graph's limit on the values of one ``in`` without advanced queries (docs/graph.md)."""


_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<word>[A-Za-z_][A-Za-z0-9_.]*)|(?P<num>-?\d+)"
                    r"|(?P<punct>[(),/:]))")


def _tokenize(text: str) -> tuple[list[tuple[str, str]], list[int]]:
    """Tokens (kind, text) and the character offset each starts at."""
    tokens: list[tuple[str, str]] = []
    offsets: list[int] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise EmulatedGraphError(400, "BadRequest",
                             f"Invalid filter clause: Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
        offsets.append(m.start(kind))
        pos = m.end()
    return tokens, offsets


Predicate = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class InPredicate:
    """``prop in (…)`` on its own: a route may look the values up in an index instead of scanning."""

    field: str
    get: Callable[[Any], Any]
    values: tuple[str, ...]
    """Lower-cased, in the order asked, without repeats."""

    def __call__(self, obj: Any) -> bool:
        return (self.get(obj) or "").lower() in self.values

_UNSUPPORTED_OPS = {"ne", "gt", "ge", "lt", "le", "in", "has", "or", "not"}


class _FilterParser:
    def __init__(self, text: str, fields: Mapping[str, FilterField], resource: str) -> None:
        self.text = text
        self.tokens, self.offsets = _tokenize(text)
        self.pos = 0
        self.fields = {k.lower(): v for k, v in fields.items()}
        self.resource = resource

    # helpers
    def _syntax(self, detail: str = "") -> EmulatedGraphError:
        where = f" {detail}" if detail else ""
        at = self.offsets[self.pos] if self.pos < len(self.offsets) else len(self.text.rstrip())
        return EmulatedGraphError(400, "BadRequest", f"Invalid filter clause: Syntax error at position {at} in "
                          f"'{self.text}'.{where}")

    def _peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _next(self) -> tuple[str, str]:
        tok = self._peek()
        if tok is None:
            raise self._syntax()
        self.pos += 1
        return tok

    def _expect(self, value: str) -> None:
        _, text = self._next()
        if text.lower() != value:
            self.pos -= 1
            raise self._syntax()

    def _unsupported_field(self, name: str) -> EmulatedGraphError:
        return EmulatedGraphError(400, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause "
                          f"specified for property '{name}' of resource '{self.resource}'.")

    def _unsupported_op(self, op: str) -> EmulatedGraphError:
        return EmulatedGraphError(400, "Request_UnsupportedQuery", f"Unsupported query operator '{op}'.")

    def _field(self, name: str) -> FilterField:
        field = self.fields.get(name.lower())
        if field is None:
            raise self._unsupported_field(name)
        return field

    def _literal(self) -> tuple[str, Any]:
        kind, text = self._next()
        if kind == "str":
            return "Edm.String", text[1:-1].replace("''", "'")
        if kind == "word" and text.lower() in ("true", "false"):
            return "Edm.Boolean", text.lower() == "true"
        if kind == "word" and text.lower() == "null":
            return "null", None
        if kind == "num":
            return "Edm.Int32", int(text)
        self.pos -= 1
        raise self._syntax()

    @staticmethod
    def _mismatch(expected: str, found: str) -> EmulatedGraphError:
        return EmulatedGraphError(400, "BadRequest", "Invalid filter clause: A binary operator with incompatible "
                          f"types was detected. Found operand types '{expected}' and '{found}' for operator "
                          "kind 'Equal'.")

    # grammar
    def parse(self) -> Predicate:
        if not self.tokens:
            raise EmulatedGraphError(400, "BadRequest",
                             "Invalid filter clause: The $filter expression must not be empty.")
        pred = self._expr()
        if self._peek() is not None:
            tok = self._peek()
            if tok and tok[1].lower() in _UNSUPPORTED_OPS:
                raise self._unsupported_op(tok[1])
            raise self._syntax()
        return pred

    def _expr(self) -> Predicate:
        terms = [self._term()]
        while (tok := self._peek()) is not None and tok[0] == "word" and tok[1].lower() == "and":
            self.pos += 1
            terms.append(self._term())
        if len(terms) == 1:
            return terms[0]
        return lambda obj: all(t(obj) for t in terms)

    def _term(self) -> Predicate:
        kind, text = self._next()
        if kind == "punct" and text == "(":
            inner = self._expr()
            self._expect(")")
            return inner
        if kind != "word":
            self.pos -= 1
            raise self._syntax()
        lowered = text.lower()
        if lowered == "not":
            raise self._unsupported_op(text)
        nxt = self._peek()
        if nxt is not None and nxt[1] == "(":
            return self._function(text)
        if nxt is not None and nxt[1] == "/":
            return self._any(text)
        field = self._field(text)
        _, op = self._next()
        if op.lower() == "in" and field.in_values:
            return self._in(field)
        if op.lower() != "eq":
            if op.lower() in _UNSUPPORTED_OPS:
                raise self._unsupported_op(op)
            self.pos -= 1
            raise self._syntax()
        if not field.eq or field.kind == "list":
            raise self._unsupported_field(field.name)
        lit_type, value = self._literal()
        expected = "Edm.Boolean" if field.kind == "bool" else "Edm.String"
        if lit_type != expected:
            raise self._mismatch(expected, lit_type)
        get = field.get
        if field.kind == "bool":
            return lambda obj: get(obj) is value
        folded = value.lower()
        return lambda obj: (get(obj) or "").lower() == folded

    def _in(self, field: FilterField) -> Predicate:
        """``prop in ('a', 'b')``: a string in a list, folded like ``eq``; Graph counts each value as a clause."""
        self._expect("(")
        values: list[str] = []
        while True:
            lit_type, value = self._literal()
            if lit_type != "Edm.String":
                raise self._mismatch("Edm.String", lit_type)
            values.append(value.lower())
            _, sep = self._next()
            if sep == ")":
                break
            if sep != ",":
                self.pos -= 1
                raise self._syntax()
        if len(values) > MAX_IN_VALUES:
            raise EmulatedGraphError(400, "Request_UnsupportedQuery", "Too many child clauses specified in search "
                                     "filter expression containing 'OR' operators: "
                                     f"{len(values)}. Max allowed: {MAX_IN_VALUES}.")
        return InPredicate(field.name, field.get, tuple(dict.fromkeys(values)))

    def _function(self, name: str) -> Predicate:
        if name.lower() != "startswith":
            raise EmulatedGraphError(400, "Request_UnsupportedQuery", f"Unsupported query function '{name}'.")
        self._expect("(")
        kind, prop = self._next()
        if kind != "word":
            self.pos -= 1
            raise self._syntax()
        field = self._field(prop)
        self._expect(",")
        lit_type, value = self._literal()
        self._expect(")")
        if not field.starts_with:
            raise self._unsupported_field(field.name)
        if lit_type != "Edm.String":
            raise self._mismatch("Edm.String", lit_type)
        folded = value.lower()
        get = field.get
        return lambda obj: (get(obj) or "").lower().startswith(folded)

    def _any(self, name: str) -> Predicate:
        field = self._field(name)
        self._expect("/")
        kind, fn = self._next()
        if fn.lower() != "any":
            raise EmulatedGraphError(400, "Request_UnsupportedQuery", f"Unsupported query function '{fn}'.")
        self._expect("(")
        kind, var = self._next()
        if kind != "word":
            self.pos -= 1
            raise self._syntax()
        self._expect(":")
        kind, ref = self._next()
        if ref != var:
            self.pos -= 1
            raise self._syntax(f"Could not find a property named '{ref}'.")
        kind, op = self._next()
        if op.lower() != "eq":
            raise self._unsupported_op(op)
        lit_type, value = self._literal()
        self._expect(")")
        if field.kind != "list":
            raise self._unsupported_field(field.name)
        if lit_type != "Edm.String":
            raise self._mismatch("Edm.String", lit_type)
        folded = value.lower()
        get = field.get
        return lambda obj: any(v.lower() == folded for v in get(obj))


def parse_filter(text: str | None, fields: Mapping[str, FilterField], resource: str) -> Predicate | None:
    """A predicate for ``$filter`` (None when absent).

    Grammar: clauses joined with ``and`` (parentheses allowed); a clause is ``prop eq literal``,
    ``prop in ('a','b')`` (where the field serves it), ``startsWith(prop,'x')`` or
    ``prop/any(x:x eq 'v')``. String comparisons ignore case like Entra. Syntax errors are 400
    ``BadRequest`` "Invalid filter clause…"; well-formed filters on properties or operators the
    service does not support are 400 ``Request_UnsupportedQuery``.
    """
    if text is None:
        return None
    return _FilterParser(text, fields, resource).parse()


# ------------------------------------------------------------------------------------------- paging

class SkipTokens:
    """Signs and checks skip tokens with a key that never leaves the process."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, context: str, position: int) -> str:
        return hmac.new(self._key, f"{context}\n{position}".encode(), hashlib.sha256).hexdigest()

    def make(self, context: str, position: int) -> str:
        return f"{self._mac(context, position)}_{position}"

    def read(self, token: str, context: str) -> int:
        """The position a token stands for; 400 when it was not issued for this exact query."""
        mac, _, pos = token.partition("_")
        if pos.isdigit() and hmac.compare_digest(mac, self._mac(context, int(pos))):
            return int(pos)
        raise EmulatedGraphError(400, "Request_BadRequest",
                         "The specified page token value is invalid or has expired.")


def query_context(path: str, options: Mapping[str, str]) -> str:
    """What a skip token is bound to: the resource path and every option but ``$skiptoken``."""
    parts = sorted((k, v) for k, v in options.items() if k != "$skiptoken")
    return path + "?" + "&".join(f"{k}={v}" for k, v in parts)


def next_link(base: str, path: str, options: Mapping[str, str], token: str) -> str:
    """The absolute ``@odata.nextLink``: same path and options, plus ``$skiptoken``."""
    items = [(k, v) for k, v in options.items() if k != "$skiptoken"] + [("$skiptoken", token)]
    query = "&".join(f"{k}={quote(v, safe=chr(39) + '(),:@$')}" for k, v in items)
    return f"{base}/{path}?{query}"


def scan(
    count: int, at: Callable[[int], Any], start: int, top: int, predicate: Predicate | None
) -> tuple[list[Any], int | None]:
    """Up to ``top`` matches from position ``start`` of an ordering of ``count`` items.

    Returns the matches and the position of the next match (None when there is none), so the last
    page never carries a nextLink and no page is empty.
    """
    out: list[Any] = []
    i = start
    if predicate is None:
        end = min(count, start + top)
        out = [at(j) for j in range(start, end)]
        return out, (end if end < count else None)
    while i < count:
        obj = at(i)
        if predicate(obj):
            if len(out) == top:
                return out, i
            out.append(obj)
        i += 1
    return out, None


def count_matches(items: Sequence[Any], predicate: Predicate | None) -> int:
    if predicate is None:
        return len(items)
    return sum(1 for obj in items if predicate(obj))
