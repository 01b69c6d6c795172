"""NGSI-LD query language: parser, Python evaluator, SQL on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from smartcity.core.context.errors import InvalidRequest
from smartcity.core.context.qlang import (
    MAX_DEPTH,
    MAX_Q_LENGTH,
    And,
    AnyOf,
    AttrPath,
    Between,
    Compare,
    Exists,
    Or,
    Pattern,
    compile_q,
    matches_q,
    parse_q,
    referenced_attributes,
)
from tests.servers import server_missing

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
PREFIXES = {"schema": "https://schema.org/"}
PG_URL = os.environ.get(
    "SMARTCITY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def expand(term: str) -> str:
    """The tests' stand-in for @context expansion: compact IRIs and the default vocabulary."""
    prefix, sep, name = term.partition(":")
    return PREFIXES[prefix] + name if sep else DEFAULT + term


def x(term: str) -> str:
    return DEFAULT + term


def prop(value: Any, **extra: Any) -> list[dict[str, Any]]:
    return [{"type": "Property", "value": value, **extra}]


def rel(obj: Any) -> list[dict[str, Any]]:
    return [{"type": "Relationship", "object": obj}]


# --------------------------------------------------------------------------- parser


def p(attr: str, *subs: str, keys: tuple[str, ...] = ()) -> AttrPath:
    return AttrPath(attr, subs, keys)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("a", Exists(p("a"))),
        ("!a", Exists(p("a"), negate=True)),
        ("a==1", Compare(p("a"), "==", 1)),
        ("a!=1", Compare(p("a"), "!=", 1)),
        ("a>1", Compare(p("a"), ">", 1)),
        ("a>=1", Compare(p("a"), ">=", 1)),
        ("a<1", Compare(p("a"), "<", 1)),
        ("a<=1", Compare(p("a"), "<=", 1)),
        ("a==-1.5", Compare(p("a"), "==", -1.5)),
        ("a==1e3", Compare(p("a"), "==", 1000.0)),
        ("a==true", Compare(p("a"), "==", True)),
        ("a!=false", Compare(p("a"), "!=", False)),
        ('a=="x y"', Compare(p("a"), "==", "x y")),
        ('a=="say \\"hi\\" \\\\ \\d"', Compare(p("a"), "==", 'say "hi" \\ \\d')),
        ('a==""', Compare(p("a"), "==", "")),
        ("a>2024-01-01T00:00:00Z", Compare(p("a"), ">", "2024-01-01T00:00:00Z")),
        ("a>2024-01-01T00:00:00.5+07:00", Compare(p("a"), ">", "2024-01-01T00:00:00.5+07:00")),
        ("a<2024-01-01", Compare(p("a"), "<", "2024-01-01")),
        ("a<=12:30:00Z", Compare(p("a"), "<=", "12:30:00Z")),
        ("a==urn:ngsi-ld:X:1", Compare(p("a"), "==", "urn:ngsi-ld:X:1")),
        ("a==https://example.org/x?y=1", Compare(p("a"), "==", "https://example.org/x?y=1")),
        ("a==99999999999999999999", Compare(p("a"), "==", 1e20)),
        ("a==1,2,3", AnyOf(p("a"), (1, 2, 3))),
        ('a!=1,"x",true', AnyOf(p("a"), (1, "x", True), negate=True)),
        ("a==1..5", Between(p("a"), 1, 5)),
        ("a!=-5..-1.5", Between(p("a"), -5, -1.5, negate=True)),
        ('a=="a".."m"', Between(p("a"), "a", "m")),
        ("a==2024-01-01..2024-12-31", Between(p("a"), "2024-01-01", "2024-12-31")),
        ("a~=^ab+", Pattern(p("a"), "^ab+")),
        ("a!~=x", Pattern(p("a"), "x", negate=True)),
        ("a~=(?i)cần", Pattern(p("a"), "(?i)cần")),
        ('a~="x|y;z \\"q\\" \\d"', Pattern(p("a"), 'x|y;z "q" \\d')),
        ("a~=[)|;]\\)", Pattern(p("a"), "[)|;]\\)")),
        ("a.b==1", Compare(p("a", "b"), "==", 1)),
        ("a.b.c", Exists(p("a", "b", "c"))),
        ("a[b]==1", Compare(p("a", keys=("b",)), "==", 1)),
        ("a[b][c-d]", Exists(p("a", keys=("b", "c-d")))),
        ("a.b[c]==1", Compare(p("a", "b", keys=("c",)), "==", 1)),
        ("schema:name==1", Compare(p("schema:name"), "==", 1)),
        ("a.schema:b", Exists(p("a", "schema:b"))),
        ("nhiệt_độ2>1", Compare(p("nhiệt_độ2"), ">", 1)),
        ("_a", Exists(p("_a"))),
    ],
)
def test_parse_terms(q: str, expected: Any) -> None:
    assert parse_q(q) == expected


