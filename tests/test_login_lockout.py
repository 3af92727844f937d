"""Staff sign-in lockout (scrm.lockout): N failures for one username from one address within the
window lock it out from that address for the lockout period, in the admin login and in every
authenticate() call; M failures from one address lock the address for every username; a higher
count for one username from anywhere locks it everywhere; success resets the username's counts.
Time is moved by a fake clock, never slept; counters are checked across processes."""

from __future__ import annotations

import multiprocessing
import time

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.urls import reverse

from members.models import AuditLog
from scrm import lockout
from scrm.cache import LockingFileBasedCache
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = reverse("admin:login")
PASSWORD = "pass-1234"


class Clock:
    """time.time() under the test's control (cache expiry reads it too)."""

    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(time, "time", fake)
    return fake


@pytest.fixture(autouse=True)
def lockout_settings(settings, tmp_path):
    """The locking file cache of the embedded default, in a folder of this test."""
    settings.CACHES = {
        **settings.CACHES,
        "lockout": {
            "BACKEND": "scrm.cache.LockingFileBasedCache",
            "LOCATION": str(tmp_path / "lockout"),
        },
    }
    settings.SCRM_LOGIN_LOCKOUT_CACHE = "lockout"
    settings.SCRM_LOGIN_FAILURE_LIMIT = 5
    settings.SCRM_LOGIN_FAILURE_WINDOW = 15 * 60
    settings.SCRM_LOGIN_LOCKOUT_SECONDS = 15 * 60
    settings.SCRM_LOGIN_IP_FAILURE_LIMIT = 20
    settings.SCRM_LOGIN_IP_FAILURE_WINDOW = 15 * 60
    settings.SCRM_LOGIN_IP_LOCKOUT_SECONDS = 15 * 60
    settings.SCRM_LOGIN_USERNAME_FAILURE_LIMIT = 50
    settings.SCRM_TRUSTED_PROXIES = 0
    # Every attempt checks a password: a fast hasher keeps the test quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings


@pytest.fixture
def staff():
    return factories.OperatorFactory(username="ops-zhang")


def sign_in(client, username, password, address="127.0.0.1", **extra):
    return client.post(
        LOGIN,
        {"username": username, "password": password, "next": reverse("admin:index")},
        HTTP_ACCEPT_LANGUAGE="en",
        REMOTE_ADDR=address,
        **extra,
    )


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def form_errors(response) -> list[str]:
    return response.context["form"].non_field_errors()


