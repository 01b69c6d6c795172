"""Fixtures shared by the accounts-layer tests: an app over each backend and a client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from smartcity.app import create_app
from smartcity.core.db import Database

from .support import admin_headers, auth_settings


@pytest.fixture
def app(database: Database, tmp_path: Path) -> FastAPI:
    """A platform app with default settings, its files in tmp_path."""
    return create_app(auth_settings(tmp_path), database=database)


@pytest.fixture
def http(app: FastAPI) -> Iterator[TestClient]:
    """A client of `app` without credentials."""
    with TestClient(app) as client:
        yield client


@pytest.fixture
def admin(app: FastAPI, http: TestClient) -> dict[str, str]:
    """Headers of a signed-in admin of `app`."""
    return admin_headers(app, http)
