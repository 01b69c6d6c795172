"""Cần Thơ's city departments (after the 2025 reorganisation) and the demo accounts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection

from . import repository as repo
from .credentials import new_secret
from .service import AuthService

#: (code, Vietnamese name, English name, NGSI-LD entity types it manages).
#: Departments as merged in 2025 (Resolution 190/2025/QH15 and the city's decisions):
#: Finance = Planning & Investment + Finance; Construction = Construction + Transport;
#: Agriculture & Environment = Agriculture + Natural Resources & Environment;
#: Science & Technology = S&T + Information & Communications; Home Affairs = Home Affairs +
#: Labour, Invalids & Social Affairs. Admins edit this list; it is data, not code.
CAN_THO_DEPARTMENTS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("VPUB", "Văn phòng UBND thành phố", "Office of the City People's Committee", ()),
    ("STC", "Sở Tài chính", "Department of Finance", ()),
    (
        "SXD",
        "Sở Xây dựng",
        "Department of Construction",
        (
            "TrafficFlowObserved",
            "Road",
            "RoadSegment",
            "TrafficSignal",
            "ParkingSpot",
            "Streetlight",
            "StreetlightControlCabinet",
            "StreetlightGroup",
        ),
    ),
    (
        "SNNMT",
        "Sở Nông nghiệp và Môi trường",
        "Department of Agriculture and Environment",
        (
            "AirQualityObserved",
            "WaterQualityObserved",
            "WaterObserved",
            "FloodMonitoring",
            "WeatherObserved",
            "NoiseLevelObserved",
            "WasteContainer",
            "AgriParcel",
            "AgriCrop",
        ),
    ),
    (
        "SKHCN",
        "Sở Khoa học và Công nghệ",
        "Department of Science and Technology",
        ("Device", "DeviceModel"),
    ),
    ("SNV", "Sở Nội vụ", "Department of Home Affairs", ()),
    (
        "SCT",
        "Sở Công Thương",
        "Department of Industry and Trade",
        ("PhotovoltaicMeasurement", "WindTurbine", "EnergyMeter"),
    ),
    ("SYT", "Sở Y tế", "Department of Health", ("Patient", "MedicalRecord")),
    ("SGDDT", "Sở Giáo dục và Đào tạo", "Department of Education and Training", ()),
    ("SVHTTDL", "Sở Văn hóa, Thể thao và Du lịch", "Department of Culture, Sports and Tourism", ()),
    ("STP", "Sở Tư pháp", "Department of Justice", ()),
    ("SDTTG", "Sở Dân tộc và Tôn giáo", "Department of Ethnic and Religious Affairs", ()),
    ("TTTP", "Thanh tra thành phố", "City Inspectorate", ()),
    ("CATP", "Công an thành phố Cần Thơ", "Cần Thơ City Police", ("Incident",)),
)


def seed_departments(service: AuthService) -> int:
    """Create the city's departments that do not exist yet (never overwrites edits)."""

    def job(conn: Connection) -> int:
        created = 0
        for code, name_vi, name_en, types in CAN_THO_DEPARTMENTS:
            if repo.get_department(conn, code) is None:
                values = {
                    "code": code,
                    "name_vi": name_vi,
                    "name_en": name_en,
                    "entity_types": list(types),
                    "active": True,
                }
                repo.upsert_department(conn, values, exists=False)
                created += 1
        return created

    return service.database.run_write(job)


@dataclass(frozen=True)
class DemoLogin:
    """One demo account as printed by `make run`."""

    username: str
    password: str
    role: str
    departments: tuple[str, ...] = ()


#: Demo accounts: one per role, officers in two departments.
DEMO_ACCOUNTS = (
    ("admin", "admin", ()),
    ("operator", "operator", ()),
    ("officer.moitruong", "officer", ("SNNMT",)),
    ("officer.xaydung", "officer", ("SXD",)),
    ("citizen", "citizen", ()),
    ("integrator", "integrator", ()),
)


def seed_demo_accounts(service: AuthService, data_dir: Path) -> list[DemoLogin]:
    """Create the demo accounts once, with random passwords kept in the data dir (0600)."""
    seed_departments(service)
    path = data_dir / "demo-logins.txt"
    known = _read_logins(path)
    logins: list[DemoLogin] = []
    existing = {u.username for u in service.list_users()}
    for username, role, departments in DEMO_ACCOUNTS:
        if username in existing and username in known:
            logins.append(DemoLogin(username, known[username], role, departments))
            continue
        if username in existing:
            # Created elsewhere with a password we do not know: leave it alone.
            continue
        password = "Ct-" + new_secret(9)
        service.create_user(username, password, role, departments)
        logins.append(DemoLogin(username, password, role, departments))
    _write_logins(path, logins)
    return logins


def _read_logins(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("\t")[:2] for line in path.read_text().splitlines() if "\t" in line)
    return {name: password for name, password in pairs}


def _write_logins(path: Path, logins: list[DemoLogin]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{d.username}\t{d.password}\t{d.role}\n" for d in logins))
