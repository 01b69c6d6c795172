"""JSON-LD @context handling for NGSI-LD: term expansion and compaction.

This is not the full JSON-LD algorithm, only what NGSI-LD needs: term definitions
(string IRIs, objects with ``@id``/``@type``/``@container``), compact IRIs, ``@vocab``,
``@import``, remote contexts (fetched once, cached with LRU + TTL) and nested remote
contexts.  The core context ships with the package and is always applied last, so its
terms win over user terms; the user's ``@vocab`` (if any) is kept.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

import httpx
import orjson

from smartcity.core.context.errors import InvalidRequest, LdContextNotAvailable, NgsiLdError

__all__ = [
    "CORE_CONTEXT_URL",
    "DEFAULT_VOCAB",
    "LD_CONTEXT_REL",
    "ActiveContext",
    "ContextResolver",
    "TermDefinition",
    "core_context_document",
    "is_core_context_url",
    "parse_link_header",
]

CORE_CONTEXT_URL = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
LD_CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"

MAX_CONTEXT_DEPTH = 8
MAX_CONTEXT_BYTES = 4 * 1024 * 1024
_COMPACT_MEMO_SIZE = 8192
_CORE_FILE = "contexts/ngsi-ld-core-context-v1.8.jsonld"
_CORE_URL_RE = re.compile(
    r"^https?://uri\.etsi\.org/ngsi-ld/v1/ngsi-ld-core-context(?:-v1\.\d+)?\.jsonld$"
)
_GEN_DELIMS = frozenset(":/?#[]@")
_IGNORED_KEYWORDS = frozenset(
    {"@version", "@protected", "@base", "@language", "@direction", "@propagate"}
)
_LINK_RE = re.compile(
    r'\s*<([^>]*)>((?:\s*;\s*[^\s;,="]+(?:\s*=\s*(?:"[^"]*"|[^\s;,"]*))?)*)\s*(?:,|$)'
)
_PARAM_RE = re.compile(r';\s*([^\s;,="]+)(?:\s*=\s*("[^"]*"|[^\s;,"]*))?')

ContextSpec = str | dict[str, Any] | list[Any] | None
Fetcher = Callable[[str], Any]


@dataclass(frozen=True, slots=True)
class TermDefinition:
    """One term of an active context: its IRI (or keyword) and what was recorded with it."""

    iri: str
    type: str | None = None
    container: tuple[str, ...] = ()
    prefix: bool = False


def is_core_context_url(url: str) -> bool:
    """Tell whether a URL names an NGSI-LD core context (any published version)."""
    return bool(_CORE_URL_RE.match(url))


def _is_absolute_iri(value: str) -> bool:
    return "://" in value or value.startswith("urn:")


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# ---------------------------------------------------------------------------
# Link header


#: Inline @context objects longer than this (as JSON) are processed for their request and
#: not cached: a client sending many large distinct contexts must not fill the memory.
MAX_CACHED_SPEC_CHARS = 16 * 1024


def parse_link_header(value: str) -> str | None:
    """Return the @context URL of a Link header, None if it has none."""
    if not value or not value.strip():
        return None
    found = [url for url, rels in _iter_links(value) if LD_CONTEXT_REL in rels]
    if len(found) > 1:
        raise InvalidRequest("More than one JSON-LD @context in the Link header")
    if not found:
        return None
    url = found[0].strip()
    if not url.startswith(("http://", "https://")):
        raise InvalidRequest(f"The @context in the Link header is not an http(s) URL: {url!r}")
    return url


def _iter_links(value: str) -> Iterator[tuple[str, list[str]]]:
    pos, end = 0, len(value.rstrip())
    while pos < end:
        match = _LINK_RE.match(value, pos)
        if match is None or match.end() == pos:
            raise InvalidRequest(f"Malformed Link header: {value!r}")
        pos = match.end()
        yield match.group(1), _link_rels(match.group(2))


def _link_rels(params: str) -> list[str]:
    for match in _PARAM_RE.finditer(params):
        if match.group(1).lower() == "rel":
            return (match.group(2) or "").strip('"').split()
    return []


# ---------------------------------------------------------------------------
# Active context


class ActiveContext:
    """An immutable, processed @context: expands terms to IRIs and compacts IRIs back."""

    __slots__ = (
        "_compact_map",
        "_compact_memo",
        "_context_value",
        "_expand_map",
        "_expand_prefixes",
        "_key",
        "_prefixes",
        "_sources",
        "_terms",
        "_vocab",
    )

    def __init__(
        self,
        terms: Mapping[str, TermDefinition],
        vocab: str | None,
        context_value: list[str | dict[str, Any]],
        key: str = "",
        sources: tuple[str, ...] = (),
    ) -> None:
        self._terms = MappingProxyType(dict(terms))
        self._vocab = vocab
        self._context_value = tuple(context_value)
        self._key = key
        self._sources = sources
        self._expand_map = {t: d.iri for t, d in terms.items()}
        self._expand_prefixes = {t: d.iri for t, d in terms.items() if not d.iri.startswith("@")}
        self._compact_map = _inverse(terms)
        self._prefixes = sorted(
            ((t, d.iri) for t, d in terms.items() if d.prefix and ":" not in t),
            key=lambda item: (len(item[0]), item[0]),
        )
        self._compact_memo: dict[str, str] = {}

    @property
    def context_value(self) -> list[str | dict[str, Any]]:
        """What to echo as "@context" in application/ld+json responses."""
        return list(self._context_value)

    @property
    def vocab(self) -> str | None:
        """The @vocab in effect."""
        return self._vocab

    @property
    def terms(self) -> Mapping[str, TermDefinition]:
        """All term definitions (user terms overridden by core terms)."""
        return self._terms

    @property
    def key(self) -> str:
        """The canonical form of the context spec this context was built from."""
        return self._key

    @property
    def sources(self) -> tuple[str, ...]:
        """The remote context URLs this context was built from."""
        return self._sources

    def term_definition(self, term: str) -> TermDefinition | None:
        """Return the definition of a term, None if it is not defined."""
        return self._terms.get(term)

    def expand(self, term: str) -> str:
        """Expand an attribute name or entity type to its IRI."""
        iri = self._expand_map.get(term)
        if iri is not None:
            return iri
        return self._expand_slow(term)

    def _expand_slow(self, term: str) -> str:
        if term.startswith("@") or _is_absolute_iri(term):
            return term
        prefix, sep, suffix = term.partition(":")
        if sep:
            base = self._expand_prefixes.get(prefix)
            if base is None or suffix.startswith("//"):
                return term
            return base + suffix
        return self._vocab + term if self._vocab is not None else term

    def compact(self, iri: str) -> str:
        """Compact an IRI to a term, else a compact IRI, else return it unchanged."""
        term = self._compact_map.get(iri)
        if term is not None:
            return term
        term = self._compact_memo.get(iri)
        if term is None:
            term = self._compact_slow(iri)
            if len(self._compact_memo) >= _COMPACT_MEMO_SIZE:
                self._compact_memo.clear()
            self._compact_memo[iri] = term
        return term

    def _compact_slow(self, iri: str) -> str:
        vocab = self._vocab
        if vocab is not None and iri.startswith(vocab):
            suffix = iri[len(vocab) :]
            if suffix and ":" not in suffix and suffix not in self._expand_map:
                return suffix
        best: str | None = None
        for term, base in self._prefixes:
            suffix = iri[len(base) :]
            if not iri.startswith(base) or not suffix or suffix.startswith("//"):
                continue
            candidate = f"{term}:{suffix}"
            if candidate in self._expand_map:
                continue
            if best is None or (len(candidate), candidate) < (len(best), best):
                best = candidate
        return best if best is not None else iri

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActiveContext) and other._key == self._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"ActiveContext({self._context_value!r})"


def _inverse(terms: Mapping[str, TermDefinition]) -> dict[str, str]:
    inverse: dict[str, str] = {}
    for term in sorted(terms, key=lambda t: (len(t), t)):
        inverse.setdefault(terms[term].iri, term)
    return inverse


# ---------------------------------------------------------------------------
# Context processing


@dataclass(slots=True)
class _State:
    """The context being built: terms, @vocab and the remote contexts used."""

    terms: dict[str, TermDefinition] = field(default_factory=dict)
    vocab: str | None = None
    sources: list[str] = field(default_factory=list)


class _Processor:
    """Processes local and remote context definitions into a _State."""

    def __init__(self, load: Callable[[str], Any]) -> None:
        self._load = load
        self.state = _State()

    def process(self, spec: Any, chain: tuple[str, ...] = ()) -> None:
        """Apply a context spec (URL, object, list or null) to the state."""
        if isinstance(spec, list):
            for item in spec:
                self.process(item, chain)
        elif spec is None:
            self.state.terms.clear()
            self.state.vocab = None
        elif isinstance(spec, str):
            self._process_url(spec, chain)
        elif isinstance(spec, dict):
            self._process_object(spec)
        else:
            raise InvalidRequest(f"Invalid @context: {spec!r} is not a URL, an object or a list")

    def _process_url(self, url: str, chain: tuple[str, ...]) -> None:
        if is_core_context_url(url) or url in chain:
            return
        if len(chain) >= MAX_CONTEXT_DEPTH:
            raise InvalidRequest(f"@context nesting deeper than {MAX_CONTEXT_DEPTH}: {url}")
        if not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"Invalid @context URL: {url!r}")
        self.state.sources.append(url)
        self.process(self._load(url), (*chain, url))

    def _process_object(self, local: dict[str, Any]) -> None:
        if "@import" in local:
            local = self._with_import(local)
        if "@vocab" in local:
            self.state.vocab = self._vocab_mapping(local["@vocab"], local)
        definer = _TermDefiner(local, self.state)
        for term in local:
            if not term.startswith("@"):
                definer.define(term)

    def _with_import(self, local: dict[str, Any]) -> dict[str, Any]:
        url = local["@import"]
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise InvalidRequest(f"Invalid @import in @context: {url!r}")
        imported = self._load(url)
        if not isinstance(imported, dict) or "@import" in imported:
            raise InvalidRequest(f"@import {url} is not a single context object")
        self.state.sources.append(url)
        merged = {**imported, **local}
        del merged["@import"]
        return merged

    def _vocab_mapping(self, value: Any, local: dict[str, Any]) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidRequest(f"Invalid @vocab in @context: {value!r}")
        iri = _TermDefiner(local, self.state).expand_iri(value)
        if ":" not in iri:
            raise InvalidRequest(f"Invalid @vocab in @context: {value!r} is not an IRI")
        return iri


class _TermDefiner:
    """Creates the term definitions of one local context object, resolving dependencies."""

    def __init__(self, local: dict[str, Any], state: _State) -> None:
        self._local = local
        self._state = state
        self._defined: dict[str, bool] = {}

    def define(self, term: str) -> None:
        """Create the definition of one term of the local context."""
        done = self._defined.get(term)
        if done:
            return
        if done is False:
            raise InvalidRequest(f"Cyclic IRI mapping for term {term!r} in @context")
        self._defined[term] = False
        definition = self._build(term, self._local[term])
        if definition is None:
            self._state.terms.pop(term, None)
        else:
            self._state.terms[term] = definition
        self._defined[term] = True

    def _build(self, term: str, value: Any) -> TermDefinition | None:
        if value is None:
            return None
        if isinstance(value, str):
            iri = self._iri_mapping(term, value)
            return TermDefinition(iri, prefix=_is_simple_prefix(iri))
        if isinstance(value, dict):
            return self._build_expanded(term, value)
        raise InvalidRequest(f"Invalid definition of term {term!r} in @context: {value!r}")

    def _build_expanded(self, term: str, value: dict[str, Any]) -> TermDefinition | None:
        if "@id" in value and value["@id"] is None:
            return None
        iri = self._iri_mapping(term, value.get("@id"))
        prefix = value.get("@prefix", False)
        if not isinstance(prefix, bool):
            raise InvalidRequest(f"Invalid @prefix for term {term!r} in @context")
        return TermDefinition(iri, self._type_mapping(term, value), _container(term, value), prefix)

    def _iri_mapping(self, term: str, id_value: Any) -> str:
        if id_value is None:
            id_value = term
        if not isinstance(id_value, str):
            raise InvalidRequest(f"Invalid @id for term {term!r} in @context: {id_value!r}")
        if id_value.startswith("@"):
            return id_value
        iri = self.expand_iri(id_value, skip=term if id_value == term else None)
        if ":" not in iri:
            raise InvalidRequest(f"Term {term!r} in @context does not map to an IRI: {iri!r}")
        return iri

    def _type_mapping(self, term: str, value: dict[str, Any]) -> str | None:
        type_value = value.get("@type")
        if type_value is None:
            return None
        if not isinstance(type_value, str):
            raise InvalidRequest(f"Invalid @type for term {term!r} in @context: {type_value!r}")
        return type_value if type_value.startswith("@") else self.expand_iri(type_value)

    def expand_iri(self, value: str, skip: str | None = None) -> str:
        """Expand a value used in the local context (vocab-relative IRI expansion)."""
        if value.startswith("@") or _is_absolute_iri(value):
            return value
        if value != skip and value in self._local and not value.startswith("@"):
            self.define(value)
        known = self._state.terms.get(value)
        if known is not None and value != skip:
            return known.iri
        prefix, sep, suffix = value.partition(":")
        if sep:
            return self._expand_compact(value, prefix, suffix)
        vocab = self._state.vocab
        return vocab + value if vocab is not None else value

    def _expand_compact(self, value: str, prefix: str, suffix: str) -> str:
        if prefix == "_" or suffix.startswith("//"):
            return value
        if prefix in self._local:
            self.define(prefix)
        known = self._state.terms.get(prefix)
        if known is None or known.iri.startswith("@"):
            return value
        return known.iri + suffix


def _is_simple_prefix(iri: str) -> bool:
    return bool(iri) and iri[-1] in _GEN_DELIMS and not iri.startswith("@")


def _container(term: str, value: dict[str, Any]) -> tuple[str, ...]:
    raw = value.get("@container")
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    if not all(isinstance(item, str) for item in items):
        raise InvalidRequest(f"Invalid @container for term {term!r} in @context: {raw!r}")
    return tuple(items)


# ---------------------------------------------------------------------------
# Core context


@cache
def core_context_document() -> dict[str, Any]:
    """Return the packaged NGSI-LD core context document (do not mutate it)."""
    text = resources.files("smartcity.core.context").joinpath(_CORE_FILE).read_bytes()
    document: dict[str, Any] = orjson.loads(text)
    return document


@cache
def _core_state() -> _State:
    processor = _Processor(_no_remote)
    processor.process(core_context_document()["@context"])
    return processor.state


def _no_remote(url: str) -> Any:
    raise InvalidRequest(f"The core context cannot refer to {url}")


def _build_context(
    user: _State, context_value: list[str | dict[str, Any]], key: str
) -> ActiveContext:
    core = _core_state()
    terms = {**user.terms, **core.terms}
    vocab = user.vocab if user.vocab is not None else core.vocab
    sources = tuple(dict.fromkeys(user.sources))
    return ActiveContext(terms, vocab, [*context_value, CORE_CONTEXT_URL], key, sources)


# ---------------------------------------------------------------------------
# Remote fetching


def http_fetch(url: str, timeout_s: float) -> Any:
    """Fetch a JSON document over HTTP(S) within timeout_s seconds in total."""
    deadline = time.monotonic() + timeout_s
    headers = {"Accept": "application/ld+json, application/json;q=0.9, */*;q=0.1"}
    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True) as client,
            client.stream("GET", url, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise LdContextNotAvailable(f"@context {url} answered HTTP {response.status_code}")
            body = _read_limited(response, url, deadline)
    except httpx.TimeoutException as exc:
        raise LdContextNotAvailable(f"Timed out fetching @context {url}") from exc
    except httpx.HTTPError as exc:
        raise LdContextNotAvailable(f"Cannot fetch @context {url}: {exc}") from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise LdContextNotAvailable(f"@context {url} is not JSON") from exc


def _read_limited(response: httpx.Response, url: str, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_CONTEXT_BYTES:
            raise LdContextNotAvailable(f"@context {url} is larger than {MAX_CONTEXT_BYTES} bytes")
        if time.monotonic() > deadline:
            raise LdContextNotAvailable(f"Timed out fetching @context {url}")
        chunks.append(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------------------
# Resolver with caches


@dataclass(slots=True)
class _DocEntry:
    """A cached context document (its @context value) and its usage statistics."""

    url: str
    context: Any
    kind: str
    expires_at: float | None
    created_at: float = field(default_factory=time.time)
    last_usage: float = field(default_factory=time.time)
    hits: int = 0

    def touch(self) -> None:
        """Count one use of this context."""
        self.hits += 1
        self.last_usage = time.time()

    def info(self) -> dict[str, Any]:
        """Describe this entry for GET /jsonldContexts."""
        return {
            "url": self.url,
            "localId": _local_id(self.url),
            "kind": self.kind,
            "createdAt": _iso(self.created_at),
            "lastUsage": _iso(self.last_usage),
            "numberOfHits": self.hits,
        }


def _local_id(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _spec_key(spec: ContextSpec) -> str:
    if spec is None:
        return ""
    if isinstance(spec, str):
        return spec
    if not isinstance(spec, dict | list):
        raise InvalidRequest(f"Invalid @context: {spec!r} is not a URL, an object or a list")
    try:
        return orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as exc:
        raise InvalidRequest(f"Invalid @context: {exc}") from exc


def _user_part(spec: ContextSpec) -> list[str | dict[str, Any]]:
    items = spec if isinstance(spec, list) else [spec]
    return [
        item
        for item in items
        if isinstance(item, dict) or (isinstance(item, str) and not is_core_context_url(item))
    ]


class ContextResolver:
    """Resolves @context specs to ActiveContexts, fetching and caching remote contexts."""

    def __init__(
        self,
        timeout_s: float = 5.0,
        cache_ttl_s: float = 3600,
        max_entries: int = 256,
        fetch: Fetcher | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        self.cache_ttl_s = cache_ttl_s
        self.max_entries = max_entries
        self._fetch: Fetcher = fetch or (lambda url: http_fetch(url, self.timeout_s))
        self._lock = threading.Lock()
        self._docs: OrderedDict[str, _DocEntry] = OrderedDict()
        self._active: OrderedDict[str, tuple[ActiveContext, float | None]] = OrderedDict()
        self._inflight: dict[str, threading.Lock] = {}
        self._core = _DocEntry(
            CORE_CONTEXT_URL, core_context_document()["@context"], "Cached", None
        )

    def resolve(self, spec: ContextSpec) -> ActiveContext:
        """Return the active context for a Link/body @context spec (None: core only)."""
        key = _spec_key(spec)
        ctx = self._cached_active(key)
        if ctx is not None:
            return ctx
        processor = _Processor(self._load)
        processor.process(spec)
        ctx = _build_context(processor.state, _user_part(spec), key)
        if len(key) <= MAX_CACHED_SPEC_CHARS:
            self._store_active(ctx)
        return ctx

    def cached(self) -> list[dict[str, Any]]:
        """Describe the core and cached remote contexts, for GET /jsonldContexts."""
        with self._lock:
            self._purge_expired()
            return [self._core.info()] + [entry.info() for entry in self._docs.values()]

    def document(self, url_or_id: str) -> dict[str, Any] | None:
        """Return a cached context document by URL or localId, None if not cached."""
        with self._lock:
            for entry in (self._core, *self._docs.values()):
                if url_or_id in (entry.url, _local_id(entry.url)):
                    return {"@context": entry.context}
        return None

    def add_hosted(self, url: str, document: Any) -> None:
        """Install a context document under a URL, never expiring (kind "Hosted")."""
        context = _context_of(url, document)
        _Processor(self._load).process(context)
        with self._lock:
            self._docs[url] = _DocEntry(url, context, "Hosted", None)
            self._active.clear()

    def evict(self, url_or_id: str) -> bool:
        """Drop a cached or hosted context; return whether one was dropped."""
        with self._lock:
            for url in list(self._docs):
                if url_or_id in (url, _local_id(url)):
                    del self._docs[url]
                    self._active.clear()
                    return True
        return False

    def clear(self) -> None:
        """Forget all cached remote contexts and active contexts."""
        with self._lock:
            self._docs.clear()
            self._active.clear()

    # -- active-context cache ------------------------------------------------

    def _cached_active(self, key: str) -> ActiveContext | None:
        with self._lock:
            item = self._active.get(key)
            if item is None:
                return None
            ctx, expires_at = item
            if expires_at is not None and expires_at <= time.monotonic():
                del self._active[key]
                return None
            self._active.move_to_end(key)
            self._touch(ctx.sources)
            return ctx

    def _store_active(self, ctx: ActiveContext) -> None:
        expires_at = time.monotonic() + self.cache_ttl_s if ctx.sources else None
        with self._lock:
            self._core.touch()
            self._active[ctx.key] = (ctx, expires_at)
            self._active.move_to_end(ctx.key)
            while len(self._active) > self.max_entries:
                self._active.popitem(last=False)

    def _touch(self, urls: tuple[str, ...]) -> None:
        self._core.touch()
        for url in urls:
            entry = self._docs.get(url)
            if entry is not None:
                entry.touch()

    # -- document cache --------------------------------------------------------

    def _load(self, url: str) -> Any:
        """Return the @context value of a remote context, from cache or fetched."""
        context = self._cached_doc(url)
        if context is not None:
            return context
        with self._lock:
            url_lock = self._inflight.setdefault(url, threading.Lock())
        try:
            with url_lock:
                context = self._cached_doc(url)
                if context is None:
                    context = self._fetch_and_store(url)
                return context
        finally:
            with self._lock:
                self._inflight.pop(url, None)

    def _cached_doc(self, url: str) -> Any:
        with self._lock:
            entry = self._docs.get(url)
            if entry is None or _expired(entry):
                return None
            self._docs.move_to_end(url)
            entry.touch()
            return entry.context

    def _fetch_and_store(self, url: str) -> Any:
        try:
            context = _context_of(url, self._call_fetch(url))
        except LdContextNotAvailable:
            stale = self._stale(url)
            if stale is None:
                raise
            return stale
        entry = _DocEntry(url, context, "Cached", time.monotonic() + self.cache_ttl_s, hits=1)
        with self._lock:
            self._docs[url] = entry
            self._evict_docs()
        return context

    def _call_fetch(self, url: str) -> Any:
        try:
            return self._fetch(url)
        except NgsiLdError:
            raise
        except Exception as exc:
            raise LdContextNotAvailable(f"Cannot fetch @context {url}: {exc}") from exc

    def _stale(self, url: str) -> Any:
        with self._lock:
            entry = self._docs.get(url)
            if entry is None:
                return None
            entry.touch()
            return entry.context

    def _evict_docs(self) -> None:
        self._purge_expired()
        cached = [url for url, entry in self._docs.items() if entry.kind != "Hosted"]
        for url in cached[: max(0, len(cached) - self.max_entries)]:
            del self._docs[url]

    def _purge_expired(self) -> None:
        for url in [url for url, entry in self._docs.items() if _expired(entry)]:
            del self._docs[url]


def _expired(entry: _DocEntry) -> bool:
    return entry.expires_at is not None and entry.expires_at <= time.monotonic()


def _context_of(url: str, document: Any) -> Any:
    """Check a fetched document and return its @context value."""
    if not isinstance(document, dict) or "@context" not in document:
        raise LdContextNotAvailable(f"{url} is not a JSON-LD context (no @context member)")
    return document["@context"]
