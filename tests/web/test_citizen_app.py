"""Can Tho Smart, the citizen app, and the departments' report queue in a real browser.

A citizen on a phone reports a pothole (category, its required detail, description, the
phone's position, a photo carrying GPS), is offered to follow it instead of filing it twice,
and gets the report number; the roads department's officer finds it in the queue on a desktop
and closes it with a result photo; back on the phone the report shows as resolved, a
notification has arrived and the citizen rates the work. Nothing is loaded from outside the
platform and no stored photo keeps a location. Screenshots are kept in test-artifacts/browser/.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
from PIL import ExifTags, Image

from smartcity.domains.citizen.photos import has_gps
from tests.web import test_browser
from tests.web.test_browser import Platform, admin_token, shot

# The IOC browser test's fixtures; module-scoped, so this module runs its own platform.
platform = test_browser.platform
browser = test_browser.browser

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
    "locale": "vi-VN",
}
NINH_KIEU = {"latitude": 10.0330, "longitude": 105.7872}


def gps_photo(path: Path, colour: tuple[int, int, int]) -> Path:
    """A JPEG such as a phone takes, with the place it was taken in its EXIF."""
    image = Image.new("RGB", (1200, 900), colour)
    exif = Image.Exif()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "N"
    gps[ExifTags.GPS.GPSLatitude] = (10.0, 1.0, 58.8)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 47.0, 13.9)
    image.save(path, "JPEG", exif=exif)
    assert has_gps(path.read_bytes())
    return path


def demo_password(platform: Platform, username: str) -> str:
    """A demo login's password (officers are listed under their role, so read the file)."""
    lines = (platform.data_dir / "demo-logins.txt").read_text().splitlines()
    return {line.split("\t")[0]: line.split("\t")[1] for line in lines}[username]


def sign_in(page: Any, platform: Platform, username: str, password: str, then: str) -> None:
    page.goto(f"{platform.url}/login?next={then}")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"**{then}")


def watch(page: Any, platform: Platform, outside: list[str], errors: list[str]) -> None:
    ours = (platform.url, "data:", "blob:")
    page.on("request", lambda r: None if r.url.startswith(ours) else outside.append(r.url))
    page.on("pageerror", lambda e: errors.append(str(e)))


def test_the_app_is_installable(platform: Platform) -> None:
    page = httpx.get(f"{platform.url}/app")
    assert page.status_code == 200
    assert '<html lang="vi">' in page.text and "Phản ánh mới" in page.text
    assert '<link rel="manifest" href="/app/manifest.webmanifest">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert ">New report<" in httpx.get(f"{platform.url}/app", params={"lang": "en"}).text

    manifest = httpx.get(f"{platform.url}/app/manifest.webmanifest")
    assert manifest.headers["content-type"] == "application/manifest+json"
    body = manifest.json()
    assert body["name"] == "Can Tho Smart" and body["lang"] == "vi"
    assert body["start_url"] == "/app" and body["display"] == "standalone"
    assert body["theme_color"].startswith("#")
    for icon in body["icons"]:
        found = httpx.get(f"{platform.url}{icon['src']}")
        assert found.status_code == 200 and found.headers["content-type"].startswith(icon["type"])
    assert any(i["type"] == "image/svg+xml" and i["sizes"] == "any" for i in body["icons"])
    assert {"192x192", "512x512"} <= {i["sizes"] for i in body["icons"]}

    worker = httpx.get(f"{platform.url}/app/sw.js")
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/app"
    assert "caches.open" in worker.text
    apple = httpx.get(f"{platform.url}/app/icon-180.png")
    assert apple.headers["content-type"] == "image/png" and apple.content[:4] == b"\x89PNG"
    assert httpx.get(f"{platform.url}/app/icon-64.png").status_code == 404

    # The IOC's menu leads to the departments' queue.
    assert 'href="/ioc/reports"' in httpx.get(f"{platform.url}/ioc").text
    queue = httpx.get(f"{platform.url}/ioc/reports")
    assert queue.status_code == 200 and "Phản ánh hiện trường cần xử lý" in queue.text


