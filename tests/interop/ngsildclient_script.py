"""Drive the platform broker with ngsildclient, the Orange NGSI-LD Python client, as a user would.

Run it with the interpreter of the separate ngsildclient environment (it pins old httpx and
isodate, so it cannot share the platform's venv):

    NGSILD_API_KEY=sck_… .venv-ngsildclient/bin/python tests/interop/ngsildclient_script.py \
        127.0.0.1 8000

Writes need credentials: the API key (`smartcity keys create --name interop`) comes from
NGSILD_API_KEY or --api-key and is sent as `X-API-Key` on every request of the client's
requests.Session, through the client's own `custom_auth` hook.

It creates Cần Thơ entities (air quality at Ninh Kiều and Cái Răng, water quality on the Hậu
river), reads them back, queries, counts, updates, upserts and deletes them through the client's
public API only, checking every answer. The last line on stdout is a JSON summary; the exit
status is 0 only when every check passed. On failure the HTTP exchanges the client made are
written to stderr so that a broker bug can be reported with the exact request and response.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import traceback
import uuid
from collections import deque
from datetime import UTC, datetime
from typing import Any

from ngsildclient import Client, Entity
from ngsildclient.api.batch import BatchResult
from ngsildclient.api.exceptions import (
    NgsiAlreadyExistsError,
    NgsiContextBrokerError,
    NgsiResourceNotFoundError,
)
from requests.auth import AuthBase

API_KEY_ENV = "NGSILD_API_KEY"
API_KEY_HEADER = "X-API-Key"
AQO = "AirQualityObserved"
WQO = "WaterQualityObserved"
OBSERVED = "2024-05-01T07:00:00Z"
OBSERVED_DT = datetime(2024, 5, 1, 7, 0, 0, tzinfo=UTC)
NINH_KIEU = (10.0340, 105.7880)  # (lat, lon), the order Entity.loc() takes
CAI_RANG = (10.0045, 105.7469)
HAU_RIVER = (10.0452, 105.7950)
CAI_RANG_MARKET = (10.0000, 105.7490)
PLACES = {"NinhKieu": "Ninh Kiều", "CaiRang": "Cái Răng"}


class CheckFailed(AssertionError):
    """A broker answer that differs from what ngsildclient's user expects."""


def check(condition: object, message: str) -> None:
    """Assert that survives `python -O`."""
    if not condition:
        raise CheckFailed(message)


class ApiKeyAuth(AuthBase):
    """Adds the platform's API key to every request of a requests.Session.

    ngsildclient's Client takes it as `custom_auth` and sets it as `session.auth` before its
    first request (the connection probe in the constructor), so no request goes out without
    it; headers given per call (Accept, Content-Type, NGSILD-Tenant) cannot drop it either.
    """

    def __init__(self, key: str) -> None:
        self.key = key

    def __call__(self, request: Any) -> Any:
        request.headers[API_KEY_HEADER] = self.key
        return request


class Exchanges:
    """The last HTTP exchanges made through the client's requests.Session (a response hook)."""

    def __init__(self, keep: int = 12) -> None:
        self.items: deque[str] = deque(maxlen=keep)
        self.count = 0
        self.without_key = 0

    def hook(self, response: Any, *_args: Any, **_kwargs: Any) -> Any:
        self.count += 1
        request = response.request
        sent_key = request.headers.get(API_KEY_HEADER)
        if not sent_key:
            self.without_key += 1
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        req_headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in {"accept", "content-type", "link", "ngsild-tenant"}
        }
        req_headers[API_KEY_HEADER] = f"{sent_key[:8]}…" if sent_key else "(none)"
        resp_headers = {
            k: v
            for k, v in response.headers.items()
            if k.lower() in {"content-type", "location", "link", "ngsild-results-count"}
        }
        self.items.append(
            f"> {request.method} {request.url}\n"
            f"> headers: {req_headers}\n"
            f"> body: {_clip(body)}\n"
            f"< {response.status_code} {response.reason}\n"
            f"< headers: {resp_headers}\n"
            f"< body: {_clip(response.text)}"
        )
        return response

    def dump(self) -> str:
        return "\n\n".join(self.items) or "(no exchange recorded)"


