"""Delivery of queued alert notifications: e-mail over SMTP and webhooks (a leader job).

Rows come from the outbox the alert service writes with each alert change; each is tried
until it succeeds, with exponential backoff, and given up (status "failed") after
`max_attempts`. Delivered rows stay as the record of who was told what and when.
"""

from __future__ import annotations

import logging
import smtplib
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from smartcity.core.context.times import now_us
from smartcity.core.db import Database

from . import repository as repo

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to send e-mail; no host means e-mail is not sent (rows wait)."""

    host: str | None = None
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = "ioc@cantho.gov.vn"
    timeout_s: float = 10.0


class AlertNotifier:
    """Sends due notifications from the outbox in a background thread."""

    def __init__(
        self,
        database: Database,
        smtp: SmtpConfig,
        *,
        poll_s: float = 1.0,
        max_attempts: int = 8,
        max_backoff_s: float = 300.0,
        webhook_timeout_s: float = 10.0,
    ) -> None:
        self.database = database
        self.smtp = smtp
        self.poll_s = poll_s
        self.max_attempts = max_attempts
        self.max_backoff_s = max_backoff_s
        self._http = httpx.Client(timeout=webhook_timeout_s, follow_redirects=False)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start delivering."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="alert-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop delivering (pending rows wait for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def wake(self) -> None:
        """Look at the outbox now (after an alert change)."""
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                while self.deliver_due() and not self._stop.is_set():
                    pass
            except Exception:
                log.exception("alert notifier failed; retrying")
            self._wake.wait(self.poll_s)
            self._wake.clear()

    def deliver_due(self, limit: int = 50) -> int:
        """Try every due notification once; how many were tried."""
        with self.database.read() as conn:
            rows = repo.due_notifications(conn, now_us(), limit)
        if self.smtp.host is None:
            rows = [row for row in rows if row["channel"] != "email"]
        for row in rows:
            self._deliver(row)
        return len(rows)

    def _deliver(self, row: dict[str, Any]) -> None:
        try:
            if row["channel"] == "email":
                self._send_email(row)
            else:
                self._post_webhook(row)
        except Exception as error:  # any failure of the receiver: retry later
            self._failed(row, f"{error.__class__.__name__}: {error}")
            return
        now = now_us()
        self.database.run_write(
            lambda conn: repo.mark_notification(
                conn,
                row["id"],
                status="sent",
                delivered_at=now,
                attempts=row["attempts"] + 1,
                last_error=None,
            )
        )

    def _failed(self, row: dict[str, Any], error: str) -> None:
        attempts = row["attempts"] + 1
        backoff_s = min(self.max_backoff_s, 2.0**attempts)
        status = "failed" if attempts >= self.max_attempts else "pending"
        next_at = now_us() + int(backoff_s * 1_000_000)
        log.warning("notification %s (%s) failed: %s", row["id"], row["channel"], error)
        self.database.run_write(
            lambda conn: repo.mark_notification(
                conn,
                row["id"],
                status=status,
                attempts=attempts,
                next_attempt_at=next_at,
                last_error=error[:500],
            )
        )

    def _send_email(self, row: dict[str, Any]) -> None:
        message = email_message(row["payload"], self.smtp.sender, row["target"])
        assert self.smtp.host is not None
        with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=self.smtp.timeout_s) as smtp:
            if self.smtp.starttls:
                smtp.starttls()
            if self.smtp.username:
                smtp.login(self.smtp.username, self.smtp.password or "")
            smtp.send_message(message)

    def _post_webhook(self, row: dict[str, Any]) -> None:
        response = self._http.post(row["target"], json=row["payload"])
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered {response.status_code}")


SEVERITY_VI = {
    "informational": "Thông tin",
    "low": "Thấp",
    "medium": "Trung bình",
    "high": "Cao",
    "critical": "Khẩn cấp",
}
REASON_VI = {"opened": "Cảnh báo mới", "escalated": "Cảnh báo chuyển cấp", "assigned": "Được giao"}


def email_message(payload: dict[str, Any], sender: str, recipient: str) -> EmailMessage:
    """The e-mail for one alert notification, Vietnamese first, then English."""
    alert, reason = payload["alert"], payload["reason"]
    severity = alert["severity"]
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = (
        f"[{SEVERITY_VI.get(severity, severity)}] {REASON_VI.get(reason, reason)}: {alert['title']}"
    )
    message.set_content(
        "\n".join(
            [
                f"{REASON_VI.get(reason, reason)} — mức độ {SEVERITY_VI.get(severity, severity)}",
                f"Nội dung: {alert['title']}",
                f"Đối tượng: {alert['subject_id']}",
                f"Thời điểm: {alert['opened_at']}",
                f"Đơn vị phụ trách: {alert.get('department') or '—'}",
                "",
                f"Alert {reason} — severity {severity}",
                f"What: {alert['title']}",
                f"Subject: {alert['subject_id']}",
                f"Opened: {alert['opened_at']}",
                f"Alert id: {alert['id']} ({alert['entity_id']})",
            ]
        )
    )
    return message
