"""The one settings object of the platform (environment prefix SMARTCITY_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Platform settings, read from the environment and an optional `.env` file."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_", env_file=".env", extra="ignore")

    data_dir: Path = Path("./var")
    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    demo: bool = True
    # Bodies above this size get 413; a batch of 1,000 entities fits comfortably.
    max_body_bytes: int = 8 * 1024 * 1024
    query_default_limit: int = 20
    query_max_limit: int = 1000
    # Remote JSON-LD contexts: a slow context server must not hang a request.
    context_fetch_timeout_s: float = 5.0
    context_cache_ttl_s: float = 3600.0
    # How many entities a temporal query may return at most per page.
    temporal_max_instances: int = 10000

    # --- accounts and security (docs/security.md) ---
    # Signs access tokens. Unset: generated once into <data_dir>/secret_key (never the repo).
    secret_key: str | None = None
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    session_ttl_s: int = 12 * 3600
    lockout_after_failures: int = 5
    lockout_s: int = 900
    # Seconds a checked API key is trusted without a database read. A revocation made in
    # this process applies at once; one made by another worker or the CLI within this time.
    api_key_cache_s: float = 5.0
    # Sensor context (not personal) may be read without signing in; personal types never.
    public_context_read: bool = True
    # NGSI-LD entity types that hold personal data (matched by local name).
    personal_entity_types: list[str] = ["Person", "Patient", "MedicalRecord", "Citizen"]
    sign_in_rate_limit: str = "10/minute"
    anonymous_rate_limit: str = "600/minute"
    # memory:// counts per process; redis://127.0.0.1:6379 shares counts between workers.
    rate_limit_storage: str = "memory://"
    # Browser origins allowed to call the API cross-site; none by default (CORS off).
    cors_origins: list[str] = []
    #: A raster tile server for the IOC map ({z}/{x}/{y}); none by default (offline).
    map_tile_url: str | None = None
    # Set behind HTTPS: Secure cookies and Strict-Transport-Security.
    https: bool = False
    # Decree 53/2022/NĐ-CP: system logs are kept at least 12 months.
    audit_retention_days: int = 365

    # --- device ingestion (docs/ingest.md) ---
    # mqtt://host:1883 switches the MQTT southbound on; HTTP ingestion is always on.
    mqtt_url: str | None = None
    # Stable per worker: the broker keeps its session (and unacknowledged messages).
    mqtt_client_id: str = "smartcity-ingest-1"
    # Workers in one share group split the devices' messages (MQTT v5 shared subscription).
    mqtt_share_group: str = "smartcity"
    # How long the broker keeps a disconnected worker's session and unacknowledged messages.
    mqtt_session_expiry_s: int = 7 * 24 * 3600
    # QoS 1 messages the broker may have in flight to one worker before it waits for acks.
    mqtt_receive_maximum: int = 1000
    # Messages held in memory waiting for the store; past it MQTT waits and HTTP gets 503.
    ingest_max_pending: int = 20000
    # Attribute values stored per transaction (bigger: faster, longer write-lock holds).
    ingest_batch_max: int = 5000
    # A TimeInstant further ahead of the receive time than this is refused (clock skew).
    ingest_max_future_s: float = 300.0
    # Seconds a device's provisioning is cached by the ingest path (a change made in this
    # process applies at once; one made by another process within this time).
    device_cache_s: float = 60.0
    command_timeout_s: float = 60.0
    # How often the sweep runs: offline devices, expired commands, health onto Device entities.
    device_sweep_s: float = 5.0
    device_health_mirror_s: float = 60.0
    dead_letter_retention_days: int = 30

    # --- events, leadership and alerts (issue 5) ---
    # nats://host:port: events reach every process through NATS JetStream (server mode).
    nats_url: str | None = None
    nats_stream: str = "SMARTCITY_EVENTS"
    nats_subject_prefix: str = "smartcity.events"
    # How often the leader reads other processes' changes from the feed table.
    feed_poll_s: float = 1.0
    # Entity changes the leader has read are kept this long (NGSI-LD history is separate).
    change_feed_retention_h: float = 24.0
    # How often a follower tries to become leader (and the leader checks it still is).
    leader_retry_s: float = 2.0
    # False: this process never leads (API-only workers beside a `smartcity jobs` process).
    lead: bool = True
    # How often the leader escalates unacknowledged alerts and checks absence-of-data rules.
    alert_sweep_s: float = 5.0
    absence_sweep_s: float = 30.0
    # E-mail for alert notifications; without a host, e-mails wait in the outbox.
    smtp_host: str | None = None
    #: Who receives the daily operations report at 07:00 (archived in <data dir>/reports/).
    daily_report_recipients: list[str] = []
    daily_report_language: str = "vi"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_sender: str = "ioc@cantho.gov.vn"

    # --- domains ---
    # False: the domains' computations (change handlers, jobs) do not run; their routes do.
    # For a plain NGSI-LD broker, and for the kernel's tests, which must see only their writes.
    domain_computations: bool = True

    # --- environment domain (issue 8) ---
    # Flood alarm levels at Cần Thơ station, m above Hòn Dấu (QĐ 05/2020/QĐ-TTg): BĐ I–III.
    env_alarm_levels_m: list[float] = [1.80, 1.90, 2.00]
    env_tide_station: str = "urn:ngsi-ld:WaterObserved:can-tho"
    # High tides are forecast from this many days of the station's history, this far ahead.
    env_tide_fit_days: float = 30.0
    env_tide_horizon_h: float = 72.0
    env_tide_forecast_every_s: float = 1800.0
    # Air quality index written on AirQualityObserved: "vn" (VN_AQI) or "us" (US EPA 2024).
    env_aqi_standard: str = "vn"
    # Salinity (‰) above which an intake or sluice gate in automatic mode closes (0.45 ‰: the
    # 250 mg/L chloride of QCVN 01-1:2018/BYT, see salinity.py); it reopens
    # below the reopen level once fresher water has lasted env_gate_confirm_s.
    env_intake_salinity_limit_ppt: float = 0.45
    env_gate_reopen_ppt: float = 0.35
    env_gate_min_dwell_s: float = 1800.0
    env_gate_confirm_s: float = 1800.0
    # Gates act only on readings observed this recently (history arriving late is not acted on).
    env_live_window_s: float = 900.0

    # --- citizen reports (issue 9) ---
    # Reports one device (or client address) may file in an hour (spam limit).
    citizen_reports_per_hour: int = 10
    # Request bodies that carry photos (5 × 10 MB, cleaned and shrunk before storage).
    citizen_upload_max_bytes: int = 52 * 1024 * 1024

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: the configured one, else a SQLite file in the data dir."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{(self.data_dir / 'smartcity.db').resolve()}"


def normalize_database_url(url: str) -> str:
    """Use the psycopg 3 driver for plain postgresql:// URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own Settings)."""
    return Settings()
