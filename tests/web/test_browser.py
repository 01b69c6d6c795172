"""The IOC dashboard in a real browser (Debian's Chromium, headless, driven by Playwright):
sign in, see the simulated city on the map, get an alert live and acknowledge it, switch
language — with nothing loaded from outside the platform. Screenshots of every step are kept
in test-artifacts/browser/."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import smartcity_run

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is absent (apt-get install -y chromium): browser tests skipped"
    if os.environ.get("SMARTCITY_REQUIRE_SERVERS") == "1":
        pytest.fail(message)
    print(f"\n*** {message} ***")
    pytest.skip(message)


@dataclass
class Platform:
    """A running `smartcity run` with the simulated city, and its demo logins."""

    url: str
    logins: dict[str, str]
    data_dir: Path


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    _require_chromium()
    data_dir = tmp_path_factory.mktemp("ioc")
    with smartcity_run(data_dir, backfill_days=0.25, timeout_s=240) as running:
        pairs = (line.split() for line in running.lines)
        logins = {p[1]: p[2] for p in pairs if len(p) >= 3 and p[0] == p[1]}
        yield Platform(running.url, logins, data_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Software WebGL (SwiftShader): the map renders without a GPU.
        args = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--no-sandbox"]
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        yield instance
        instance.close()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def admin_token(platform: Platform) -> str:
    form = {"grant_type": "password", "username": "admin", "password": platform.logins["admin"]}
    response = httpx.post(f"{platform.url}/auth/token", data=form)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_an_operator_sees_the_city_and_handles_an_alert(platform: Platform, browser: Any) -> None:
    outside: list[str] = []
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, locale="vi-VN")
    page = context.new_page()
    ours = (platform.url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(ours) else outside.append(r.url))
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    # 1. Sign in (the page is in Vietnamese by default).
    page.goto(f"{platform.url}/ioc")
    page.wait_for_url("**/login?next=%2Fioc")
    assert page.locator("h1").inner_text() == "Đăng nhập"
    shot(page, "1-sign-in")
    page.fill("#username", "operator")
    page.fill("#password", platform.logins["operator"])
    page.click("button[type=submit]")
    page.wait_for_url("**/ioc")

    # 2. The map shows the simulator's devices, layer by layer.
    page.wait_for_selector("body[data-map-ready=true]", timeout=60_000)
    counts = page.evaluate("window.iocState.counts")
    assert counts["streetlights"] >= 100 and counts["air"] >= 30 and counts["traffic"] >= 30
    assert "thiết bị" in page.locator("#map-status").inner_text()
    # KPI tiles declared by the domains, in Vietnamese.
    page.wait_for_selector("body[data-kpis-ready]")
    assert "Đèn hoạt động tốt" in page.locator("#kpis").inner_text()
    assert page.locator("#kpis li.kpi").count() >= 10
    shot(page, "2-map")

    # 3. An update that crosses a rule makes an alert appear without reloading.
    page.wait_for_selector("#live-state.on")
    rule = {
        "id": "browser-test-tide",
        "name": "Mực nước trạm Cần Thơ vượt 2,5 m",
        "entity_type": "WaterObserved",
        "condition": {"threshold": {"attribute": "height", "op": ">=", "value": 2.5}},
        "severity": "high",
        "category": "flood",
    }
    headers = {"Authorization": f"Bearer {admin_token(platform)}"}
    created = httpx.post(f"{platform.url}/api/rules", json=rule, headers=headers)
    assert created.status_code == 201, created.text
    measure = httpx.post(
        f"{platform.url}/iot/json",
        params={"k": "sim-river-level", "i": "river-level-can-tho"},
        json={"height": 2.61},
    )
    assert measure.status_code == 200, measure.text
    # The test's own alert (the environment domain's default rules may raise others).
    mine = ":has-text('2,5 m')"
    alert = page.wait_for_selector(f"#alert-list li.alert.status-open{mine}", timeout=20_000)
    assert "2,5" in alert.inner_text()
    shot(page, "3-alert")

    # 4. Acknowledge it (a locator, not the element: live updates may redraw the list).
    page.locator(f"#alert-list li.alert.status-open{mine} button").first.click()
    page.wait_for_selector(f"#alert-list li.alert.status-acknowledged{mine}", timeout=10_000)
    shot(page, "4-acknowledged")

    # 4b. Comment on it, promote it to an incident and work its SOP to the end.
    item = page.locator(f"#alert-list li.alert{mine}").first
    item.locator("summary").click()
    item.locator("form.comment-text input").fill("Đã cử tổ trực ra hiện trường")
    item.locator("form.comment-text button").click()
    page.wait_for_selector("text=Đã cử tổ trực ra hiện trường", timeout=10_000)
    item = page.locator(f"#alert-list li.alert{mine}").first
    item.locator("form.assign-user input").fill("operator")
    item.locator("form.assign-user button").click()
    page.wait_for_selector("#alert-list .timeline li:has-text(': operator')", timeout=10_000)
    item = page.locator(f"#alert-list li.alert{mine}").first
    item.locator("form.promote select").select_option("street-flooding-high-tide")
    item.locator("form.promote button").click()
    page.wait_for_url("**/ioc/incidents/*")
    page.wait_for_selector("#steps li.step")
    assert page.locator("#steps li.step").count() == 6  # the high-tide SOP's checklist
    page.check("#step-1")
    page.wait_for_selector("#steps li.step.status-done")
    page.fill("#summary", "Triều cường vượt báo động III, đã đóng cống và phân luồng.")
    page.click("#close-form button")  # refused: five steps are still pending
    page.wait_for_selector("#incident-error:not([hidden])")
    assert "pending" in page.locator("#incident-error").inner_text()
    for position in range(2, 6):
        page.check(f"#step-{position}")
        page.wait_for_selector(f"#steps li.step:nth-child({position}).status-done")
    last = page.locator("#steps li.step").nth(5)
    last.locator("form.skip input").fill("Nước đã rút trước khi tổ trực đến")
    last.locator("form.skip button").click()
    page.wait_for_selector("#steps li.step.status-skipped")
    page.click("#close-form button")
    page.wait_for_selector("body[data-incident-status=closed]", timeout=10_000)
    shot(page, "4b-incident-closed")
    page.goto(f"{platform.url}/ioc/incidents")
    page.select_option("#incident-status", "closed")
    page.wait_for_selector("#incident-list tr.incident.status-closed a", timeout=10_000)
    assert page.locator("h1").inner_text() == "Sự cố"
    page.goto(f"{platform.url}/ioc")
    page.wait_for_selector("body[data-map-ready=true]", timeout=60_000)

    # 5. Switch to English, and the choice sticks.
    page.click("#lang-switch")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_selector("body[data-map-ready=true]", timeout=60_000)
    assert page.locator("#layers-title").inner_text() == "Layers"
    page.goto(f"{platform.url}/ioc")
    assert page.locator("#layers-title").inner_text() == "Layers"
    shot(page, "5-english")

    # 6. An entity's page: current values and its history chart, zoomable.
    station = "urn:ngsi-ld:WaterObserved:can-tho"
    page.goto(f"{platform.url}/ioc/entities/{station}")
    page.wait_for_selector("body[data-chart-ready]", timeout=20_000)
    assert int(page.get_attribute("body", "data-chart-ready") or 0) >= 3  # hourly, 6 h back
    assert page.locator("#attributes").inner_text().count("height") == 1
    page.click("[data-range='1h']")
    page.wait_for_function("document.body.dataset.chartReady !== undefined")
    assert page.locator("canvas").count() >= 1
    with page.expect_download() as download_info:
        page.click("#chart-export .export-xlsx")
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    assert Path(download.path()).read_bytes()[:2] == b"PK"  # an Excel (zip) workbook
    shot(page, "6-history")

    # 7. A street light is dimmed from its page and acknowledges the command.
    page.goto(f"{platform.url}/ioc/entities/urn:ngsi-ld:Streetlight:000001")
    page.wait_for_selector("#device-card:not([hidden])", timeout=20_000)
    page.select_option("#command-name", "dim")
    page.fill("#command-value", "40")
    page.click("#command-form button")
    page.wait_for_selector("#commands tr.command.status-ok", timeout=30_000)
    assert "40" in page.locator("#commands").inner_text()
    # The lamp reports its new state at once, and the page shows it.
    page.wait_for_function(
        "[...document.querySelectorAll('#attributes tr')].some("
        "r => r.cells[0].textContent === 'dimmingLevel' && r.cells[1].textContent === '40')",
        timeout=20_000,
    )
    shot(page, "7-command")

    # 7b. A sluice gate in automatic control: the operator takes it over (manual, with a
    # reason), closes it by hand, and the log shows both with the device's acknowledgement.
    page.goto(f"{platform.url}/ioc/entities/urn:ngsi-ld:SluiceGate:cai-khe")
    page.wait_for_selector("#gate-card:not([hidden]) #gate-state[data-mode=auto]", timeout=20_000)
    page.select_option("#gate-mode", "manual")
    page.fill("#gate-mode-reason", "Maintenance of the gate leaf")
    page.click("#gate-mode-form button")
    page.wait_for_selector("#gate-state[data-mode=manual]", timeout=10_000)
    page.wait_for_selector("#gate-actions tr.action-manual", timeout=10_000)
    page.select_option("#gate-command", "close")
    page.fill("#gate-command-reason", "Test closing after maintenance")
    page.click("#gate-command-form button")
    page.wait_for_selector("#gate-actions tr.action-close", timeout=10_000)
    page.wait_for_selector("#gate-actions tr.action-close td:has-text('OK')", timeout=40_000)
    assert "Maintenance of the gate leaf" in page.locator("#gate-actions").inner_text()
    shot(page, "7b-gate-override")

    # 8. The video wall: no side panel, large type, views rotating by themselves.
    page.goto(f"{platform.url}/ioc?wall=1")
    page.wait_for_selector("body.wall #wall-title", timeout=60_000)
    assert page.locator("#wall-title").inner_text() == "Whole city"  # English, as chosen
    assert not page.locator(".layers").is_visible()
    shot(page, "8-video-wall")

    assert outside == [], f"loaded from outside the platform: {outside}"
    assert errors == [], errors
    context.close()


#: Screens of the operations room, checked by axe-core (WCAG 2.1 A and AA rules).
SCREENS = (
    "/ioc",
    "/ioc/incidents",
    "/ioc/entities/urn:ngsi-ld:WaterObserved:can-tho",
    "/ioc/entities/urn:ngsi-ld:SluiceGate:ba-lang",
    "/ioc?wall=1",
    "/app",
    "/ioc/reports",
)


def test_every_screen_passes_the_accessibility_audit(platform: Platform, browser: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    options = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
    context = browser.new_context(viewport={"width": 1024, "height": 768})  # a tablet
    page = context.new_page()
    found: dict[str, list[str]] = {}
    page.goto(f"{platform.url}/login")
    # The audit can fail: an image without a text alternative is caught.
    page.evaluate("document.body.append(Object.assign(new Image(), {src: 'data:,', id: 'probe'}))")
    assert any(
        v.startswith("image-alt") for v in violations(axe.run(page, options=options).response)
    )
    page.evaluate("document.getElementById('probe').remove()")
    found["/login"] = violations(axe.run(page, options=options).response)
    page.fill("#username", "operator")
    page.fill("#password", platform.logins["operator"])
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/ioc")
    for screen in SCREENS:
        page.goto(f"{platform.url}{screen}")
        page.wait_for_load_state("networkidle")
        found[screen] = violations(axe.run(page, options=options).response)
    context.close()
    assert {screen: v for screen, v in found.items() if v} == {}


def violations(response: dict[str, Any]) -> list[str]:
    """axe-core's violations as `rule: element` lines."""
    assert response["passes"], "axe-core ran no rule"
    return [
        f"{v['id']} ({v['impact']}): {node['target']}"
        for v in response["violations"]
        for node in v["nodes"]
    ]
