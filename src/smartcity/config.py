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
