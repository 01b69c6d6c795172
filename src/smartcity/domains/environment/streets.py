"""Streets of Ninh Kiều known to flood at high tide, mapped to the level at Cần Thơ station.

The five streets the issue and the city's flood reports name. A street floods when the Hậu
river at Cần Thơ station stands above the crown of its lowest stretch (`onset_m`, metres
above the Hòn Dấu datum of the alarm levels); the expected depth is the excess. Onsets are
estimates from press reports of which streets go under at which level (Ngô Quyền and
Lê Thánh Tôn by the river first, near BĐ I; Mậu Thân and Cách Mạng Tháng Tám near BĐ II),
not surveyed crowns; an operator can correct them by editing the FloodRiskArea entities.
Lines are approximate centre lines of the low stretch (WGS84), for the map.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FloodProneStreet:
    """A low street stretch and the station level at which water reaches it."""

    key: str
    name: str
    ward: str
    onset_m: float
    line: tuple[tuple[float, float], ...]  # (lon, lat)

    @property
    def entity_id(self) -> str:
        """Its FloodRiskArea entity."""
        return f"urn:ngsi-ld:FloodRiskArea:{self.key}"

    def expected_depth(self, station_level_m: float) -> float:
        """Depth (m) expected on the street at a given station level (0 when dry)."""
        return round(max(0.0, station_level_m - self.onset_m), 2)


FLOOD_PRONE_STREETS: tuple[FloodProneStreet, ...] = (
    FloodProneStreet(
        "ngo-quyen", "Ngô Quyền", "Phường Ninh Kiều", 1.72,
        ((105.7849, 10.0368), (105.7862, 10.0349)),
    ),
    FloodProneStreet(
        "le-thanh-ton", "Lê Thánh Tôn", "Phường Ninh Kiều", 1.74,
        ((105.7858, 10.0336), (105.7871, 10.0318)),
    ),
    FloodProneStreet(
        "ly-thuong-kiet", "Lý Thường Kiệt", "Phường Ninh Kiều", 1.76,
        ((105.7838, 10.0362), (105.7855, 10.0376)),
    ),
    FloodProneStreet(
        "cach-mang-thang-tam", "Cách Mạng Tháng Tám", "Phường Cái Khế", 1.82,
        ((105.7745, 10.0455), (105.7772, 10.0420)),
    ),
    FloodProneStreet(
        "mau-than", "Mậu Thân", "Phường Tân An", 1.84,
        ((105.7685, 10.0300), (105.7720, 10.0322)),
    ),
)  # fmt: skip
