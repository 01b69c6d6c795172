"""The policy's narrowing rules: departments' queues and citizens' own records."""

from __future__ import annotations

import pytest

from smartcity.core.auth.policy import (
    ANONYMOUS,
    Principal,
    Role,
    may_see_record,
    narrowed_types,
    visible_departments,
)

OFFICER = Principal(role=Role.OFFICER, user_id=7, departments=frozenset({"SXD"}))
CITIZEN = Principal(role=Role.CITIZEN, user_id=42)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR])
def test_admins_and_operators_see_every_queue(role: Role) -> None:
    assert visible_departments(Principal(role=role, user_id=1)) is None
    assert may_see_record(Principal(role=role, user_id=1), owner_id=42, department="SYT")


def test_officer_sees_only_own_departments() -> None:
    assert visible_departments(OFFICER) == {"SXD"}
    assert may_see_record(OFFICER, owner_id=42, department="SXD")
    assert not may_see_record(OFFICER, owner_id=42, department="SNNMT")
    assert not may_see_record(OFFICER, owner_id=42, department=None)


def test_citizen_sees_only_own_records() -> None:
    assert visible_departments(CITIZEN) == frozenset()
    assert may_see_record(CITIZEN, owner_id=42, department="SXD")
    assert not may_see_record(CITIZEN, owner_id=43, department="SXD")
    assert not may_see_record(ANONYMOUS, owner_id=None, department="SXD")


def test_officer_types_are_their_departments_and_keys_narrow_further() -> None:
    assert narrowed_types(Role.OFFICER, {"Streetlight", "Road"}, None) == {"Streetlight", "Road"}
    assert narrowed_types(Role.OFFICER, {"Streetlight", "Road"}, ["Road"]) == {"Road"}
    assert narrowed_types(Role.INTEGRATOR, None, ["WaterObserved"]) == {"WaterObserved"}
    assert narrowed_types(Role.OPERATOR, {"Streetlight"}, None) is None