def _clip(text: Any, limit: int = 1500) -> str:
    if text is None:
        return "(none)"
    text = str(text)
    return text if len(text) <= limit else text[:limit] + f"... [{len(text)} chars]"


# --- the entities ----------------------------------------------------------------------------


def air_quality(tag: str, place: str, coords: tuple[float, float], pm25: float) -> Entity:
    entity = Entity(AQO, f"CanTho:{place}:{tag}")
    entity.prop("name", f"Trạm quan trắc {PLACES[place]}")
    entity.loc(*coords)
    entity.prop("pm25", pm25, unitcode="GQ", observedat=OBSERVED)
    entity.prop("pm10", round(pm25 * 1.6, 1), unitcode="GQ", observedat=OBSERVED)
    entity.prop("airQualityLevel", "moderate" if pm25 > 20 else "good")
    entity.tprop("dateObserved", OBSERVED)
    entity.rel("refDevice", f"Device:CanTho:aq-{place}-{tag}")
    return entity


def water_quality(tag: str, place: str, coords: tuple[float, float], turbidity: float) -> Entity:
    entity = Entity(WQO, f"CanTho:{place}:{tag}")
    entity.prop("name", "Sông Hậu – bến Ninh Kiều" if place == "SongHau" else "Chợ nổi Cái Răng")
    entity.loc(*coords)
    entity.prop("temperature", 29.5, unitcode="CEL", observedat=OBSERVED)
    entity.prop("pH", 7.2, observedat=OBSERVED)
    entity.prop("turbidity", turbidity, unitcode="NTU", observedat=OBSERVED)
    entity.prop("dissolvedOxygen", 5.8, unitcode="M1", observedat=OBSERVED)
    entity.tprop("dateObserved", OBSERVED)
    return entity


# --- the scenario ----------------------------------------------------------------------------


