"""Staff sign-in lockout (RELIABILITY.md, "lockout after repeated staff login failures").

After ``SCRM_LOGIN_FAILURE_LIMIT`` failed sign-ins for one username within
``SCRM_LOGIN_FAILURE_WINDOW`` seconds, that username is refused for
``SCRM_LOGIN_LOCKOUT_SECONDS``, whatever the password, and a successful sign-in resets its count.

- The check sits in the authentication backend (LockoutModelBackend), so every password sign-in
  through ``django.contrib.auth.authenticate`` is covered: the admin login and any staff API
  login built on it (DRF's obtain_auth_token, say). A locked username gets PermissionDenied
  from the backend, which stops authenticate() without checking the password.
- The admin login form (LockoutAdminAuthenticationForm, installed through LockoutAdminSite) tells
  the user why and for how long, instead of "wrong password".
- Counts live in the cache named by ``SCRM_LOGIN_LOCKOUT_CACHE``: Redis with REDIS_URL, else a
  file cache with locked counters (scrm.cache), so they hold across processes; the counting is
  the throttles' one (scrm.api.throttles): an atomic add, then an atomic increment.
- The username is keyed case-insensitively and hashed, so "Admin" and "admin" share a count and
  no raw username ends up in a cache key. Unknown usernames are counted like known ones, so the
  lockout says nothing about which accounts exist.
- Each lockout (not each failure) is written to the audit log; each failure is logged.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time

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


def _limit() -> int:
    return getattr(settings, "SCRM_LOGIN_FAILURE_LIMIT", 5)


def _window() -> int:
    return getattr(settings, "SCRM_LOGIN_FAILURE_WINDOW", 15 * 60)


def _lockout_seconds() -> int:
    return getattr(settings, "SCRM_LOGIN_LOCKOUT_SECONDS", 15 * 60)


def _cache():
    return caches[getattr(settings, "SCRM_LOGIN_LOCKOUT_CACHE", "default")]


def _keys(username: str) -> tuple[str, str]:
    digest = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:40]
    return f"login-failures:{digest}", f"login-locked:{digest}"


def login_lockout_remaining(*, username: str) -> int:
    """Seconds until ``username`` may sign in again; 0 when it is not locked out."""
    _failures, locked = _keys(username)
    until = _cache().get(locked)
    if until is None:
        return 0
    return max(0, math.ceil(until - time.time()))


def login_failure_record(*, username: str, request=None) -> int:
    """Count one failed sign-in for ``username``; on reaching the limit, lock it out. Returns the
    seconds it is now locked out for (0 when it is not)."""
    cache = _cache()
    failures, locked = _keys(username)
    window, limit = _window(), _limit()
    # As scrm.api.throttles: add() creates the counter only if absent; incr() is atomic.
    cache.add(failures, 0, timeout=window)
    try:
        count = cache.incr(failures)
    except ValueError:  # expired between add and incr: a new window starts
        cache.add(failures, 1, timeout=window)
        count = 1
    logger.warning("failed staff sign-in for %r (%d of %d)", username[:150], count, limit)
    if count < limit:
        return 0
    seconds = _lockout_seconds()
    # add(): the first of concurrent failures locks and audits; the others do not extend it.
    if cache.add(locked, time.time() + seconds, timeout=seconds):
        cache.delete(failures)
        logger.warning("staff sign-in locked for %r for %d s", username[:150], seconds)
        _audit_lockout(username=username, failures=count, seconds=seconds, request=request)
    return login_lockout_remaining(username=username)


def login_success_record(*, username: str) -> None:
    """A successful sign-in: forget the username's failures."""
    failures, _locked = _keys(username)
    _cache().delete(failures)


def _audit_lockout(*, username: str, failures: int, seconds: int, request) -> None:
    if not apps.is_installed("members"):
        return
    from members.services.audit import audit_record

    meta = getattr(request, "META", {}) or {}
    audit_record(
        actor=None,
        action="staff.login_locked",
        target=f"username:{username[:150]}",
        data={
            "failures": failures,
            "lockout_seconds": seconds,
            "ip": meta.get("REMOTE_ADDR", ""),
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
    """Raised by the backend for a locked-out username: authenticate() gives up on it."""


class LockoutModelBackend(ModelBackend):
    """Django's username and password backend, refusing locked-out usernames and counting
    failures. The only backend in AUTHENTICATION_BACKENDS."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        seconds = login_lockout_remaining(username=username)
        if seconds:
            raise LoginLockedOut(lockout_message(seconds))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            login_failure_record(username=username, request=request)
        else:
            login_success_record(username=username)
        return user


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form, saying when a username is locked out and for how long."""

    def clean(self):
        username = self.cleaned_data.get("username")
        self._refuse_if_locked(username)
        try:
            return super().clean()
        except ValidationError:
            self._refuse_if_locked(username)  # this very failure may have locked it
            raise

    def _refuse_if_locked(self, username) -> None:
        seconds = login_lockout_remaining(username=username) if username else 0
        if seconds:
            raise ValidationError(lockout_message(seconds), code="locked_out")


class LockoutAdminSite(AdminSite):
    """The default admin site with the lockout-aware login form (scrm.admin_site)."""

    login_form = LockoutAdminAuthenticationForm