def test_a_citizen_reports_a_pothole_and_the_department_fixes_it(
    platform: Platform, browser: Any, tmp_path: Path
) -> None:
    outside: list[str] = []
    errors: list[str] = []
    phone = browser.new_context(**PHONE, geolocation=NINH_KIEU, permissions=["geolocation"])
    app = phone.new_page()
    watch(app, platform, outside, errors)

    # 1. The citizen signs in and opens the app; its service worker takes charge of /app.
    sign_in(app, platform, "citizen", platform.logins["citizen"], "/app")
    app.wait_for_selector("body[data-app-ready=true][data-signed-in=true]")
    scope = app.evaluate("navigator.serviceWorker.ready.then((r) => r.scope)")
    assert scope == f"{platform.url}/app"
    assert "gắn với tài khoản của bạn" in app.locator("#privacy-note").inner_text()
    shot(app, "app-1-signed-in")

    # 2. A pothole: its required detail, a description, the phone's position, a photo.
    pothole = app.locator("#service-code option", has_text="Ổ gà").first.get_attribute("value")
    app.select_option("#service-code", pothole)
    app.wait_for_selector("#attr-size[required]")
    app.select_option("#attr-size", "large")
    app.fill("#description", "Ổ gà lớn giữa làn xe máy đường Hai Bà Trưng, gần bến Ninh Kiều")
    app.click("#use-location")
    app.wait_for_selector("#location-status[data-set=true]")
    assert "10,033" in app.locator("#location-status").inner_text()  # Vietnamese decimals
    app.set_input_files("#photos", str(gps_photo(tmp_path / "pothole.jpg", (96, 90, 84))))
    app.wait_for_selector("#photo-list img")
    assert app.locator("#photo-count").inner_text() == "1/5"
    shot(app, "app-2-report-form")
    app.click("#submit-report")
    app.wait_for_selector("#report-result:not([hidden]), #nearby:not([hidden])", timeout=20_000)
    if app.locator("#nearby").is_visible():  # an earlier test's pothole is still open there
        app.click("#submit-anyway")
    app.wait_for_selector("#report-result:not([hidden])", timeout=20_000)
    report_id = app.locator("#report-result").get_attribute("data-report-id")
    assert report_id and report_id.isdigit()
    assert app.locator("#report-number").inner_text() == f"#{report_id}"
    shot(app, "app-3-report-sent")

    # 3. The same pothole again: the app offers to follow the open report within 50 m.
    app.click("#new-report")
    app.select_option("#service-code", pothole)
    app.wait_for_selector("#attr-size")
    app.select_option("#attr-size", "large")
    app.click("#use-location")
    app.wait_for_selector("#location-status[data-set=true]")
    app.click("#submit-report")
    app.wait_for_selector(f"#nearby:not([hidden]) li[data-id='{report_id}']")
    shot(app, "app-4-already-reported")
    app.locator(f"#nearby li[data-id='{report_id}'] button.follow").click()
    app.wait_for_selector(f"#nearby-message[data-followed='{report_id}']")

    # 4. The roads department's officer (SXD) closes it from the queue, with a result photo.
    desk = browser.new_context(viewport={"width": 1440, "height": 900}, locale="vi-VN")
    queue = desk.new_page()
    watch(queue, platform, outside, errors)
    officer = "officer.xaydung"
    sign_in(queue, platform, officer, demo_password(platform, officer), "/ioc/reports")
    row = queue.wait_for_selector(f"#report-queue tr.report[data-id='{report_id}']")
    assert "Ổ gà" in row.inner_text() and row.get_attribute("data-state") == "received"
    queue.wait_for_selector("body[data-indicators-ready]")
    queue.click(f"#report-queue tr.report[data-id='{report_id}'] button.open-report")
    queue.wait_for_selector(f"#report-details[data-id='{report_id}']")
    assert queue.locator("#report-photos img").count() == 1
    assert "Lớn" in queue.locator("#details-facts").inner_text()  # the size, by its name
    queue.click("#show-contact")  # an audited read; the citizen left no contact details
    queue.wait_for_selector("#report-contact:not([hidden])")
    shot(queue, "reports-1-details")
    queue.fill("#close-result", "Đã vá ổ gà bằng bê tông nhựa nóng, thông xe lúc 16:00")
    queue.set_input_files("#close-photo", str(gps_photo(tmp_path / "fixed.jpg", (40, 40, 40))))
    queue.click("#report-close-form button[type=submit]")
    queue.wait_for_selector(f"#report-details[data-state=closed][data-id='{report_id}']")
    queue.wait_for_function("document.querySelectorAll('#report-photos img').length === 2")
    queue.wait_for_selector(f"#report-queue tr.report[data-id='{report_id}']", state="detached")
    shot(queue, "reports-2-closed")

    # 5. On the phone: a notification (badge), the report resolved, rated 5.
    app.goto(f"{platform.url}/app")
    app.wait_for_selector("#notification-count:not([hidden])", timeout=20_000)
    assert int(app.locator("#notification-count").inner_text()) >= 1
    shot(app, "app-5-notification-badge")
    app.click(".tabbar a[data-view=mine]")
    mine = app.wait_for_selector(f"#my-reports li.report[data-id='{report_id}'][data-state=closed]")
    assert "Đã xử lý xong" in mine.inner_text()
    assert "bê tông nhựa" in mine.inner_text()
    app.click(f"label[for='rating-{report_id}-5']")
    app.fill(f"#rating-comment-{report_id}", "Xử lý nhanh, cảm ơn!")
    app.click(f"#rating-form-{report_id} button[type=submit]")
    app.wait_for_selector(f"#my-reports li.report[data-id='{report_id}'] .rated")
    assert app.locator(f"#rating-form-{report_id}").count() == 0
    shot(app, "app-6-rated")
    app.click(".tabbar a[data-view=notifications]")
    app.wait_for_selector("#notifications li")
    messages = app.locator("#notifications").inner_text()
    assert re.search(rf"#{report_id} đã được xử lý xong", messages)
    app.wait_for_selector("#notification-count", state="hidden")  # read once opened
    shot(app, "app-7-notifications")
    app.click(".tabbar a[data-view=map]")
    app.wait_for_selector(f"#public-reports li[data-id='{report_id}'][data-status=closed]")
    shot(app, "app-8-public-map")

    # 6. Offline, the app still starts from its cache.
    phone.set_offline(True)
    app.reload()
    app.wait_for_selector("body[data-app-ready=true]", timeout=20_000)
    assert app.locator("#offline-banner").is_visible()
    assert app.locator("#service-code option", has_text="Ổ gà").count() == 1
    shot(app, "app-9-offline")
    phone.set_offline(False)

    # 7. Over HTTP: closed for everyone, and no stored photo keeps a location.
    public = httpx.get(f"{platform.url}/open311/v2/requests/{report_id}.json").json()[0]
    assert public["status"] == "closed" and public["media_url"]
    headers = {"Authorization": f"Bearer {admin_token(platform)}"}
    case = httpx.get(f"{platform.url}/api/citizen/reports/{report_id}", headers=headers).json()
    assert case["rating"] == 5 and case["state"] == "closed"
    urls = [public["media_url"]] + [f"{platform.url}{p['url']}" for p in case["photos"]]
    assert {p["kind"] for p in case["photos"]} == {"report", "result"}
    for url in urls:
        photo = httpx.get(url)
        assert photo.status_code == 200 and not has_gps(photo.content), url

    assert outside == [], f"loaded from outside the platform: {outside}"
    assert errors == [], errors
    phone.close()
    desk.close()