class Scenario:
    def __init__(self, client: Client, tag: str) -> None:
        self.client = client
        self.tag = tag
        self.step = "connect"
        self.steps: list[str] = []
        self.ninh_kieu = air_quality(tag, "NinhKieu", NINH_KIEU, 35.2)
        self.cai_rang = air_quality(tag, "CaiRang", CAI_RANG, 12.0)
        self.song_hau = water_quality(tag, "SongHau", HAU_RIVER, 45.0)
        self.market = water_quality(tag, "ChoNoiCaiRang", CAI_RANG_MARKET, 60.0)

    def run(self) -> None:
        for name in (
            "create_one",
            "create_duplicate",
            "create_batch",
            "exists",
            "retrieve",
            "retrieve_asdict",
            "query_by_type",
            "query_q",
            "count",
            "query_head",
            "types",
            "update_one",
            "upsert_one",
            "batch_update",
            "batch_upsert",
            "delete_one",
            "delete_batch",
            "delete_where",
            "gone",
        ):
            self.step = name
            getattr(self, name)()
            self.steps.append(name)

    def ids(self, entities: list[Entity]) -> set[str]:
        return {e.id for e in entities}

    # create

    def create_one(self) -> None:
        created = self.client.create(self.ninh_kieu)
        check(created is True, f"client.create(entity) returned {created!r}, expected True")

    def create_duplicate(self) -> None:
        try:
            self.client.create(self.ninh_kieu)
        except NgsiAlreadyExistsError as error:
            check(
                error.problemdetails.status == 409,
                f"AlreadyExists came with status {error.problemdetails.status}, expected 409",
            )
            return
        raise CheckFailed("creating an existing entity did not raise NgsiAlreadyExistsError")

    def create_batch(self) -> None:
        result = self.client.create([self.cai_rang, self.song_hau])
        self.check_batch(result, "create", {self.cai_rang.id, self.song_hau.id})

    def check_batch(
        self, result: Any, op: str, expected_ids: set[str], *, some: bool = False
    ) -> None:
        """A BatchResult without errors whose successes are the expected ids.

        With `some`, a subset will do: an upsert mixing new and existing entities answers 201
        with the ids of the created ones only, which ngsildclient reports as the successes.
        """
        check(isinstance(result, BatchResult), f"batch {op} returned {result!r}")
        check(result.ok, f"batch {op} reported errors: {result.errors}")
        got = set(result.success)
        good = got <= expected_ids if some else got == expected_ids
        check(good, f"batch {op} succeeded for {sorted(got)}, expected {sorted(expected_ids)}")

    # read

    def exists(self) -> None:
        check(self.client.exists(self.ninh_kieu), f"client.exists({self.ninh_kieu.id}) is False")
        check(self.client.exists(self.song_hau.id), f"client.exists({self.song_hau.id}) is False")

    def retrieve(self) -> None:
        entity = self.client.get(self.ninh_kieu.id)
        check(isinstance(entity, Entity), f"client.get returned {type(entity)}")
        check(entity.id == self.ninh_kieu.id, f"retrieved id {entity.id!r}")
        check(entity.type == AQO, f"retrieved type {entity.type!r}, expected {AQO!r}")
        pm25 = entity["pm25"]
        check(pm25["type"] == "Property", f"pm25 type {pm25['type']!r}")
        check(pm25.value == 35.2, f"pm25 value {pm25.value!r}, expected 35.2")
        check(pm25.unitcode == "GQ", f"pm25 unitCode {pm25.unitcode!r}, expected 'GQ'")
        check(pm25.observedat == OBSERVED_DT, f"pm25 observedAt {pm25.get('observedAt')!r}")
        check(entity["pm10.value"] == 56.3, f"pm10 value {entity['pm10.value']!r}")
        name = entity["name"].value
        check(name == "Trạm quan trắc Ninh Kiều", f"name did not round-trip: {name!r}")
        location = entity["location"]
        check(location["type"] == "GeoProperty", f"location type {location['type']!r}")
        geometry = location["value"]
        check(geometry["type"] == "Point", f"location geometry {geometry!r}")
        lon, lat = geometry["coordinates"]
        check(
            abs(lon - 105.7880) < 1e-9 and abs(lat - 10.0340) < 1e-9,
            f"location coordinates {geometry['coordinates']!r}, expected [105.788, 10.034]",
        )
        observed = entity["dateObserved"]
        check(
            isinstance(observed["value"], dict) and observed["value"].get("@type") == "DateTime",
            f"dateObserved value {observed['value']!r}, expected a typed DateTime",
        )
        check(observed.value == OBSERVED_DT, f"dateObserved {observed['value']!r}")
        ref = entity["refDevice"]
        check(ref["type"] == "Relationship", f"refDevice type {ref['type']!r}")
        check(
            ref.value == f"urn:ngsi-ld:Device:CanTho:aq-NinhKieu-{self.tag}",
            f"refDevice object {ref.value!r}",
        )
        rels = dict(entity.relationships)
        check("refDevice" in rels, f"Entity.relationships {rels!r}")

    def retrieve_asdict(self) -> None:
        raw = self.client.get(self.song_hau, asdict=True)
        check(isinstance(raw, dict), f"client.get(asdict=True) returned {type(raw)}")
        check("@context" in raw, f"an application/ld+json answer lacks @context: {sorted(raw)}")
        check(raw.get("id") == self.song_hau.id, f"id {raw.get('id')!r}")
        check(raw.get("type") == WQO, f"type {raw.get('type')!r}")
        check(raw["turbidity"]["value"] == 45.0, f"turbidity {raw.get('turbidity')!r}")
        check(raw["turbidity"].get("unitCode") == "NTU", f"turbidity {raw.get('turbidity')!r}")
        check(raw["name"]["value"] == "Sông Hậu – bến Ninh Kiều", f"name {raw.get('name')!r}")

    # query

    def query_by_type(self) -> None:
        found = self.client.query(type=AQO)
        check(
            self.ids(found) == {self.ninh_kieu.id, self.cai_rang.id},
            f"query(type={AQO}) gave {sorted(self.ids(found))}",
        )
        check(all(isinstance(e, Entity) for e in found), "query did not return Entity objects")
        found = self.client.query(type=WQO)
        check(self.ids(found) == {self.song_hau.id}, f"query(type={WQO}) gave {self.ids(found)}")

    def query_q(self) -> None:
        found = self.client.query(type=AQO, q="pm25>20")
        check(
            self.ids(found) == {self.ninh_kieu.id},
            f"query(type={AQO}, q='pm25>20') gave {sorted(self.ids(found))}",
        )
        found = self.client.query(type=AQO, q='airQualityLevel=="good"')
        check(
            self.ids(found) == {self.cai_rang.id},
            f"query(q='airQualityLevel==\"good\"') gave {sorted(self.ids(found))}",
        )
        found = self.client.query(type=WQO, q="turbidity>=40;pH<7.5")
        check(
            self.ids(found) == {self.song_hau.id},
            f"query(q='turbidity>=40;pH<7.5') gave {sorted(self.ids(found))}",
        )

    def count(self) -> None:
        for kwargs, expected in (
            ({"type": AQO}, 2),
            ({"type": WQO}, 1),
            ({"type": AQO, "q": "pm25>20"}, 1),
            ({"type": AQO, "q": "pm25>100"}, 0),
        ):
            got = self.client.count(**kwargs)
            check(got == expected, f"count({kwargs}) = {got!r}, expected {expected}")

    def query_head(self) -> None:
        head = self.client.query_head(type=AQO, n=1)
        check(len(head) == 1, f"query_head(n=1) returned {len(head)} entities")
        check(head[0].id in {self.ninh_kieu.id, self.cai_rang.id}, f"query_head gave {head[0].id}")
        seen: list[Entity] = []
        self.client.query_handle(type=AQO, limit=1, callback=seen.append)
        check(
            self.ids(seen) == {self.ninh_kieu.id, self.cai_rang.id} and len(seen) == 2,
            f"query_handle(limit=1) paged through {[e.id for e in seen]}",
        )

    def types(self) -> None:
        types = self.client.types.list()
        check(isinstance(types, list), f"types.list() returned {types!r}")
        check({AQO, WQO} <= set(types), f"types.list() = {types!r}, expected {AQO} and {WQO}")

    # update

    def update_one(self) -> None:
        # Client.update(entity) = exists() then delete() then create()
        self.ninh_kieu.prop("pm25", 18.4, unitcode="GQ", observedat="2024-05-01T08:00:00Z")
        self.ninh_kieu.prop("airQualityLevel", "good")
        updated = self.client.update(self.ninh_kieu)
        check(updated is True, f"client.update(entity) returned {updated!r}")
        entity = self.client.get(self.ninh_kieu.id)
        check(entity["pm25"].value == 18.4, f"after update pm25 = {entity['pm25'].value!r}")
        check(self.client.count(type=AQO, q="pm25>20") == 0, "pm25>20 still matches")

    def upsert_one(self) -> None:
        # Client.upsert(entity) = create(), on AlreadyExists delete() then create()
        self.cai_rang.prop("pm25", 27.9, unitcode="GQ", observedat="2024-05-01T09:00:00Z")
        upserted = self.client.upsert(self.cai_rang)
        check(upserted is True, f"client.upsert(existing) returned {upserted!r}")
        entity = self.client.get(self.cai_rang.id)
        check(entity["pm25"].value == 27.9, f"after upsert pm25 = {entity['pm25'].value!r}")
        found = self.client.query(type=AQO, q="pm25>20")
        check(
            self.ids(found) == {self.cai_rang.id},
            f"pm25>20 after upsert: {sorted(self.ids(found))}",
        )

    def batch_update(self) -> None:
        patch = Entity(WQO, self.song_hau.id)
        patch.prop("turbidity", 38.5, unitcode="NTU", observedat="2024-05-01T10:00:00Z")
        result = self.client.update([patch])
        self.check_batch(result, "update", {self.song_hau.id})
        entity = self.client.get(self.song_hau.id)
        check(entity["turbidity"].value == 38.5, f"turbidity {entity['turbidity'].value!r}")
        check(entity["pH"].value == 7.2, f"batch update (overwrite) lost pH: {entity.to_dict()}")

    def batch_upsert(self) -> None:
        # one new entity (created) and one existing one (replaced)
        self.song_hau.prop("turbidity", 41.0, unitcode="NTU", observedat="2024-05-01T11:00:00Z")
        result = self.client.upsert([self.market, self.song_hau])
        self.check_batch(result, "upsert", {self.market.id, self.song_hau.id}, some=True)
        check(self.client.count(type=WQO) == 2, f"count({WQO}) after upsert != 2")
        entity = self.client.get(self.song_hau.id)
        check(entity["turbidity"].value == 41.0, f"turbidity {entity['turbidity'].value!r}")
        market = self.client.get(self.market.id)
        check(market["name"].value == "Chợ nổi Cái Răng", f"name {market['name'].value!r}")
        # update mode: existing content is kept, the given attributes are changed
        patch = Entity(WQO, self.market.id)
        patch.prop("dissolvedOxygen", 4.9, unitcode="M1", observedat="2024-05-01T11:00:00Z")
        result = self.client.upsert([patch], update=True)
        self.check_batch(result, "upsert", {self.market.id})
        market = self.client.get(self.market.id)
        check(market["dissolvedOxygen"].value == 4.9, f"DO {market['dissolvedOxygen'].value!r}")
        check(market["turbidity"].value == 60.0, "upsert options=update dropped turbidity")

    # delete

    def delete_one(self) -> None:
        deleted = self.client.delete(self.ninh_kieu)
        check(deleted is True, f"client.delete(entity) returned {deleted!r}")
        try:
            self.client.delete(self.ninh_kieu)
        except NgsiResourceNotFoundError:
            pass
        else:
            raise CheckFailed("deleting a deleted entity did not raise NgsiResourceNotFoundError")

    def delete_batch(self) -> None:
        result = self.client.delete([self.cai_rang, self.song_hau])
        self.check_batch(result, "delete", {self.cai_rang.id, self.song_hau.id})

    def delete_where(self) -> None:
        self.client.delete_where(type=WQO, q="turbidity>50")  # the floating market
        check(self.client.count(type=WQO) == 0, f"delete_where left {WQO} entities")

    def gone(self) -> None:
        for entity in (self.ninh_kieu, self.cai_rang, self.song_hau, self.market):
            check(not self.client.exists(entity), f"{entity.id} still exists")
            try:
                self.client.get(entity.id)
            except NgsiResourceNotFoundError as error:
                check(error.problemdetails.status == 404, f"status {error.problemdetails}")
            else:
                raise CheckFailed(f"client.get({entity.id}) did not raise after delete")
        for etype in (AQO, WQO):
            check(self.client.count(type=etype) == 0, f"count({etype}) != 0 after deletes")
            check(self.client.query(type=etype) == [], f"query({etype}) not empty")
        types = self.client.types.list()
        check(not {AQO, WQO} & set(types), f"types.list() still has {types!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"the platform API key sent as {API_KEY_HEADER} (default: ${API_KEY_ENV})",
    )
    args = parser.parse_args(argv)
    if not args.api_key:
        parser.error(f"an API key is needed for writes: set {API_KEY_ENV} or pass --api-key")
    logging.getLogger().setLevel(logging.WARNING)  # ngsildclient sets INFO on import

    exchanges = Exchanges()
    summary: dict[str, Any] = {"client": "ngsildclient", "broker": f"{args.host}:{args.port}"}
    scenario: Scenario | None = None
    try:
        # The Client probes GET /ngsi-ld/v1/entities?type=None&limit=0&count=true at start and
        # raises NgsiNotConnectedError if it fails; then it tries /version (Orion-LD) and
        # /actuator (Java brokers) to name the vendor: an unknown vendor is fine.
        client = Client(
            hostname=args.host,
            port=args.port,
            secure=False,
            custom_auth=ApiKeyAuth(args.api_key),
            verbose=True,
        )
        client.session.hooks["response"].append(exchanges.hook)
        summary["vendor"] = client.broker.vendor.value or "unknown"
        with client:
            scenario = Scenario(client, uuid.uuid4().hex[:8])
            scenario.run()
    except Exception as error:
        summary.update(
            ok=False,
            step=scenario.step if scenario else "connect",
            steps_passed=scenario.steps if scenario else [],
            error=f"{error.__class__.__name__}: {error}",
        )
        if isinstance(error, NgsiContextBrokerError):
            summary["problem"] = vars(error.problemdetails)
        print(traceback.format_exc(), file=sys.stderr)
        print(
            f"--- last HTTP exchanges ({exchanges.count} in all) ---\n{exchanges.dump()}",
            file=sys.stderr,
        )
        print(json.dumps(summary, ensure_ascii=False, default=str))
        return 1
    summary.update(
        ok=True,
        steps_passed=scenario.steps,
        requests=exchanges.count,
        requests_without_key=exchanges.without_key,
    )
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
