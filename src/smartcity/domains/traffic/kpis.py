"""The traffic domain's indicators: small pure helpers over current values."""

from __future__ import annotations


def mean(values: list[float]) -> float | None:
    """The mean of the values (None without values)."""
    return sum(values) / len(values) if values else None
