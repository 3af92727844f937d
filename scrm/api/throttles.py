"""Rate limits that hold under concurrency.

DRF's stock throttles read a history list, decide, then write it back: concurrent requests race
past the limit (RELIABILITY.md). These count with one atomic cache increment per request (INCR on
Redis) in fixed windows, so N parallel requests can never all get in.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from rest_framework.throttling import BaseThrottle


class AtomicIPThrottle(BaseThrottle):
    """At most ``limit`` requests per ``window`` seconds from one client address per scope."""

    scope = "default"
    limit = 20
    window = 60

    def allow_request(self, request, view):
        now = int(time.time())
        self._window_end = (now // self.window + 1) * self.window
        key = f"throttle:{self.scope}:{self.get_ident(request)}:{now // self.window}"
        # add() creates the counter only if absent; incr() is atomic on Redis and locmem.
        cache.add(key, 0, timeout=self.window + 5)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr: start a new window
            cache.add(key, 1, timeout=self.window + 5)
            count = 1
        return count <= self.limit

    def wait(self):
        return max(0, self._window_end - time.time())


class LoginThrottle(AtomicIPThrottle):
    """Mini-program sign-ins: 20 a minute from one address."""

    scope = "login"
    limit = 20
    window = 60
