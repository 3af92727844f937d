"""Provider access tokens, cached until shortly before they expire.

WeChat and WeCom hand out tokens valid for about two hours and limit how often they may be
fetched, so every worker uses the one in the shared cache (Redis in production) and fetches a
new one only when it is missing or the provider says it is no longer valid.
"""

from __future__ import annotations

from collections.abc import Callable

from django.core.cache import cache

# Renew this long before the provider's expiry, so a token is never used in its last minutes.
EARLY_SECONDS = 300


def _key(name: str) -> str:
    return f"channels:token:{name}"


def access_token_get(*, name: str, fetch: Callable[[], tuple[str, int]]) -> str:
    """The cached token ``name``; ``fetch()`` -> (token, expires_in seconds) when there is none."""
    token = cache.get(_key(name))
    if token:
        return token
    token, expires_in = fetch()
    cache.set(_key(name), token, timeout=max(int(expires_in) - EARLY_SECONDS, 60))
    return token


def access_token_forget(*, name: str) -> None:
    """Drop a token the provider refused (expired early, or renewed elsewhere)."""
    cache.delete(_key(name))
