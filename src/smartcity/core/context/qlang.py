"""NGSI-LD query language, the ``q`` parameter (ETSI GS CIM 009 v1.8, clause 4.9).

Three parts share one definition of what a query term means:

* :func:`parse_q` turns the text into a small immutable AST;
* :func:`compile_q` turns the AST into a SQLAlchemy WHERE clause: JSON1 functions on SQLite,
  one SQL/JSON path test (``attrs @? jsonpath``) per term on PostgreSQL JSONB;
* :func:`matches_q` evaluates the AST against one entity in Python (subscriptions, tests).

All three work from the same list of JSON *sources* per term (see :func:`_sources`), so the SQL
and the Python evaluator look at exactly the same stored values.

Semantics of a comparison term ``path OP literal``:

* ``attr`` targets the default instance ``attrs[attr][0]``; ``attr.sub`` its sub-attribute;
  ``attr.observedAt`` (or createdAt, modifiedAt, unitCode, datasetId) that member itself;
  ``attr[k1][k2]`` the member ``k2`` of member ``k1`` of the (compound) value;
* the *candidates* are the target value (``value`` of a Property, ``object`` of a Relationship,
  each string of a LanguageProperty's ``languageMap``, the ``@value`` of a typed value such as
  ``{"@type": "DateTime", "@value": ...}``), or, when that value is an array, also each of its
  elements;
* a positive term (``==``, ``>``, ranges, lists, ``~=``) holds when any candidate of the
  literal's type satisfies it: numbers only compare with numbers, strings (quoted strings,
  dates, times, URIs) only with strings, in code-point order, booleans only with booleans;
* a negative term (``!=``, ``!~=``, ``!=`` list or range) holds when the targeted element exists
  and the positive term does not hold, so a value of another type counts as unequal;
* ``!attr`` (an extension) holds when the element does not exist.

Regular expressions follow Python's ``re.search`` (SQLite calls Python through SQLAlchemy's
REGEXP hook); constructs that PostgreSQL's engine would reject or read differently (``\\b``,
named groups, POSIX classes, ...) are refused at parse time.
"""

from __future__ import annotations

import json
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeAlias, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlalchemy.dialects.postgresql import JSONPATH

from smartcity.core.context.errors import BadRequestData, InvalidRequest

MAX_Q_LENGTH = 2000
MAX_DEPTH = 32

# Members of an attribute instance that ``attr.member`` reads directly (they are not
# sub-attributes, so they are neither expanded nor looked up as nested instances).
META_MEMBERS = frozenset({"observedAt", "createdAt", "modifiedAt", "unitCode", "datasetId"})

Scalar: TypeAlias = bool | int | float | str
CompareOp = Literal["==", "!=", ">", ">=", "<", "<="]


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class AttrPath:
    """``attr.sub.sub[key][key]``: an attribute, its sub-attributes, then compound-value keys."""

    attr: str
    subattrs: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Exists:
    """``attr`` alone (the element exists) or, with ``negate``, ``!attr``."""

    path: AttrPath
    negate: bool = False


@dataclass(frozen=True)
class Compare:
    """``attr OP value`` with a single value."""

    path: AttrPath
    op: CompareOp
    value: Scalar


@dataclass(frozen=True)
class AnyOf:
    """``attr==v1,v2,...`` (or ``!=`` with ``negate``)."""

    path: AttrPath
    values: tuple[Scalar, ...]
    negate: bool = False


@dataclass(frozen=True)
class Between:
    """``attr==low..high``, inclusive (or ``!=`` with ``negate``)."""

    path: AttrPath
    low: int | float | str
    high: int | float | str
    negate: bool = False


@dataclass(frozen=True)
class Pattern:
    """``attr~=regex`` (or ``!~=`` with ``negate``); ``re.search`` semantics."""

    path: AttrPath
    regex: str
    negate: bool = False


@dataclass(frozen=True)
class And:
    """``a;b;...``"""

    terms: tuple[QExpr, ...]


@dataclass(frozen=True)
class Or:
    """``a|b|...``"""

    terms: tuple[QExpr, ...]


Leaf: TypeAlias = Exists | Compare | AnyOf | Between | Pattern
QExpr: TypeAlias = Leaf | And | Or


