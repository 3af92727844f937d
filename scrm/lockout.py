"""Staff sign-in lockout (RELIABILITY.md, "lockout after repeated staff login failures").

Three counts of failed sign-ins, each over a window of seconds, each locking for a period:

- one username from one address: ``SCRM_LOGIN_FAILURE_LIMIT`` failures within
  ``SCRM_LOGIN_FAILURE_WINDOW`` refuse that username *from that address* for
  ``SCRM_LOGIN_LOCKOUT_SECONDS``. Someone who knows a colleague's username can no longer lock
  them out from their own desk: the colleague still signs in from theirs.
- one address, any username: ``SCRM_LOGIN_IP_FAILURE_LIMIT`` failures within
  ``SCRM_LOGIN_IP_FAILURE_WINDOW`` refuse every sign-in from that address for
  ``SCRM_LOGIN_IP_LOCKOUT_SECONDS``, so one machine cannot try passwords across all accounts
  (or lock them out one after the other).
- one username from anywhere: ``SCRM_LOGIN_USERNAME_FAILURE_LIMIT`` failures (set well above the
  first limit) within ``SCRM_LOGIN_FAILURE_WINDOW`` refuse the username from every address for
  ``SCRM_LOGIN_LOCKOUT_SECONDS``: the bound on guessing one password from many addresses.

A successful sign-in forgets the username's failures (from that address and overall), not the
address's. The client address is REMOTE_ADDR, or, behind ``SCRM_TRUSTED_PROXIES`` reverse
proxies that append to X-Forwarded-For, the address the outermost of them saw (client_address).
A call to authenticate() without a request counts under the username with an unknown address.

- The check sits in the authentication backend (LockoutModelBackend), so every password sign-in
  through ``django.contrib.auth.authenticate`` is covered: the admin login and any staff API
  login built on it (DRF's obtain_auth_token, say). A locked sign-in gets PermissionDenied
  from the backend, which stops authenticate() without checking the password.
- The admin login form (LockoutAdminAuthenticationForm, installed through LockoutAdminSite) tells
  the user why and for how long, instead of "wrong password"; it does not say which limit.
- Counts live in the cache named by ``SCRM_LOGIN_LOCKOUT_CACHE``: Redis with REDIS_URL, else a
  file cache with locked counters (scrm.cache), so they hold across processes; the counting is
  the throttles' one (scrm.api.throttles): an atomic add, then an atomic increment, and a lock
  is taken with an atomic add, so concurrent failures lock (and audit) once.
- Usernames are keyed case-insensitively and hashed, so "Admin" and "admin" share a count and
  no raw username ends up in a cache key. Unknown usernames are counted like known ones, so the
  lockout says nothing about which accounts exist.
- Each lockout (not each failure) is written to the audit log; each failure is logged.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import caches
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)


def _setting(name: str, default: int) -> int:
    return getattr(settings, name, default)


@dataclass(frozen=True)
class _Limit:
    """One count of failures: its cache keys, how many failures in how many seconds lock, and
    for how long; ``action`` and ``target`` name the lockout in the audit log."""

    name: str
    digest: str
    limit: int
    window: int
    seconds: int
    action: str
    target: str

    @property
    def failures_key(self) -> str:
        return f"login-failures:{self.name}:{self.digest}"

    @property
    def locked_key(self) -> str:
        return f"login-locked:{self.name}:{self.digest}"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _limits(username: str, address: str) -> list[_Limit]:
    """The counts a sign-in for ``username`` from ``address`` ("" when unknown) goes into."""
    user = username.strip().casefold()
    window = _setting("SCRM_LOGIN_FAILURE_WINDOW", 15 * 60)
    seconds = _setting("SCRM_LOGIN_LOCKOUT_SECONDS", 15 * 60)
    target = f"username:{username[:150]}"
    limits = [
        _Limit(
            name="pair",
            digest=_digest(user, address),
            limit=_setting("SCRM_LOGIN_FAILURE_LIMIT", 5),
            window=window,
            seconds=seconds,
            action="staff.login_locked",
            target=target,
        ),
        _Limit(
            name="user",
            digest=_digest(user),
            limit=_setting("SCRM_LOGIN_USERNAME_FAILURE_LIMIT", 50),
            window=window,
            seconds=seconds,
            action="staff.login_locked_everywhere",
            target=target,
        ),
    ]
    if address:
        limits.append(
            _Limit(
                name="address",
                digest=_digest(address),
                limit=_setting("SCRM_LOGIN_IP_FAILURE_LIMIT", 20),
                window=_setting("SCRM_LOGIN_IP_FAILURE_WINDOW", window),
                seconds=_setting("SCRM_LOGIN_IP_LOCKOUT_SECONDS", seconds),
                action="staff.login_address_locked",
                target=f"ip:{address}",
            )
        )
    return limits


def _cache():
    return caches[getattr(settings, "SCRM_LOGIN_LOCKOUT_CACHE", "default")]


def client_address(request) -> str:
    """The address a sign-in came from: REMOTE_ADDR, or behind SCRM_TRUSTED_PROXIES proxies
    the X-Forwarded-For entry the outermost one added (entries before it are whatever the
    client sent, so never trusted). "" when unknown (no request)."""
    meta = getattr(request, "META", None) or {}
    address = meta.get("REMOTE_ADDR", "") or ""
    proxies = _setting("SCRM_TRUSTED_PROXIES", 0)
    forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            address = hops[-min(proxies, len(hops))]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address[:64]


def _remaining(cache, limit: _Limit, now: float) -> int:
    until = cache.get(limit.locked_key)
    return 0 if until is None else max(0, math.ceil(until - now))


def login_lockout_remaining(*, username: str, address: str = "") -> int:
    """Seconds until ``username`` may sign in again from ``address``; 0 when it may now."""
    cache, now = _cache(), time.time()
    return max(_remaining(cache, limit, now) for limit in _limits(username, address))


def _count(cache, limit: _Limit) -> int:
    # As scrm.api.throttles: add() creates the counter only if absent; incr() is atomic.
    cache.add(limit.failures_key, 0, timeout=limit.window)
    try:
        return cache.incr(limit.failures_key)
    except ValueError:  # expired between add and incr: a new window starts
        cache.add(limit.failures_key, 1, timeout=limit.window)
        return 1


def login_failure_record(*, username: str, request=None) -> int:
    """Count one failed sign-in for ``username`` from the request's address in each of its
    counts; a count reaching its limit locks. Returns the seconds the username is now locked
    out for from that address (0 when it is not)."""
    cache = _cache()
    address = client_address(request)
    where = address or "an unknown address"
    counted = [(limit, _count(cache, limit)) for limit in _limits(username, address)]
    logger.warning(
        "failed staff sign-in for %r from %s (%s)",
        username[:150],
        where,
        ", ".join(f"{limit.name} {count}/{limit.limit}" for limit, count in counted),
    )
    for limit, count in counted:
        if count < limit.limit:
            continue
        # add(): the first of concurrent failures locks and audits; the others do not extend it.
        if cache.add(limit.locked_key, time.time() + limit.seconds, timeout=limit.seconds):
            cache.delete(limit.failures_key)
            logger.warning(
                "staff sign-in locked (%s) for %r from %s for %d s",
                limit.name,
                username[:150],
                where,
                limit.seconds,
            )
            _audit_lockout(limit, failures=count, address=address, request=request)
    return login_lockout_remaining(username=username, address=address)


def login_success_record(*, username: str, request=None) -> None:
    """A successful sign-in: forget the username's failures (from this address and overall);
    the address's count of failures for other usernames stays."""
    cache = _cache()
    for limit in _limits(username, client_address(request)):
        if limit.name != "address":
            cache.delete(limit.failures_key)


