"""Rate limits (the `limits` library, moving windows kept in process memory)."""

from __future__ import annotations

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from .errors import TooManyRequests


class RateLimits:
    """Sign-in attempts per client and per username; anonymous requests per client."""

    def __init__(self, sign_in: str, anonymous: str, storage_uri: str = "memory://") -> None:
        # memory:// counts per process; redis://… shares the counts between workers.
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._sign_in = parse(sign_in)
        self._anonymous = parse(anonymous)

    def hit_sign_in(self, key: str) -> bool:
        """Count a sign-in attempt; False when over the limit."""
        return self._limiter.hit(self._sign_in, "sign-in", key)

    def hit_anonymous(self, client: str) -> None:
        """Count an anonymous request; TooManyRequests when over the limit."""
        if not self._limiter.hit(self._anonymous, "anonymous", client):
            raise TooManyRequests(f"more than {self._anonymous} anonymous requests; sign in")