# --------------------------------------------------------------------------- parser

_WS = " \t\r\n"
_OPERATORS = ("==", "!=", "!~=", "~=", ">=", "<=", ">", "<")
_ATOM_STOP = frozenset(';|(),"' + _WS)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_ZONE = r"(?:Z|[+-]\d{2}(?::?\d{2})?)?"
_TIME = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?" + _ZONE
_DATE = r"\d{4}-\d{2}-\d{2}"
_TEMPORAL = re.compile(rf"{_DATE}T{_TIME}|{_DATE}|{_TIME}")
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S+")
_VALUE_HINT = "a value (number, quoted string, true, false, date/time or URI)"
_INT64 = 2**63


def parse_q(text: str) -> QExpr:
    """Parse an NGSI-LD ``q`` expression; raise InvalidRequest on a syntax error."""
    if len(text) > MAX_Q_LENGTH:
        raise InvalidRequest(f"q: longer than {MAX_Q_LENGTH} characters")
    # Control characters have no place in a query, and NUL cannot even reach PostgreSQL.
    bad = next((i for i, ch in enumerate(text) if ord(ch) < 32 and ch not in _WS), None)
    if bad is not None:
        raise InvalidRequest(f"q: control character at position {bad}")
    return _Parser(text).parse()


class _Parser:
    """Recursive descent straight over the characters (no separate lexer)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    # -- helpers

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def _skip_ws(self) -> str:
        while self._peek() and self._peek() in _WS:
            self.pos += 1
        return self._peek()

    def _fail(self, expected: str, pos: int | None = None) -> InvalidRequest:
        at = self.pos if pos is None else pos
        found = repr(self.text[at]) if at < len(self.text) else "end of input"
        return InvalidRequest(f"q: unexpected {found} at position {at}; expected {expected}")

    # -- logical structure: OR of ANDs of primaries

    def parse(self) -> QExpr:
        expr = self._or()
        if self._skip_ws():
            raise self._fail("';', '|' or end of input")
        return expr

    def _or(self) -> QExpr:
        terms = [self._and()]
        while self._skip_ws() == "|":
            self.pos += 1
            terms.append(self._and())
        return terms[0] if len(terms) == 1 else Or(_flatten(terms, Or))

    def _and(self) -> QExpr:
        terms = [self._primary()]
        while self._skip_ws() == ";":
            self.pos += 1
            terms.append(self._primary())
        return terms[0] if len(terms) == 1 else And(_flatten(terms, And))

    def _primary(self) -> QExpr:
        if self._skip_ws() != "(":
            return self._term()
        if self.depth >= MAX_DEPTH:
            raise InvalidRequest(
                f"q: parentheses nested deeper than {MAX_DEPTH} at position {self.pos}"
            )
        self.pos += 1
        self.depth += 1
        expr = self._or()
        if self._skip_ws() != ")":
            raise self._fail("';', '|' or ')'")
        self.pos += 1
        self.depth -= 1
        return expr

    # -- query terms

    def _term(self) -> Leaf:
        if self._peek() == "!":
            self.pos += 1
            return Exists(self._path(), negate=True)
        path = self._path()
        start = self.pos
        op = next((o for o in _OPERATORS if self.text.startswith(o, start)), None)
        if op is None:
            if self._peek() and self._peek() in "=!<>~":
                raise self._fail("an operator (==, !=, >, >=, <, <=, ~=, !~=)")
            return Exists(path)
        self.pos += len(op)
        if op in ("~=", "!~="):
            return Pattern(path, self._regex(), negate=op == "!~=")
        if op in ("==", "!="):
            return self._equality(path, negate=op == "!=")
        value, at = self._atom()
        if isinstance(value, bool):
            raise InvalidRequest(
                f"q: {op} needs a number, a string or a date/time at position {at}, not a boolean"
            )
        return Compare(path, cast(CompareOp, op), value)

    def _equality(self, path: AttrPath, negate: bool) -> Leaf:
        first, at = self._atom()
        if self.text.startswith("..", self.pos):
            self.pos += 2
            high, high_at = self._atom()
            low, high = _range_bounds(first, at, high, high_at)
            return Between(path, low, high, negate)
        values = [first]
        while self._peek() == ",":
            self.pos += 1
            values.append(self._atom()[0])
        if len(values) > 1:
            return AnyOf(path, tuple(values), negate)
        return Compare(path, "!=" if negate else "==", first)

    # -- attribute paths

    def _path(self) -> AttrPath:
        attr = self._name()
        subs: list[str] = []
        while self._peek() == ".":
            self.pos += 1
            subs.append(self._name())
        keys: list[str] = []
        while self._peek() == "[":
            self.pos += 1
            keys.append(self._key())
        return AttrPath(attr, tuple(subs), tuple(keys))

    def _name(self) -> str:
        """``name`` or the compact IRI ``prefix:name``."""
        start = self.pos
        self._word()
        if self._peek() == ":":
            self.pos += 1
            self._word()
        return self.text[start : self.pos]

    def _word(self) -> None:
        ch = self._peek()
        if not (ch.isalpha() or ch == "_"):
            raise self._fail("an attribute name")
        while self._peek() and (self._peek().isalnum() or self._peek() == "_"):
            self.pos += 1

    def _key(self) -> str:
        """A compound-value key up to ``]``; kept verbatim (keys are not expanded)."""
        start = self.pos
        while self._peek() and self._peek() not in '[]"' and self._peek().isprintable():
            self.pos += 1
        if self.pos == start:
            raise self._fail("a key name")
        if self._peek() != "]":
            raise self._fail("']'")
        self.pos += 1
        return self.text[start : self.pos - 1]

    # -- values

    def _atom(self) -> tuple[Scalar, int]:
        """One literal and its position; unquoted ones end at a delimiter or ``..``."""
        start = self.pos
        if self._peek() == '"':
            return self._quoted(keep_escapes=False), start
        while (
            self._peek()
            and self._peek() not in _ATOM_STOP
            and not self.text.startswith("..", self.pos)
        ):
            self.pos += 1
        token = self.text[start : self.pos]
        if not token:
            raise self._fail(_VALUE_HINT)
        return _classify(token, start), start

    def _quoted(self, keep_escapes: bool) -> str:
        """A ``"..."`` string; ``\\"`` is a quote, and ``\\\\`` a backslash unless keep_escapes."""
        start = self.pos
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            nxt = self.text[self.pos + 1 : self.pos + 2]
            if ch == "\\" and (nxt == '"' or (nxt == "\\" and not keep_escapes)):
                out.append(nxt)
                self.pos += 2
            elif ch == "\\" and nxt:
                out.append(ch + nxt)  # kept verbatim: regex escapes must reach the engine
                self.pos += 2
            elif ch == '"':
                self.pos += 1
                return "".join(out)
            else:
                out.append(ch)
                self.pos += 1
        raise InvalidRequest(f"q: unterminated string starting at position {start}")

    def _regex(self) -> str:
        start = self.pos
        if self._peek() == '"':
            pattern = self._quoted(keep_escapes=True)
        else:
            self._scan_regex()
            pattern = self.text[start : self.pos]
        if not pattern:
            raise self._fail("a regular expression", start)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # FutureWarning on sets like "[[" is no error
                re.compile(pattern)
        except re.error as exc:
            raise InvalidRequest(
                f"q: invalid regular expression at position {start}: {exc}"
            ) from None
        construct = _unportable_regex(pattern)
        if construct is not None:
            raise InvalidRequest(
                f"q: regular expression at position {start} uses {construct!r}, "
                "which PostgreSQL does not evaluate like Python; rewrite it portably"
            )
        problem = regex_risk(pattern)
        if problem is not None:
            raise InvalidRequest(f"q: regular expression at position {start} {problem}")
        return pattern

    def _scan_regex(self) -> None:
        """An unquoted regex ends at ``;``, ``|``, ``)`` or a space outside its own groups."""
        depth = 0
        in_class = False
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == "\\":
                self.pos += 2
                continue
            if in_class:
                in_class = ch != "]"
            elif ch == "[":
                in_class = True
            elif ch == "(":
                depth += 1
            elif ch == ")" and depth:
                depth -= 1
            elif ch in ";|)" + _WS and not depth:
                return
            self.pos += 1
        self.pos = min(self.pos, len(self.text))


