"""HTTP for provider adapters: one call, classified as an answer or a temporary failure.

Network errors, timeouts and HTTP 5xx raise TransientError (the dispatcher retries those with
backoff); any other status comes back as a Reply for the adapter to read, since providers put
their documented error codes in 4xx bodies (Aliyun) or in 200 bodies (WeChat, WeCom).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings

T = TypeVar("T")
R = TypeVar("R")


class TransientError(Exception):
    """The provider could not be reached or failed on its side; trying again later may work."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes

    def json(self) -> dict:
        """The body as a JSON object; a body that is not one (a gateway's error page in front of
        the provider) is a temporary failure."""
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise TransientError(f"HTTP {self.status}: not JSON: {self.body[:100]!r}") from exc
        if not isinstance(data, dict):
            raise TransientError(f"HTTP {self.status}: not a JSON object")
        return data


def http_call(
    url: str,
    *,
    method: str = "GET",
    json_body: object = None,
    form: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float | None = None,
) -> Reply:
    """One request with a JSON body or an already encoded form body; TransientError on
    network failure, timeout or 5xx."""
    data = None
    headers = dict(headers or {})
    if form is not None:
        data = form.encode("ascii")
        headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif json_body is not None:
        # ensure_ascii=False: WeChat and WeCom count text limits on the UTF-8 bytes they get.
        data = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    timeout = timeout or settings.SCRM_CHANNEL_HTTP_TIMEOUT
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Reply(response.status, response.read())
    except urllib.error.HTTPError as exc:
        body = exc.read()
        if exc.code >= 500:
            raise TransientError(f"HTTP {exc.code}: {body[:200].decode(errors='replace')}") from exc
        return Reply(exc.code, body)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise TransientError(str(getattr(exc, "reason", exc))[:300]) from exc


def parallel(function: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``function`` over ``items`` in up to SCRM_CHANNEL_HTTP_CONCURRENCY threads, results in
    order. For HTTP calls only: the threads must not touch the database (each thread would
    open its own connection and leave it open)."""
    items = list(items)
    workers = min(settings.SCRM_CHANNEL_HTTP_CONCURRENCY, len(items))
    if workers <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(function, items))
