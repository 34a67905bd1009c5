"""Pacing: the schedule, the 429 cool-down, the adaptive rate, rate-limit headers, and the
Redis fleet that shares them.

The names users need are importable from ``yourgpt_async`` too. Inside, one idea a module:
``_limiter`` (what a client asks of a limiter), ``_local`` (the in-process limiter),
``_model`` and ``_estimate`` (the adaptive rate, pure), ``_quota`` and ``_headers`` (what
rate-limit headers say), ``_redis`` (the shared limit's settings), ``_fleet`` (its limiter),
``_lua`` with ``lua/`` (its scripts), ``_redis_url`` (its URLs), and ``_rules``, every tuning
constant by name.
"""

from .._config import RateLimit
from ._headers import RateHints
from ._limiter import Limiter, LimiterFactory, NoTurnInTime
from ._redis import RedisRateLimit

__all__ = ["Limiter", "LimiterFactory", "NoTurnInTime", "RateHints", "RateLimit", "RedisRateLimit"]