# Groups Python accepts but PostgreSQL rejects: named groups and references, atomic groups,
# conditionals, scoped flags (?i:...) and the a/L/u flags.
_UNPORTABLE_GROUP = re.compile(r"\(\?(?:P|>|\(|<[^=!]|[aiLmsux-]+:|[imsx]*[aLu])")


#: Longest regular expression accepted in q and idPattern.
MAX_REGEX_LENGTH = 256
# A quantified group holding a quantifier, e.g. (a+)+ or (x*|y)*: the classic shape of
# catastrophic backtracking. Python's re has no time limit, and on SQLite REGEXP runs in
# Python under the GIL, so one such pattern would stall the whole server.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*[*+}](?:[^()\\]|\\.)*\)\s*[*+{]")


def regex_risk(pattern: str) -> str | None:
    """Why a client's regular expression is refused (too long, nested quantifiers), or None."""
    if len(pattern) > MAX_REGEX_LENGTH:
        return f"is longer than {MAX_REGEX_LENGTH} characters"
    if _NESTED_QUANTIFIER.search(pattern):
        return "nests a quantifier inside a quantified group, which can take exponential time"
    return None


def check_regex(pattern: str, name: str) -> str:
    """Validate a client regular expression (syntax, portability, cost); 400 if refused."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise BadRequestData(f"{name} is not a regular expression: {exc}") from None
    construct = _unportable_regex(pattern)
    problem = regex_risk(pattern) or (
        f"uses {construct!r}, which PostgreSQL does not evaluate like Python" if construct else None
    )
    if problem is not None:
        raise BadRequestData(f"{name} {problem}")
    return pattern


def _unportable_regex(pattern: str) -> str | None:
    """The first construct that SQLite/Python and PostgreSQL would not treat alike, if any."""
    i, in_class = 0, False
    while i < len(pattern):
        ch, nxt = pattern[i], pattern[i + 1 : i + 2]
        if ch == "\\":
            # \b is a word boundary in Python but a backspace in PostgreSQL (\B: a backslash).
            if not in_class and nxt in ("b", "B"):
                return ch + nxt
            i += 2
            continue
        if in_class and ch == "[" and nxt in (":", ".", "="):
            return ch + nxt  # POSIX classes such as [[:alpha:]] are plain sets in Python
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
        elif ch == "(" and (match := _UNPORTABLE_GROUP.match(pattern, i)):
            return match.group()
        elif ch in "*+?}" and nxt == "+":
            return ch + nxt  # a possessive quantifier
        i += 1
    return None


def _flatten(terms: list[QExpr], kind: type[And] | type[Or]) -> tuple[QExpr, ...]:
    """Merge nested nodes of the same kind: ``(a;b);c`` is ``a;b;c``."""
    out: list[QExpr] = []
    for term in terms:
        out.extend(term.terms if isinstance(term, kind) else (term,))
    return tuple(out)


def _classify(token: str, pos: int) -> Scalar:
    """Type an unquoted literal: boolean, number, date/time/URI (strings), else an error."""
    if token in ("true", "false"):
        return token == "true"
    if _NUMBER.fullmatch(token):
        return _number(token, pos)
    if _TEMPORAL.fullmatch(token) or _URI.fullmatch(token):
        return token
    raise InvalidRequest(f"q: invalid value {token!r} at position {pos}; expected {_VALUE_HINT}")


def _number(token: str, pos: int) -> int | float:
    if not any(c in token for c in ".eE"):
        value = int(token)
        # SQLite binds 64-bit integers only; larger ones are compared as floats everywhere.
        return value if -_INT64 <= value < _INT64 else float(value)
    result = float(token)
    if not math.isfinite(result):
        raise InvalidRequest(f"q: number out of range at position {pos}")
    return result


def _range_bounds(low: Scalar, low_at: int, high: Scalar, high_at: int) -> tuple[Any, Any]:
    for value, at in ((low, low_at), (high, high_at)):
        if isinstance(value, bool):
            raise InvalidRequest(f"q: a range bound cannot be a boolean (position {at})")
    if isinstance(low, str) != isinstance(high, str):
        raise InvalidRequest(
            f"q: range bounds at positions {low_at} and {high_at} must both be numbers "
            "or both be strings/dates"
        )
    return low, high


# --------------------------------------------------------------------------- shared semantics

Kind = Literal["num", "str", "bool", "regex"]
# How candidates come out of a JSON source: the value itself ("scalar"), the value and, if it
# is an array, its elements ("each"), or the member values of an object ("members").
Mode = Literal["scalar", "each", "members"]
Key: TypeAlias = str | int


@dataclass(frozen=True)
class _Test:
    """One positive test on a single candidate value."""

    kind: Kind
    op: str  # a comparison operator, "range" or "~"
    args: tuple[Any, ...]


def _kind(value: Scalar) -> Kind:
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "num"


def _eq(value: Scalar) -> _Test:
    return _Test(_kind(value), "==", (value,))


def _leaf_tests(leaf: Compare | AnyOf | Between | Pattern) -> tuple[list[_Test], bool]:
    """The positive tests (any may match) and whether the term negates them."""
    if isinstance(leaf, Compare):
        if leaf.op in ("==", "!="):
            return [_eq(leaf.value)], leaf.op == "!="
        return [_Test(_kind(leaf.value), leaf.op, (leaf.value,))], False
    if isinstance(leaf, AnyOf):
        return [_eq(v) for v in leaf.values], leaf.negate
    if isinstance(leaf, Between):
        return [_Test(_kind(leaf.low), "range", (leaf.low, leaf.high))], leaf.negate
    return [_Test("regex", "~", (leaf.regex,))], leaf.negate


def _is_meta(path: AttrPath) -> bool:
    return bool(path.subattrs) and path.subattrs[-1] in META_MEMBERS and not path.keys


def _element_keys(path: AttrPath, expand: Callable[[str], str]) -> tuple[Key, ...]:
    """JSON path (from ``attrs``) of the element a term targets; it must exist for ``!=``."""
    subs = path.subattrs[:-1] if _is_meta(path) else path.subattrs
    keys: list[Key] = [expand(path.attr), 0, *(expand(s) for s in subs)]
    if _is_meta(path):
        keys.append(path.subattrs[-1])
    elif path.keys:
        keys.extend(("value", *path.keys))
    return tuple(keys)


def _sources(
    path: AttrPath, kind: Kind, expand: Callable[[str], str]
) -> list[tuple[tuple[Key, ...], Mode]]:
    """Where the candidate values of a term live, for literals of this kind."""
    base = _element_keys(path, expand)
    if _is_meta(path):
        return [(base, "scalar")]
    if path.keys:
        return [(base, "each")]
    sources: list[tuple[tuple[Key, ...], Mode]] = [((*base, "value"), "each")]
    if kind in ("str", "regex"):
        # Relationship objects, typed values ({"@value": ...}) and language maps only ever
        # hold strings, so number and boolean terms do not need to look there.
        sources += [
            ((*base, "value", "@value"), "scalar"),
            ((*base, "object"), "each"),
            ((*base, "languageMap"), "members"),
        ]
    return sources


def referenced_attributes(expr: QExpr) -> set[str]:
    """Return the top-level attribute terms (unexpanded) that the expression uses."""
    if isinstance(expr, And | Or):
        return set().union(*(referenced_attributes(t) for t in expr.terms))
    return {expr.path.attr}


# --------------------------------------------------------------------------- Python evaluator

_MISSING = object()
_PY_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def matches_q(
    expr: QExpr, attrs: dict[str, list[dict[str, Any]]], expand: Callable[[str], str]
) -> bool:
    """Evaluate a parsed ``q`` against an entity's stored ``attrs`` (same semantics as SQL)."""
    if isinstance(expr, And):
        return all(matches_q(t, attrs, expand) for t in expr.terms)
    if isinstance(expr, Or):
        return any(matches_q(t, attrs, expand) for t in expr.terms)
    present = _lookup(attrs, _element_keys(expr.path, expand)) is not _MISSING
    if isinstance(expr, Exists):
        return present != expr.negate
    tests, negate = _leaf_tests(expr)
    hit = any(
        _py_test(test, value)
        for test in tests
        for keys, mode in _sources(expr.path, test.kind, expand)
        for value in _candidates(_lookup(attrs, keys), mode)
    )
    return present and not hit if negate else hit


