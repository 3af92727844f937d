"""Per-channel send rates shared by every worker: fixed one-second windows in a shared counter.

settings.SCRM_CHANNEL_RATES = {"sms": 50, ...} caps the sends per second of each channel. The
counter of the current second lives in the cache named by settings.SCRM_CHANNEL_RATE_CACHE:
Redis when REDIS_URL is set (one atomic INCRBY per batch, the key expiring after the window, so
all workers on all machines share the budget), and otherwise a file cache whose increments are
locked across the processes of one machine (scrm.cache.LockingFileBasedCache: the embedded
default, one machine by definition).

A worker asks for as many permits as it has messages and gets what is left of this second's
budget; what it does not get it waits for (the dispatcher sleeps to the next window, within a
deadline) rather than failing. Fixed windows let up to twice the rate through around a window
edge, and machines whose clocks disagree share windows approximately: providers' own limits
are per second or per minute with headroom, so this is the accuracy they need.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import caches

# Indirections so tests can run the limiter (and the dispatcher's waits) on a fake clock.
clock = time.time
sleep = time.sleep


def channel_rate(code: str) -> int | None:
    """The channel's sends per second, or None when it is not limited."""
    rate = settings.SCRM_CHANNEL_RATES.get(code)
    return int(rate) if rate else None


def rate_acquire(*, key: str, limit: int, want: int) -> int:
    """Take up to ``want`` of the ``limit`` permits of the current second for ``key``; returns
    how many were granted (0 when the second's budget is spent)."""
    if want <= 0:
        return 0
    cache = caches[settings.SCRM_CHANNEL_RATE_CACHE]
    window_key = f"rate:{key}:{int(clock())}"
    # add() creates the counter only if absent, incr() is atomic (Redis INCRBY, locked file);
    # the counter may run past the limit, which only means later callers get nothing.
    cache.add(window_key, 0, timeout=5)
    try:
        total = cache.incr(window_key, want)
    except ValueError:  # expired between add and incr: a new window starts with us
        cache.add(window_key, want, timeout=5)
        total = want
    return max(0, min(want, limit - (total - want)))


def rate_wait() -> float:
    """Seconds until the next window opens."""
    now = clock()
    return max(0.0, int(now) + 1 - now)