A, B, C, D = (Exists(p(n)) for n in "abcd")


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("a;b", And((A, B))),
        ("a|b", Or((A, B))),
        ("a|b;c", Or((A, And((B, C))))),
        ("a;b|c;d", Or((And((A, B)), And((C, D))))),
        ("(a|b);c", And((Or((A, B)), C))),
        ("a;(b|c)", And((A, Or((B, C))))),
        ("(a;b);c", And((A, B, C))),
        ("a|(b|c)", Or((A, B, C))),
        ("((a))", A),
        (" ( a | b ) ; c ", And((Or((A, B)), C))),
        ("a ;b| c", Or((And((A, B)), C))),
        ("a~=(x|y)|b", Or((Pattern(p("a"), "(x|y)"), B))),
        ("a~=x|b", Or((Pattern(p("a"), "x"), B))),
        ("(a~=x)", Pattern(p("a"), "x")),
        ("a==1;b", And((Compare(p("a"), "==", 1), B))),
    ],
)
def test_parse_logic(q: str, expected: Any) -> None:
    assert parse_q(q) == expected


@pytest.mark.parametrize(
    ("q", "message"),
    [
        ("", "unexpected end of input at position 0; expected an attribute name"),
        ("a==1)", "unexpected ')' at position 4; expected ';', '|' or end of input"),
        ("(a==1", "unexpected end of input at position 5; expected ';', '|' or ')'"),
        ("(a==1 b)", "unexpected 'b' at position 6; expected ';', '|' or ')'"),
        ("a==", "unexpected end of input at position 3; expected a value"),
        ("a==;b", "unexpected ';' at position 3; expected a value"),
        ("a == 1", "unexpected '=' at position 2; expected ';', '|' or end of input"),
        ("a=1", "unexpected '=' at position 1; expected an operator"),
        ("a!1", "unexpected '!' at position 1; expected an operator"),
        ("a==abc", "invalid value 'abc' at position 3"),
        ('a=="abc', "unterminated string starting at position 3"),
        ("a>true", "at position 2, not a boolean"),
        ("a==1..x", "invalid value 'x' at position 6"),
        ('a==1.."x"', "range bounds at positions 3 and 6 must both be numbers"),
        ("a==true..2", "range bound cannot be a boolean (position 3)"),
        ("a;;b", "unexpected ';' at position 2; expected an attribute name"),
        ("a|", "unexpected end of input at position 2; expected an attribute name"),
        ("a.", "unexpected end of input at position 2; expected an attribute name"),
        ("a.1", "unexpected '1' at position 2; expected an attribute name"),
        ("1a==1", "unexpected '1' at position 0; expected an attribute name"),
        ("a[b", "unexpected end of input at position 3; expected ']'"),
        ("a[]", "unexpected ']' at position 2; expected a key name"),
        ("a[b]c", "unexpected 'c' at position 4; expected ';', '|' or end of input"),
        ("a~=", "unexpected end of input at position 3; expected a regular expression"),
        ("a~=(", "invalid regular expression at position 3"),
        ("a==1,", "unexpected end of input at position 5; expected a value"),
        ("a==1..", "unexpected end of input at position 6; expected a value"),
        ("a==1e999", "number out of range at position 3"),
        ("()", "unexpected ')' at position 1; expected an attribute name"),
        ("http://x/a==1", "unexpected '/' at position 5"),
        ("a==\x00", "control character at position 3"),
        ("a~=(?P<n>x)", "position 3 uses '(?P', which PostgreSQL does not evaluate like Python"),
        ("a~=(?i:x)", "uses '(?i:'"),
        ("a~=x++", "uses '++'"),
        ("a~=[[:upper:]]", "uses '[:'"),
        ("a~=\\bx", "uses '\\\\b'"),
    ],
)
def test_parse_errors(q: str, message: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        parse_q(q)
    assert info.value.detail.startswith("q: ")
    assert message in info.value.detail


def test_parse_limits() -> None:
    parse_q("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH)
    with pytest.raises(InvalidRequest, match="nested deeper than 32 at position 32"):
        parse_q("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(InvalidRequest, match="longer than 2000"):
        parse_q("a" * (MAX_Q_LENGTH + 1))
    parse_q("a" * MAX_Q_LENGTH)


def test_referenced_attributes() -> None:
    expr = parse_q('(a.b==1|!c);d[e]~=x;schema:f==1..2;a=="z"')
    assert referenced_attributes(expr) == {"a", "c", "d", "schema:f"}


# --------------------------------------------------------------------------- evaluation data

ENTITIES: dict[str, dict[str, list[dict[str, Any]]]] = {
    "urn:e:1": {
        x("temperature"): [
            {
                "type": "Property",
                "value": 21.5,
                "observedAt": "2024-01-01T10:00:00Z",
                "unitCode": "CEL",
                x("accuracy"): {
                    "type": "Property",
                    "value": 0.1,
                    x("source"): {"type": "Property", "value": "calibration"},
                },
                x("calibration"): {"type": "Property", "value": {"by": "lab", "year": 2023}},
            }
        ],
        x("name"): prop("Ninh Kiều"),
        x("status"): prop("open"),
        x("count"): prop(5),
        x("active"): prop(True),
        x("category"): prop(["park", "green", 7]),
        x("address"): prop({"street": "Hoà Bình", "city": {"name": "Cần Thơ"}, "number": 12}),
        x("refOwner"): rel("urn:ngsi-ld:Person:1"),
        x("label"): [{"type": "LanguageProperty", "languageMap": {"vi": "Cầu", "en": "Bridge"}}],
        x("dateIssued"): prop({"@type": "DateTime", "@value": "2024-03-01T00:00:00Z"}),
        x("code"): prop("5"),
        x("opensAt"): prop("08:30:00"),
    },
    "urn:e:2": {
        x("temperature"): [
            {"type": "Property", "value": 30, "observedAt": "2024-06-01T00:00:00Z"},
            {"type": "Property", "value": 99, "datasetId": "urn:ngsi-ld:Dataset:b"},
        ],
        x("name"): prop("Cái Răng"),
        x("status"): prop("closed"),
        x("count"): prop(10),
        x("active"): prop(False),
        x("category"): prop("market"),
        x("address"): prop({"street": "Ba Tháng Hai", "number": "12A"}),
        x("refOwner"): rel("urn:ngsi-ld:Person:2"),
        x("code"): prop(5),
        x("openedOn"): prop("2020-05-01"),
    },
    "urn:e:3": {
        x("temperature"): prop("hot"),
        x("name"): prop('ab"c'),
        x("status"): prop("Open"),
        x("count"): prop(-3),
        x("active"): prop("true"),
        x("refOwner"): rel(["urn:ngsi-ld:Person:1", "urn:ngsi-ld:Person:3"]),
        x("address"): prop("not a compound value"),
    },
    "urn:e:4": {
        x("name"): prop("line1\nline2"),
        x("count"): prop(0.0),
        x("humidity"): prop(80),
        "https://schema.org/name": prop("Four"),
        x("category"): prop([["nested"], {"k": "park"}]),
    },
    "urn:e:5": {
        x("temperature"): prop(None),
        x("refOwner"): rel("urn:ngsi-ld:Person:x'; DROP TABLE entities; --"),
    },
}

CASES: list[tuple[str, set[int]]] = [
    # existence
    ("temperature", {1, 2, 3, 5}),
    ("!temperature", {4}),
    ("humidity", {4}),
    ("nothing", set()),
    ("!nothing", {1, 2, 3, 4, 5}),
    # numbers: only numeric stored values compare
    ("temperature==21.5", {1}),
    ("temperature==30", {2}),
    ("temperature==30.0", {2}),
    ("temperature==99", set()),  # a datasetId instance, not the default one
    ("temperature>21.5", {2}),
    ("temperature>=21.5", {1, 2}),
    ("temperature<25", {1}),
    ("temperature<=30", {1, 2}),
    ("temperature!=21.5", {2, 3, 5}),
    ("temperature==21.5,30", {1, 2}),
    ("temperature!=21.5,30", {3, 5}),
    ("temperature==20..25", {1}),
    ("temperature==21.5..30", {1, 2}),
    ("temperature!=20..25", {2, 3, 5}),
    ("temperature==true", set()),
    ("count==-3", {3}),
    ("count>=0", {1, 2, 4}),
    ("count==0", {4}),
    ("count==-5..0", {3, 4}),
    ("count==-5..-1", {3}),
    ("count>1e0", {1, 2}),
    ("code==5", {2}),
    ('code=="5"', {1}),
    ("nothing!=5", set()),
    ("nothing<5", set()),
    # strings: code-point order, whatever the database collation
    ('temperature=="hot"', {3}),
    ('name=="Cái Răng"', {2}),
    ('name=="ab\\"c"', {3}),
    ('status=="open"', {1}),
    ('status!="open"', {2, 3}),
    ('status>"A"', {1, 2, 3}),
    ('status<"a"', {3}),
    ('status=="a".."p"', {1, 2}),
    ('status>="open"', {1}),
    ("opensAt<09:00:00", {1}),
    ("openedOn==2020-05-01", {2}),
    ("openedOn<2021-01-01T00:00:00Z", {2}),
    # booleans
    ("active==true", {1}),
    ("active==false", {2}),
    ("active!=true", {2, 3}),
    ('active=="true"', {3}),
    # arrays: any element
    ('category=="park"', {1}),
    ('category=="market"', {2}),
    ("category==7", {1}),
    ('category!="park"', {2, 4}),
    ("category~=^gr", {1}),
    ('category=="nested"', set()),
    # patterns
    ("name~=Ninh", {1}),
    ("name~=(?i)NINH", {1}),
    ("name~=Kiều$", {1}),
    ("name!~=Ninh", {2, 3, 4}),
    ('name~="^line2"', set()),
    ('name~="line1.line2"', set()),
    ('name~="line1\\nline2"', {4}),
    ("name~=^(Cái|Ninh)", {1, 2}),
    ("name~=[0-9]", {4}),
    ("temperature~=o", {3}),
    ("name~=(?<=Ninh )K", {1}),
    ("name~=(?<!Ninh )Kiều", set()),
    ("name~=(?:Cái|Ninh) ", {1, 2}),
    ("name~=(?#comment)line\\d", {4}),
    ('name~="[A-Z]\\w+ R"', {2}),
    ("name~=(?i)KIỀU", {1}),
    ("count~=5", set()),
    ("count!~=5", {1, 2, 3, 4}),
    # compound values
    ('address[street]=="Hoà Bình"', {1}),
    ('address[city][name]=="Cần Thơ"', {1}),
    ("address[number]==12", {1}),
    ('address[number]=="12A"', {2}),
    ("address[number]", {1, 2}),
    ("address[city]", {1}),
    ("address[number]!=12", {2}),
    ("address[city]!=12", {1}),
    ("address[zip]!=12", set()),
    ("address[street]~=^Ba", {2}),
    # relationships
    ("refOwner==urn:ngsi-ld:Person:1", {1, 3}),
    ('refOwner=="urn:ngsi-ld:Person:2"', {2}),
    ("refOwner!=urn:ngsi-ld:Person:1", {2, 5}),
    ("refOwner==urn:ngsi-ld:Person:2,urn:ngsi-ld:Person:3", {2, 3}),
    ("refOwner~=Person:3$", {3}),
    ("refOwner==5", set()),
    ('refOwner=="urn:ngsi-ld:Person:x\'; DROP TABLE entities; --"', {5}),
    # language maps: any language
    ('label=="Bridge"', {1}),
    ('label=="Cầu"', {1}),
    ("label~=^Bri", {1}),
    ('label!="Bridge"', set()),
    ('label!="Pont"', {1}),
    # typed values ({"@value": ...})
    ("dateIssued>2024-01-01T00:00:00Z", {1}),
    ("dateIssued==2024-01-01..2024-12-31", {1}),
    ('dateIssued=="DateTime"', set()),
    # sub-attributes and instance members
    ("temperature.accuracy", {1}),
    ("temperature.accuracy==0.1", {1}),
    ("temperature.accuracy<1", {1}),
    ("temperature.accuracy!=0.1", set()),
    ('temperature.accuracy.source=="calibration"', {1}),
    ('temperature.calibration[by]=="lab"', {1}),
    ("temperature.calibration[year]>=2023", {1}),
    ("temperature.observedAt", {1, 2}),
    ("temperature.observedAt>=2024-03-01T00:00:00Z", {2}),
    ('temperature.unitCode=="CEL"', {1}),
    ('temperature.unitCode!="CEL"', set()),
    ("temperature.nothing", set()),
    # compact IRIs
    ('schema:name=="Four"', {4}),
    ("schema:name", {4}),
    # logic and precedence
    ('status=="open"|status=="closed";active==true', {1}),
    ('(status=="open"|status=="closed");active==false', {2}),
    ("temperature>100|count==10", {2}),
    (" ( temperature>25 | count<0 ) ; name ", {2, 3}),
    ("!temperature;count==0|humidity>100", {4}),
    ("!humidity;!temperature", set()),
    ("!temperature|humidity", {4}),
]


# PostgreSQL folds case with the database's ctype; a plain "C" ctype only folds ASCII.
LOCALE_DEPENDENT = {"name~=(?i)KIỀU"}


def ids(numbers: set[int]) -> set[str]:
    return {f"urn:e:{n}" for n in numbers}


# --------------------------------------------------------------------------- back ends


def make_table(metadata: sa.MetaData, name: str, schema: str | None = None) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("id", sa.Text, nullable=False),
        sa.Column("attrs", sa.JSON().with_variant(JSONB(), "postgresql")),
        schema=schema,
    )


def fill(engine: sa.Engine, table: sa.Table) -> None:
    rows = [{"id": eid, "attrs": attrs} for eid, attrs in ENTITIES.items()]
    with engine.begin() as conn:
        table.metadata.create_all(conn)
        conn.execute(table.insert(), rows)


@pytest.fixture(scope="module")
def sqlite_db() -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine("sqlite://")
    table = make_table(sa.MetaData(), "entities")
    fill(engine, table)
    yield engine, table
    engine.dispose()


@pytest.fixture(scope="module")
def pg_db() -> Iterator[tuple[sa.Engine, sa.Table]]:
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        server_missing(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    schema = f"test_qlang_{uuid.uuid4().hex[:12]}"
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        table = make_table(sa.MetaData(), "entities", schema=schema)
        fill(engine, table)
        yield engine, table
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def run_sql(db: tuple[sa.Engine, sa.Table], q: str) -> set[str]:
    engine, table = db
    where = compile_q(parse_q(q), table.c.attrs, engine.dialect.name, expand)
    with engine.connect() as conn:
        return set(conn.scalars(sa.select(table.c.id).where(where)))


def run_python(q: str) -> set[str]:
    expr = parse_q(q)
    return {eid for eid, attrs in ENTITIES.items() if matches_q(expr, attrs, expand)}


@pytest.mark.parametrize(("q", "expected"), CASES)
def test_python(q: str, expected: set[int]) -> None:
    assert run_python(q) == ids(expected)


@pytest.mark.parametrize(("q", "expected"), CASES)
def test_sqlite(sqlite_db: tuple[sa.Engine, sa.Table], q: str, expected: set[int]) -> None:
    assert run_sql(sqlite_db, q) == ids(expected)


@pytest.mark.postgres
@pytest.mark.parametrize(("q", "expected"), CASES)
def test_postgresql(pg_db: tuple[sa.Engine, sa.Table], q: str, expected: set[int]) -> None:
    if q in LOCALE_DEPENDENT:
        with pg_db[0].connect() as conn:
            ctype = conn.scalar(
                sa.text("SELECT datctype FROM pg_database WHERE datname = current_database()")
            )
        if ctype in ("C", "POSIX"):
            pytest.skip("case folding of non-ASCII letters needs a UTF-8 ctype, not C")
    assert run_sql(pg_db, q) == ids(expected)


# --------------------------------------------------------------------------- SQL shape


@pytest.mark.parametrize("url", ["sqlite://", PG_URL], ids=["sqlite", "postgresql"])
def test_sql_binds_user_strings(url: str) -> None:
    dialect = sa.create_engine(url).dialect  # compiles only, never connects
    table = make_table(sa.MetaData(), "entities")
    evil = "x'; DROP TABLE entities; --"
    q = f'name=="{evil}"|name~="{evil}"|a[{evil}]'
    where = compile_q(parse_q(q), table.c.attrs, dialect.name, expand)
    sql = str(sa.select(table.c.id).where(where).compile(dialect=dialect))
    assert "DROP" not in sql
    assert "name" not in sql


@pytest.mark.parametrize("db", ["sqlite_db", pytest.param("pg_db", marks=pytest.mark.postgres)])
def test_sql_result_is_two_valued(request: pytest.FixtureRequest, db: str) -> None:
    """NOT of a compiled term is its complement: no NULL leaks out of missing JSON."""
    engine, table = request.getfixturevalue(db)
    queries = [
        "temperature>25",
        'refOwner=="urn:ngsi-ld:Person:2"',
        "label~=x",
        "nothing==1",
        "!temperature",
        "address[city]!=1",
        "name!~=a",
    ]
    for q in queries:
        where = compile_q(parse_q(q), table.c.attrs, engine.dialect.name, expand)
        with engine.connect() as conn:
            yes = set(conn.scalars(sa.select(table.c.id).where(where)))
            no = set(conn.scalars(sa.select(table.c.id).where(sa.not_(where))))
        assert yes | no == set(ENTITIES) and not yes & no


def test_expand_skips_compound_keys_and_members() -> None:
    seen: list[str] = []

    def spy(term: str) -> str:
        seen.append(term)
        return expand(term)

    table = make_table(sa.MetaData(), "entities")
    compile_q(parse_q("a.b[c][d]==1;e.observedAt>2020-01-01"), table.c.attrs, "sqlite", spy)
    assert set(seen) == {"a", "b", "e"}


def test_unknown_dialect() -> None:
    table = make_table(sa.MetaData(), "entities")
    with pytest.raises(ValueError, match="mysql"):
        compile_q(parse_q("a"), table.c.attrs, "mysql", expand)