def _lookup(doc: Any, keys: tuple[Key, ...]) -> Any:
    for key in keys:
        # Integer keys only index lists and string keys only objects, as in the SQL paths.
        found = (isinstance(key, int) and isinstance(doc, list) and 0 <= key < len(doc)) or (
            isinstance(key, str) and isinstance(doc, dict) and key in doc
        )
        if not found:
            return _MISSING
        doc = doc[key]
    return doc


def _candidates(value: Any, mode: Mode) -> Iterator[Any]:
    if value is _MISSING:
        return
    if mode == "members":
        if isinstance(value, dict):
            yield from value.values()
        return
    yield value
    if mode == "each" and isinstance(value, list):
        yield from value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _py_test(test: _Test, value: Any) -> bool:
    if test.kind == "bool":
        return isinstance(value, bool) and value == test.args[0]
    if not (_is_number(value) if test.kind == "num" else isinstance(value, str)):
        return False
    if test.op == "~":
        return re.search(test.args[0], value) is not None
    if test.op == "range":
        return bool(test.args[0] <= value <= test.args[1])
    return _PY_OPS[test.op](value, test.args[0])


# --------------------------------------------------------------------------- SQL compiler

# (test, JSON path of a source, how to take candidates from it) for every pairing of a term
Probe: TypeAlias = tuple[_Test, tuple[Key, ...], Mode]


