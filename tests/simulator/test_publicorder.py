"""Crowds and public-order events at Cần Thơ's public places."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from smartcity.simulator.publicorder import EVENT_TYPES, PlaceKind, PublicPlaceModel

VN = timezone(timedelta(hours=7))


def at(day: int, hour: int) -> float:
    return datetime(2026, 3, day, hour, tzinfo=VN).timestamp()  # 2–6 March 2026: Mon–Fri


def test_each_place_is_busy_at_its_own_hours() -> None:
    wharf = PublicPlaceModel("wharf", PlaceKind.RIVERSIDE, 3000)
    market = PublicPlaceModel("market", PlaceKind.MARKET, 1500)
    assert wharf.value_at(at(3, 20)).people > 3 * wharf.value_at(at(3, 3)).people
    assert market.value_at(at(3, 6)).people > 3 * market.value_at(at(3, 20)).people
    assert wharf.value_at(at(3, 20)).crowded and not wharf.value_at(at(3, 3)).crowded


def test_weekends_are_busier() -> None:
    wharf = PublicPlaceModel("wharf", PlaceKind.RIVERSIDE, 3000)
    saturday = datetime(2026, 3, 7, 20, tzinfo=VN).timestamp()
    assert wharf.value_at(saturday).people > 1.15 * wharf.value_at(at(4, 20)).people


def test_events_are_rare_known_and_deterministic() -> None:
    station = PublicPlaceModel("station", PlaceKind.TRANSPORT, 1200, seed=5)
    start = at(2, 0)
    samples = [station.value_at(start + 900 * i) for i in range(4 * 24 * 30)]  # a month
    events = [s.event for s in samples if s.event is not None]
    assert 0 < len(events) < 0.05 * len(samples)
    assert set(events) <= set(EVENT_TYPES)
    again = PublicPlaceModel("station", PlaceKind.TRANSPORT, 1200, seed=5)
    assert [again.value_at(start + 900 * i) for i in range(100)] == samples[:100]
