"""ASGI entry point for uvicorn (settings from SMARTCITY_* environment)."""

from smartcity.app import create_app

app = create_app()
