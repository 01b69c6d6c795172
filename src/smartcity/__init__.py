"""Cần Thơ Smart City Platform."""

__version__ = "0.1.0"
