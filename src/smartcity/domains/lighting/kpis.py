"""The lighting domain's indicators: small pure helpers over current values."""

from __future__ import annotations


def share(values: list[object], wanted: str) -> float | None:
    """Percentage of values equal to `wanted` (None without values)."""
    return 100.0 * sum(1 for v in values if v == wanted) / len(values) if values else None