def test_admin_login_locks_after_n_failures_until_the_period_ends(client, staff, clock):
    for attempt in range(1, 5):
        response = sign_in(client, staff.username, "wrong")
        assert response.status_code == 200
        assert "Too many failed sign-ins" not in response.content.decode(), attempt

    fifth = sign_in(client, staff.username, "wrong")
    assert form_errors(fifth) == ["Too many failed sign-ins; try again in 15 minutes."]

    # The right password does not help while locked out.
    clock.advance(14 * 60)
    refused = sign_in(client, staff.username, PASSWORD)
    assert refused.status_code == 200
    assert form_errors(refused) == ["Too many failed sign-ins; try again in 1 minute."]
    assert not signed_in(client)

    clock.advance(60 + 1)
    response = sign_in(client, staff.username, PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_lockout_is_per_username_and_case_insensitive(client, staff, clock):
    other = factories.OperatorFactory(username="ops-li")
    for _ in range(5):
        sign_in(client, "OPS-Zhang", "wrong")
    assert lockout.login_lockout_remaining(username=staff.username, address="127.0.0.1") == 900
    assert authenticate(request(), username=staff.username, password=PASSWORD) is None
    assert authenticate(request(), username=other.username, password=PASSWORD) == other


def request(address="127.0.0.1", forwarded=None):
    """A request from ``address`` (through proxies that sent ``forwarded``)."""
    from django.test import RequestFactory

    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {}
    return RequestFactory().post(LOGIN, REMOTE_ADDR=address, **extra)


def test_failures_from_one_address_do_not_lock_the_user_out_elsewhere(client, staff, clock):
    """Knowing a colleague's username is not enough to lock them out: the failures lock the
    username from the address they came from only."""
    for _ in range(5):
        sign_in(client, staff.username, "wrong", address="10.0.0.66")
    locked = sign_in(client, staff.username, PASSWORD, address="10.0.0.66")
    assert form_errors(locked) == ["Too many failed sign-ins; try again in 15 minutes."]
    assert not signed_in(client)
    assert sign_in(client, staff.username, PASSWORD, address="10.0.0.7").status_code == 302
    assert signed_in(client)


def test_one_address_failing_for_many_usernames_is_locked_for_all(client, staff, clock):
    for n in range(20):
        authenticate(request("10.0.0.66"), username=f"guess-{n}", password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username, address="10.0.0.66") == 900
    # Even the right password of a user nobody tried is refused from that address ...
    refused = sign_in(client, staff.username, PASSWORD, address="10.0.0.66")
    assert form_errors(refused) == ["Too many failed sign-ins; try again in 15 minutes."]
    # ... and only from there; after the period it may try again.
    assert authenticate(request("10.0.0.7"), username=staff.username, password=PASSWORD) == staff
    clock.advance(15 * 60 + 1)
    assert authenticate(request("10.0.0.66"), username=staff.username, password=PASSWORD)
    rows = AuditLog.objects.filter(action="staff.login_address_locked")
    assert [(row.target, row.data["failures"], row.data["ip"]) for row in rows] == [
        ("ip:10.0.0.66", 20, "10.0.0.66")
    ]


def test_address_limits_come_from_settings(lockout_settings, staff, clock):
    lockout_settings.SCRM_LOGIN_IP_FAILURE_LIMIT = 3
    lockout_settings.SCRM_LOGIN_IP_LOCKOUT_SECONDS = 60
    for n in range(2):
        authenticate(request("10.0.0.66"), username=f"guess-{n}", password="wrong")
    assert lockout.login_lockout_remaining(username="x", address="10.0.0.66") == 0
    authenticate(request("10.0.0.66"), username="guess-2", password="wrong")
    assert lockout.login_lockout_remaining(username="x", address="10.0.0.66") == 60


def test_guessing_one_password_from_many_addresses_locks_it_everywhere(
    lockout_settings, staff, clock
):
    lockout_settings.SCRM_LOGIN_USERNAME_FAILURE_LIMIT = 12
    for n in range(12):  # three tries each from a dozen addresses: no single limit is reached
        authenticate(request(f"10.0.1.{n // 3}"), username=staff.username, password="wrong")
    assert authenticate(request("10.9.9.9"), username=staff.username, password=PASSWORD) is None
    assert lockout.login_lockout_remaining(username=staff.username, address="10.9.9.9") == 900
    assert AuditLog.objects.filter(action="staff.login_locked_everywhere").count() == 1


def test_success_keeps_the_address_count(lockout_settings, staff, clock):
    """A user signing in from an address does not reset what that address failed for others
    (an attacker with one valid account cannot keep guessing at everyone else's)."""
    lockout_settings.SCRM_LOGIN_IP_FAILURE_LIMIT = 4
    for n in range(3):
        authenticate(request("10.0.0.66"), username=f"guess-{n}", password="wrong")
    assert authenticate(request("10.0.0.66"), username=staff.username, password=PASSWORD)
    authenticate(request("10.0.0.66"), username="guess-3", password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username, address="10.0.0.66") == 900


def test_the_address_is_the_one_the_trusted_proxy_saw(lockout_settings, staff, clock):
    """Behind one proxy the client is the last X-Forwarded-For entry; what the client wrote
    before it is ignored, so a made-up header cannot spread the failures over addresses."""
    assert lockout.client_address(request("10.0.0.1", "1.2.3.4")) == "10.0.0.1"  # no proxy
    lockout_settings.SCRM_TRUSTED_PROXIES = 1
    for n in range(20):
        spoofed = f"192.0.2.{n}, 203.0.113.9"
        authenticate(request("10.0.0.1", spoofed), username=f"guess-{n}", password="wrong")
    assert lockout.client_address(request("10.0.0.1", "192.0.2.1, 203.0.113.9")) == ("203.0.113.9")
    assert lockout.login_lockout_remaining(username="anyone", address="203.0.113.9") == 900
    # Other clients behind the same proxy are not affected.
    assert lockout.login_lockout_remaining(username="anyone", address="10.0.0.1") == 0
    assert authenticate(
        request("10.0.0.1", "198.51.100.5"), username=staff.username, password=PASSWORD
    )


def test_authenticate_refuses_a_locked_username_for_any_caller(staff, clock):
    """The backend holds the lock, so a staff API token login built on authenticate() (DRF's
    obtain_auth_token) is covered as well as the admin."""
    for _ in range(5):
        assert authenticate(username=staff.username, password="wrong") is None
    assert authenticate(username=staff.username, password=PASSWORD) is None
    clock.advance(15 * 60 + 1)
    assert authenticate(username=staff.username, password=PASSWORD) == staff


def test_success_resets_the_count(staff, clock):
    for _ in range(4):
        authenticate(username=staff.username, password="wrong")
    assert authenticate(username=staff.username, password=PASSWORD) == staff
    for _ in range(4):
        authenticate(username=staff.username, password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username) == 0
    assert authenticate(username=staff.username, password=PASSWORD) == staff


def test_failures_outside_the_window_are_forgotten(staff, clock):
    for _ in range(4):
        authenticate(username=staff.username, password="wrong")
    clock.advance(15 * 60 + 1)
    authenticate(username=staff.username, password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username) == 0


def test_unknown_usernames_lock_too_and_each_lockout_is_audited_once(clock):
    for _ in range(7):
        authenticate(username="nobody", password="guess")
    assert lockout.login_lockout_remaining(username="nobody") > 0
    rows = AuditLog.objects.filter(action="staff.login_locked")
    assert [(row.target, row.data["failures"]) for row in rows] == [("username:nobody", 5)]


def test_limits_come_from_settings(lockout_settings, staff, clock):
    lockout_settings.SCRM_LOGIN_FAILURE_LIMIT = 2
    lockout_settings.SCRM_LOGIN_LOCKOUT_SECONDS = 120
    authenticate(username=staff.username, password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username) == 0
    authenticate(username=staff.username, password="wrong")
    assert lockout.login_lockout_remaining(username=staff.username) == 120
    assert lockout.lockout_message(120) == "Too many failed sign-ins; try again in 2 minutes."


def test_the_lockout_message_is_translated(client, staff, clock):
    for _ in range(5):
        sign_in(client, staff.username, "wrong")
    response = client.post(LOGIN, {"username": staff.username, "password": PASSWORD})
    # zh-hans by default: the message goes through gettext (a catalogue entry may be missing).
    assert response.context["form"].non_field_errors()
    assert get_user_model().objects.get(pk=staff.pk).last_login is None


def _increment(location: str, times: int) -> None:
    cache = LockingFileBasedCache(location, {})
    for _ in range(times):
        cache.incr("counter")


def test_file_cache_counts_atomically_across_processes(tmp_path):
    location = str(tmp_path / "counters")
    cache = LockingFileBasedCache(location, {})
    assert cache.add("counter", 0, timeout=600)
    assert not cache.add("counter", 0, timeout=600)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_increment, args=(location, 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    assert cache.get("counter") == 200


def test_file_cache_increment_keeps_the_expiry(tmp_path, clock):
    cache = LockingFileBasedCache(str(tmp_path / "counters"), {})
    cache.add("counter", 0, timeout=60)
    clock.advance(50)
    assert cache.incr("counter") == 1
    clock.advance(11)
    assert cache.get("counter") is None
    with pytest.raises(ValueError):
        cache.incr("counter")


def test_api_throttles_read_the_address_like_the_lockout(settings):
    """The mini-program sign-in throttle counts per client address the same way: behind one
    trusted proxy, entries the client wrote into X-Forwarded-For are ignored."""
    from scrm.api.throttles import LoginThrottle

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    spoofed = request("10.0.0.1", "192.0.2.1, 203.0.113.9")
    assert LoginThrottle().get_ident(spoofed) == "203.0.113.9"
