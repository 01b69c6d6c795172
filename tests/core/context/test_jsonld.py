"""Tests of the JSON-LD @context handling (expansion, compaction, remote contexts)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from smartcity.core.context.errors import InvalidRequest, LdContextNotAvailable
from smartcity.core.context.jsonld import (
    CORE_CONTEXT_URL,
    DEFAULT_VOCAB,
    ActiveContext,
    ContextResolver,
    core_context_document,
    parse_link_header,
)

NGSI_LD = "https://uri.etsi.org/ngsi-ld/"
REL = 'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
USER_CTX = {
    "Building": "https://example.org/Building",
    "name": "https://schema.org/name",
    "location": "https://example.org/notTheCoreLocation",
}


@pytest.fixture()
def core() -> ActiveContext:
    return ContextResolver().resolve(None)


class FakeFetch:
    """An injectable fetcher serving documents from a dict and counting calls."""

    def __init__(self, docs: dict[str, Any]) -> None:
        self.docs = docs
        self.calls: list[str] = []

    def __call__(self, url: str) -> Any:
        self.calls.append(url)
        if url not in self.docs:
            raise LdContextNotAvailable(f"no {url}")
        return self.docs[url]


# -- core context ---------------------------------------------------------------


def test_core_document_is_packaged() -> None:
    ctx = core_context_document()["@context"]
    assert ctx["@vocab"] == DEFAULT_VOCAB
    assert ctx["ngsi-ld"] == NGSI_LD
    assert "GeoProperty" in ctx


@pytest.mark.parametrize(
    ("term", "iri"),
    [
        ("location", NGSI_LD + "location"),
        ("observedAt", NGSI_LD + "observedAt"),
        ("unitCode", NGSI_LD + "unitCode"),
        ("createdAt", NGSI_LD + "createdAt"),
        ("value", NGSI_LD + "hasValue"),
        ("object", NGSI_LD + "hasObject"),
        ("datasetId", NGSI_LD + "datasetId"),
        ("GeoProperty", NGSI_LD + "GeoProperty"),
        ("Point", "https://purl.org/geojson/vocab#Point"),
        ("description", "http://purl.org/dc/terms/description"),
        ("attributeCount", DEFAULT_VOCAB + "attributeCount"),
        ("id", "@id"),
        ("type", "@type"),
    ],
)
def test_core_terms_expand_and_compact(core: ActiveContext, term: str, iri: str) -> None:
    assert core.expand(term) == iri
    assert core.compact(iri) == term


def test_core_term_definition_records_type_and_container(core: ActiveContext) -> None:
    observed = core.term_definition("observedAt")
    coordinates = core.term_definition("coordinates")
    assert observed is not None and observed.type == NGSI_LD + "DateTime"
    assert coordinates is not None and coordinates.container == ("@list",)


def test_default_vocab(core: ActiveContext) -> None:
    assert core.expand("temperature") == DEFAULT_VOCAB + "temperature"
    assert core.compact(DEFAULT_VOCAB + "temperature") == "temperature"


def test_absolute_iris_stay(core: ActiveContext) -> None:
    for iri in ("https://example.org/speed", "urn:ngsi-ld:Thing:1", "http://x.org/a:b"):
        assert core.expand(iri) == iri
        assert core.compact(iri) == iri


def test_compact_iri_with_core_prefix(core: ActiveContext) -> None:
    assert core.expand("ngsi-ld:somethingNew") == NGSI_LD + "somethingNew"
    assert core.compact(NGSI_LD + "somethingNew") == "ngsi-ld:somethingNew"
    assert core.expand("geojson:Thing") == "https://purl.org/geojson/vocab#Thing"


def test_unknown_prefix_is_an_absolute_iri(core: ActiveContext) -> None:
    assert core.expand("did:example:123") == "did:example:123"


def test_core_only_context_value(core: ActiveContext) -> None:
    assert core.context_value == [CORE_CONTEXT_URL]


def test_core_url_is_not_fetched() -> None:
    fetch = FakeFetch({})
    ctx = ContextResolver(fetch=fetch).resolve([CORE_CONTEXT_URL])
    assert fetch.calls == []
    assert ctx.context_value == [CORE_CONTEXT_URL]


# -- user contexts ---------------------------------------------------------------


def test_user_object_overrides_non_core_terms_only() -> None:
    ctx = ContextResolver().resolve(USER_CTX)
    assert ctx.expand("Building") == "https://example.org/Building"
    assert ctx.expand("name") == "https://schema.org/name"
    assert ctx.expand("location") == NGSI_LD + "location"  # core wins
    assert ctx.compact("https://schema.org/name") == "name"
    assert ctx.compact("https://example.org/Building") == "Building"
    assert ctx.context_value == [USER_CTX, CORE_CONTEXT_URL]


def test_compact_iris_with_user_prefixes() -> None:
    ctx = ContextResolver().resolve(
        {
            "ex": "https://example.org/ns#",
            "schema": "https://schema.org/",
            "speed": "ex:speed",
            "Car": {"@id": "ex:Car", "@type": "@id"},
            "brand": {"@id": "schema:brand", "@type": "@vocab"},
        }
    )
    assert ctx.expand("speed") == "https://example.org/ns#speed"
    assert ctx.expand("Car") == "https://example.org/ns#Car"
    assert ctx.expand("brand") == "https://schema.org/brand"
    assert ctx.expand("ex:colour") == "https://example.org/ns#colour"
    assert ctx.compact("https://example.org/ns#colour") == "ex:colour"
    assert ctx.compact("https://example.org/ns#speed") == "speed"
    definition = ctx.term_definition("brand")
    assert definition is not None and definition.type == "@vocab"


def test_prefix_defined_after_its_use_in_same_object() -> None:
    ctx = ContextResolver().resolve({"speed": "ex:speed", "ex": "https://example.org/"})
    assert ctx.expand("speed") == "https://example.org/speed"


def test_user_vocab() -> None:
    ctx = ContextResolver().resolve({"@vocab": "https://example.org/vocab/"})
    assert ctx.expand("colour") == "https://example.org/vocab/colour"
    assert ctx.compact("https://example.org/vocab/colour") == "colour"
    assert ctx.expand("location") == NGSI_LD + "location"
    assert ctx.compact(DEFAULT_VOCAB + "colour") == "ngsi-ld:default-context/colour"


def test_later_user_context_wins_over_earlier() -> None:
    spec = [{"name": "https://a.org/name"}, {"name": "https://b.org/name"}]
    assert ContextResolver().resolve(spec).expand("name") == "https://b.org/name"


def test_compaction_prefers_shortest_term() -> None:
    ctx = ContextResolver().resolve({"temperature": "https://ex.org/t", "temp": "https://ex.org/t"})
    assert ctx.compact("https://ex.org/t") == "temp"


def test_expand_compact_round_trip() -> None:
    ctx = ContextResolver().resolve({"ex": "https://example.org/", "a": "ex:a"})
    for term in ("a", "b", "ex:c", "location", "ngsi-ld:x", "urn:x:y"):
        assert ctx.expand(ctx.compact(ctx.expand(term))) == ctx.expand(term)


@pytest.mark.parametrize(
    "spec",
    [
        42,
        [42],
        {"name": 42},
        {"name": ["https://x.org/"]},
        {"name": {"@id": 3}},
        {"name": {"@id": "https://x.org/n", "@type": 3}},
        {"@vocab": 7},
        {"@vocab": "notAnIri"},
        {"a": "b:x", "b": "a:y"},
    ],
)
def test_malformed_contexts(spec: Any) -> None:
    with pytest.raises(InvalidRequest):
        ContextResolver().resolve(spec)


def test_relative_context_url_is_invalid() -> None:
    with pytest.raises(InvalidRequest):
        ContextResolver().resolve("context.jsonld")


def test_resolve_caches_active_contexts() -> None:
    resolver = ContextResolver()
    assert resolver.resolve(USER_CTX) is resolver.resolve(dict(reversed(USER_CTX.items())))


# -- Link header -------------------------------------------------------------------


def test_link_header_good() -> None:
    url = "https://example.org/ctx.jsonld"
    assert parse_link_header(f"<{url}>; {REL}") == url
    assert parse_link_header(f'<{url}>;rel="http://www.w3.org/ns/json-ld#context"') == url
    assert parse_link_header(f'<https://x.org/p2>; rel="next", <{url}>; {REL}') == url


def test_link_header_without_context() -> None:
    assert parse_link_header("") is None
    assert parse_link_header('<https://x.org/p2>; rel="next"') is None


@pytest.mark.parametrize(
    "value",
    [
        "https://example.org/ctx.jsonld",
        f"<https://example.org/ctx.jsonld; {REL}",
        f"<https://example.org/ctx.jsonld>; {REL} garbage",
        f"<ctx.jsonld>; {REL}",
        f"<https://a.org/1>; {REL}, <https://a.org/2>; {REL}",
    ],
)
def test_link_header_bad(value: str) -> None:
    with pytest.raises(InvalidRequest):
        parse_link_header(value)


# -- remote contexts via an injected fetcher --------------------------------------


def test_remote_context_fetched_once_and_hits_counted() -> None:
    url = "https://example.org/ctx.jsonld"
    fetch = FakeFetch({url: {"@context": {"Building": "https://example.org/Building"}}})
    resolver = ContextResolver(fetch=fetch)
    first = resolver.resolve(url)
    second = resolver.resolve(url)
    assert first.expand("Building") == second.expand("Building") == "https://example.org/Building"
    assert fetch.calls == [url]
    assert first.context_value == [url, CORE_CONTEXT_URL]
    info = {entry["url"]: entry for entry in resolver.cached()}
    assert info[url]["kind"] == "Cached"
    assert info[url]["numberOfHits"] == 2
    assert info[CORE_CONTEXT_URL]["numberOfHits"] == 2
    assert resolver.document(url) == {"@context": {"Building": "https://example.org/Building"}}
    assert resolver.document(info[url]["localId"]) is not None


def test_remote_context_shared_by_different_specs() -> None:
    url = "https://example.org/ctx.jsonld"
    fetch = FakeFetch({url: {"@context": {"a": "https://example.org/a"}}})
    resolver = ContextResolver(fetch=fetch)
    resolver.resolve(url)
    ctx = resolver.resolve([url, {"b": "https://example.org/b"}])
    assert ctx.expand("a") == "https://example.org/a"
    assert ctx.expand("b") == "https://example.org/b"
    assert fetch.calls == [url]


def test_nested_remote_contexts_and_cycles() -> None:
    a, b, c = (f"https://example.org/{n}.jsonld" for n in "abc")
    fetch = FakeFetch(
        {
            a: {"@context": [b, {"x": "https://example.org/x"}]},
            b: {"@context": [c, {"ex": "https://example.org/ns/"}]},
            c: {"@context": [a, {"y": "ex:y"}, CORE_CONTEXT_URL]},
        }
    )
    ctx = ContextResolver(fetch=fetch).resolve(a)
    assert ctx.expand("x") == "https://example.org/x"
    assert ctx.expand("y") == "ex:y"  # ex was not yet defined when c was processed
    assert ctx.expand("ex:z") == "https://example.org/ns/z"
    assert sorted(fetch.calls) == [a, b, c]
    assert ctx.sources == (a, b, c)


def test_nesting_depth_limit() -> None:
    docs = {f"https://e.org/{i}": {"@context": f"https://e.org/{i + 1}"} for i in range(20)}
    with pytest.raises(InvalidRequest):
        ContextResolver(fetch=FakeFetch(docs)).resolve("https://e.org/0")


def test_import() -> None:
    url = "https://example.org/base.jsonld"
    fetch = FakeFetch({url: {"@context": {"a": "https://e.org/a", "b": "https://e.org/b"}}})
    ctx = ContextResolver(fetch=fetch).resolve({"@import": url, "b": "https://e.org/B"})
    assert ctx.expand("a") == "https://e.org/a"
    assert ctx.expand("b") == "https://e.org/B"


@pytest.mark.parametrize("document", [[1, 2], {"no": "context"}, "text"])
def test_remote_document_without_context(document: Any) -> None:
    url = "https://example.org/bad.jsonld"
    with pytest.raises(LdContextNotAvailable):
        ContextResolver(fetch=FakeFetch({url: document})).resolve(url)


def test_fetcher_exception_becomes_ld_context_not_available() -> None:
    def broken(url: str) -> Any:
        raise OSError("network down")

    with pytest.raises(LdContextNotAvailable):
        ContextResolver(fetch=broken).resolve("https://example.org/ctx.jsonld")


def test_failed_fetch_is_not_cached() -> None:
    url = "https://example.org/late.jsonld"
    fetch = FakeFetch({})
    resolver = ContextResolver(fetch=fetch)
    with pytest.raises(LdContextNotAvailable):
        resolver.resolve(url)
    fetch.docs[url] = {"@context": {"late": "https://e.org/late"}}
    assert resolver.resolve(url).expand("late") == "https://e.org/late"


def test_ttl_expiry_refetches() -> None:
    url = "https://example.org/ctx.jsonld"
    fetch = FakeFetch({url: {"@context": {"a": "https://e.org/a"}}})
    resolver = ContextResolver(cache_ttl_s=0, fetch=fetch)
    resolver.resolve(url)
    resolver.resolve(url)
    assert fetch.calls == [url, url]


def test_lru_eviction() -> None:
    docs = {f"https://e.org/{i}": {"@context": {f"t{i}": f"https://e.org/t{i}"}} for i in range(5)}
    resolver = ContextResolver(max_entries=2, fetch=FakeFetch(docs))
    for url in docs:
        resolver.resolve(url)
    urls = [entry["url"] for entry in resolver.cached()]
    assert urls == [CORE_CONTEXT_URL, "https://e.org/3", "https://e.org/4"]


def test_hosted_context() -> None:
    resolver = ContextResolver(fetch=FakeFetch({}))
    url = "https://broker.local/ngsi-ld/v1/jsonldContexts/mine"
    resolver.add_hosted(url, {"@context": {"mine": "https://e.org/mine"}})
    assert resolver.resolve(url).expand("mine") == "https://e.org/mine"
    kinds = {entry["url"]: entry["kind"] for entry in resolver.cached()}
    assert kinds[url] == "Hosted"
    assert resolver.evict(url)
    assert resolver.document(url) is None


def test_concurrent_resolves_fetch_once() -> None:
    url = "https://example.org/ctx.jsonld"
    gate = threading.Event()
    fetch = FakeFetch({url: {"@context": {"a": "https://e.org/a"}}})

    def slow_fetch(u: str) -> Any:
        gate.wait(2)
        return fetch(u)

    resolver = ContextResolver(fetch=slow_fetch)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda i=i: results.append(resolver.resolve([url, {}]).expand("a")))
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    gate.set()
    for thread in threads:
        thread.join(5)
    assert results == ["https://e.org/a"] * 8
    assert fetch.calls == [url]


# -- real HTTP fetches ---------------------------------------------------------------

SERVED_CONTEXT = {"@context": {"Building": "https://example.org/Building", "ex": "https://e.org/"}}


def _handler(stop: threading.Event) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes: dict[str, Callable[[], None]] = {
                "/ctx.jsonld": lambda: self._send(200, json.dumps(SERVED_CONTEXT).encode()),
                "/notjson": lambda: self._send(200, b"<html>hello</html>"),
                "/slow": self._slow,
            }
            routes.get(self.path, lambda: self._send(404, b"not found"))()

        def _slow(self) -> None:
            stop.wait(5)
            self._send(200, b"{}")

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture()
def server() -> Iterator[str]:
    stop = threading.Event()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stop))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        stop.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.server
def test_real_remote_fetch(server: str) -> None:
    resolver = ContextResolver(timeout_s=2)
    url = f"{server}/ctx.jsonld"
    ctx = resolver.resolve(parse_link_header(f"<{url}>; {REL}"))
    assert ctx.expand("Building") == "https://example.org/Building"
    assert ctx.expand("ex:height") == "https://e.org/height"
    assert ctx.expand("location") == NGSI_LD + "location"
    assert ctx.context_value == [url, CORE_CONTEXT_URL]
    assert url in {entry["url"] for entry in resolver.cached()}


@pytest.mark.server
def test_real_remote_fetch_timeout(server: str) -> None:
    with pytest.raises(LdContextNotAvailable, match="Timed out"):
        ContextResolver(timeout_s=0.3).resolve(f"{server}/slow")


@pytest.mark.server
def test_real_remote_fetch_404(server: str) -> None:
    with pytest.raises(LdContextNotAvailable, match="404"):
        ContextResolver(timeout_s=2).resolve(f"{server}/missing.jsonld")


@pytest.mark.server
def test_real_remote_fetch_not_json(server: str) -> None:
    with pytest.raises(LdContextNotAvailable, match="not JSON"):
        ContextResolver(timeout_s=2).resolve(f"{server}/notjson")


@pytest.mark.server
def test_connection_refused() -> None:
    with pytest.raises(LdContextNotAvailable):
        ContextResolver(timeout_s=1).resolve("http://127.0.0.1:9/ctx.jsonld")