class _Backend(Protocol):
    def exists(self, keys: tuple[Key, ...]) -> ColumnElement[bool]: ...

    def hit(self, probes: list[Probe]) -> ColumnElement[bool]: ...

    def prefilter(self, attr_iri: str) -> ColumnElement[bool] | None: ...


def compile_q(
    expr: QExpr,
    attrs_col: ColumnElement[Any],
    dialect: str,
    expand: Callable[[str], str],
) -> ColumnElement[bool]:
    """Compile a parsed ``q`` to a WHERE clause on the ``attrs`` column; never NULL."""
    if dialect == "sqlite":
        return _compile(expr, _Sqlite(attrs_col), expand)
    if dialect in ("postgresql", "postgres"):
        return _compile(expr, _Postgres(attrs_col), expand)
    raise ValueError(f"unsupported SQL dialect {dialect!r}")


def _compile(expr: QExpr, backend: _Backend, expand: Callable[[str], str]) -> ColumnElement[bool]:
    if isinstance(expr, And):
        return sa.and_(*(_compile(t, backend, expand) for t in expr.terms))
    if isinstance(expr, Or):
        return sa.or_(*(_compile(t, backend, expand) for t in expr.terms))
    present = backend.exists(_element_keys(expr.path, expand))
    if isinstance(expr, Exists) and expr.negate:
        return sa.not_(present)
    if isinstance(expr, Exists):
        cond = present
    else:
        tests, negate = _leaf_tests(expr)
        probes = [
            (test, keys, mode)
            for test in tests
            for keys, mode in _sources(expr.path, test.kind, expand)
        ]
        hit = backend.hit(probes)
        cond = sa.and_(present, sa.not_(hit)) if negate else hit
    prefilter = backend.prefilter(expand(expr.path.attr))
    return cond if prefilter is None else sa.and_(prefilter, cond)