def _audit_lockout(limit: _Limit, *, failures: int, address: str, request) -> None:
    if not apps.is_installed("members"):
        return
    from members.services.audit import audit_record

    meta = getattr(request, "META", {}) or {}
    audit_record(
        actor=None,
        action=limit.action,
        target=limit.target,
        data={
            "failures": failures,
            "lockout_seconds": limit.seconds,
            "ip": address,
            "user_agent": meta.get("HTTP_USER_AGENT", "")[:200],
        },
    )


def lockout_message(seconds: int) -> str:
    """The translated refusal shown to a locked-out user."""
    minutes = max(1, math.ceil(seconds / 60))
    return ngettext(
        "Too many failed sign-ins; try again in %(minutes)d minute.",
        "Too many failed sign-ins; try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}


class LoginLockedOut(PermissionDenied):
    """Raised by the backend for a locked-out sign-in: authenticate() gives up on it."""


class LockoutModelBackend(ModelBackend):
    """Django's username and password backend, refusing locked-out sign-ins and counting
    failures. The only backend in AUTHENTICATION_BACKENDS."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        seconds = login_lockout_remaining(username=username, address=client_address(request))
        if seconds:
            raise LoginLockedOut(lockout_message(seconds))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, request=request)
        else:
            login_success_record(username=username, request=request)
        return user


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, saying when a sign-in is locked out and for how long."""

    def clean(self):
        username = self.cleaned_data.get("username")
        self._refuse_if_locked(username)
        try:
            return super().clean()
        except ValidationError:
            self._refuse_if_locked(username)  # this very failure may have locked it
            raise

    def _refuse_if_locked(self, username) -> None:
        address = client_address(self.request)
        seconds = login_lockout_remaining(username=username, address=address) if username else 0
        if seconds:
            raise ValidationError(lockout_message(seconds), code="locked_out")


class LockoutAdminSite(AdminSite):
    """The default admin site with the lockout-aware login form (scrm.admin_site)."""

    login_form = LockoutAdminAuthenticationForm