def _never_null(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    # Missing JSON gives SQL NULL; coalescing keeps a term two-valued, so NOT works on it.
    return sa.func.coalesce(cond, sa.false(), type_=sa.Boolean)


# -- SQLite (JSON1): json_type() names the type, json_extract() gives the SQL value, and
# json_each() walks an array's elements or an object's member values.


class _SqliteCandidate:
    """One JSON value seen through type-checked accessors (NULL on a type mismatch)."""

    def __init__(self, json_type: ColumnElement[Any], value: ColumnElement[Any]) -> None:
        self.json_type = json_type
        self.value = value

    def matches(self, test: _Test) -> ColumnElement[bool]:
        if test.kind == "bool":
            return self.json_type == ("true" if test.args[0] else "false")
        # CASE rather than AND: SQLite may reorder AND terms, and REGEXP (Python's re.search
        # via SQLAlchemy's pysqlite hook) must never see a number.
        types = ("integer", "real") if test.kind == "num" else ("text",)
        value = sa.case((self.json_type.in_(types), self.value))
        if test.op == "~":
            return value.regexp_match(test.args[0])
        args = [sa.literal(a) for a in test.args]
        if test.op == "range":
            return sa.and_(value >= args[0], value <= args[1])
        return _SQL_OPS[test.op](value, args[0])


_SQL_OPS: dict[str, Callable[[ColumnElement[Any], ColumnElement[Any]], ColumnElement[bool]]] = {
    "==": operator.eq,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


def sqlite_json_path(keys: Sequence[Key]) -> str:
    """A SQLite JSON path: object members by name, array elements by index."""
    parts = []
    for key in keys:
        if isinstance(key, int):
            parts.append(f"[{key}]")
        elif '"' in key:
            # SQLite JSON paths have no escape for a quote inside a quoted label.
            raise InvalidRequest(f"q: unsupported character '\"' in name {key!r}")
        else:
            parts.append(f'."{key}"')
    return "$" + "".join(parts)


class _Sqlite:
    def __init__(self, col: ColumnElement[Any]) -> None:
        self.col = col

    def _path(self, keys: tuple[Key, ...]) -> ColumnElement[Any]:
        return sa.literal(sqlite_json_path(keys))  # a bound parameter, never SQL text

    def exists(self, keys: tuple[Key, ...]) -> ColumnElement[bool]:
        return sa.func.json_type(self.col, self._path(keys)).is_not(None)

    def hit(self, probes: list[Probe]) -> ColumnElement[bool]:
        return _never_null(sa.or_(*(self._probe(*probe) for probe in probes)))

    def _probe(self, test: _Test, keys: tuple[Key, ...], mode: Mode) -> ColumnElement[bool]:
        path = self._path(keys)
        json_type = sa.func.json_type(self.col, path)
        rows = sa.func.json_each(self.col, path).table_valued("type", "value")
        each = (
            sa.select(sa.literal_column("1"))
            .select_from(rows)
            .where(_SqliteCandidate(rows.c.type, rows.c.value).matches(test))
            .exists()
        )
        if mode == "members":
            return sa.and_(json_type == "object", each)
        scalar = _SqliteCandidate(json_type, sa.func.json_extract(self.col, path)).matches(test)
        if mode == "scalar":
            return scalar
        return sa.or_(scalar, sa.and_(json_type == "array", each))

    def prefilter(self, attr_iri: str) -> ColumnElement[bool] | None:
        return None


# -- PostgreSQL (JSONB): a term's tests become one SQL/JSON path run by "@?".
# Strict mode gives the same typing rules as the Python evaluator: a comparison between
# different JSON types, a missing member or "[*]" on a non-array is an error, which inside a
# filter only makes that candidate "unknown" (not a match). It also reads the document once per
# term, where a chain of "->" per candidate would de-TOAST it again and again.


def _jp_literal(value: Scalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON escapes are SQL/JSON path escapes
    return repr(value)


def _jp_predicate(test: _Test) -> str:
    if test.op == "~":
        return "@ like_regex " + json.dumps(test.args[0], ensure_ascii=False)
    if test.op == "range":
        return f"@ >= {_jp_literal(test.args[0])} && @ <= {_jp_literal(test.args[1])}"
    return f"@ {test.op} {_jp_literal(test.args[0])}"


def _jp_probe(test: _Test, keys: tuple[Key, ...], mode: Mode) -> str:
    path = "@" + "".join(
        f"[{k}]" if isinstance(k, int) else "." + json.dumps(k, ensure_ascii=False) for k in keys
    )
    targets = {"scalar": [path], "each": [path, path + "[*]"], "members": [path + ".*"]}[mode]
    return " || ".join(f"exists({t} ? ({_jp_predicate(test)}))" for t in targets)


class _Postgres:
    def __init__(self, col: ColumnElement[Any]) -> None:
        self.col = col

    def exists(self, keys: tuple[Key, ...]) -> ColumnElement[bool]:
        # "->" with typed keys: an integer only indexes arrays and text only objects, as in
        # SQLite paths and the Python evaluator ("#>" would let "0" index an array).
        value = self.col
        for key in keys:
            key_type = sa.Integer() if isinstance(key, int) else sa.Text()
            value = value.op("->")(sa.literal(key, key_type))
        return value.is_not(None)

    def hit(self, probes: list[Probe]) -> ColumnElement[bool]:
        jsonpath = "strict $ ? (" + " || ".join(_jp_probe(*probe) for probe in probes) + ")"
        found = self.col.op("@?")(sa.cast(sa.literal(jsonpath, sa.Text()), JSONPATH))
        return _never_null(found)

    def prefilter(self, attr_iri: str) -> ColumnElement[bool] | None:
        # "attrs ? key" lets a GIN index on attrs narrow the rows before the path test.
        return self.col.op("?")(sa.literal(attr_iri, sa.Text()))


# --------------------------------------------------------------------------- attribute index
# The broker keeps, per entity, the values a positive number or string test on a top-level
# attribute can match (attr_index). Terms of that shape are answered from its B-tree indexes
# instead of reading every entity's JSON. Both sides reuse _sources/_candidates, so the index
# holds exactly what the JSON evaluators look at.

#: Longer strings are not indexed; a marker row (num and txt NULL) sends tests to the JSON.
INDEXED_STRING_MAX = 256
IndexEntry: TypeAlias = tuple[str, float | None, str | None]
_EXACT_FLOAT_INT = 2**53


def index_entries(attrs: dict[str, list[dict[str, Any]]]) -> list[IndexEntry]:
    """(attribute IRI, number, string) rows of the attribute index for stored ``attrs``.

    The places read mirror ``_sources`` for a plain attribute path (default instance; its
    value or the value's elements; for strings also ``@value``, ``object`` and the language
    map). Written out rather than derived from ``_sources`` because it runs for every value
    written; tests/core/context/test_attr_index.py holds the two to the same answers.
    """
    entries: dict[IndexEntry, None] = {}
    for iri, instances in attrs.items():
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict):
            continue
        for kind, value in _index_candidates(instances[0]):
            entry = _index_entry(iri, kind, value)
            if entry is not None:
                entries[entry] = None
    return list(entries)


def _index_candidates(instance: dict[str, Any]) -> Iterator[tuple[Kind, Any]]:
    if "value" in instance:
        value = instance["value"]
        for item in _candidates(value, "each"):
            yield ("num", item)
            yield ("str", item)
        if isinstance(value, dict) and "@value" in value:
            yield ("str", value["@value"])
    if "object" in instance:
        for item in _candidates(instance["object"], "each"):
            yield ("str", item)
    if "languageMap" in instance:
        for item in _candidates(instance["languageMap"], "members"):
            yield ("str", item)


def _index_entry(iri: str, kind: Kind, value: Any) -> IndexEntry | None:
    if kind == "num" and _is_number(value):
        if isinstance(value, int) and abs(value) > _EXACT_FLOAT_INT:
            return (iri, None, None)  # not exact as a float: the JSON decides
        return (iri, float(value), None)
    if kind == "str" and isinstance(value, str):
        return (iri, None, value) if len(value) <= INDEXED_STRING_MAX else (iri, None, None)
    return None


@dataclass(frozen=True)
class IndexTest:
    """A positive test the attribute index can answer: kind "num"/"str", op, arguments."""

    kind: str
    op: str  # ==, >, >=, <, <= or "range"
    args: tuple[Any, ...]


def index_tests(expr: QExpr) -> list[IndexTest] | None:
    """The index tests equivalent to a leaf term (any may match), or None if it has none."""
    if not isinstance(expr, Compare | AnyOf | Between) or expr.path.subattrs or expr.path.keys:
        return None
    tests, negate = _leaf_tests(expr)
    if negate or any(test.kind not in ("num", "str") for test in tests):
        return None
    return [IndexTest(test.kind, test.op, test.args) for test in tests]
