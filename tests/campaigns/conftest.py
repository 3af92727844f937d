"""Fixtures for the campaign engine: a recording channel that stands in for a provider."""

from __future__ import annotations

import random

import pytest

from campaigns.channels import Channel, Message, Outcome, Result, channel_register
from campaigns.channels import _channels as registry
from tests.campaigns.fakes import FakeHTTPServer


class RecordingChannel(Channel):
    """Needs SMS consent and a phone, like an SMS provider; remembers what it was given.
    ``answers`` maps a member id to the Result to return instead of success."""

    code = "recording"
    label = "recording"
    address_column = "phone"
    consent = "sms"

    def __init__(self):
        self.sent: list[Message] = []
        self.answers: dict[int, Result] = {}

    def send(self, message: Message) -> Result:
        self.sent.append(message)
        return self.answers.get(
            message.member_id, Result(Outcome.SENT, provider_id="p-" + message.key)
        )


@pytest.fixture
def channel():
    recording = RecordingChannel()
    channel_register(recording)
    yield recording
    registry.pop("recording", None)


class FakeClock:
    """Stands in for the rate limiter's clock: sleeping moves it on at once. It starts at a
    random second so counters of other tests (shared cache) never share a window with it."""

    def __init__(self):
        self.now = 2_000_000_000.0 + random.randrange(10**8)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch):
    from campaigns import ratelimit

    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "clock", fake)
    monkeypatch.setattr(ratelimit, "sleep", fake.sleep)
    return fake


@pytest.fixture
def fake_server():
    """A local HTTP server speaking whatever the test's handlers say (tests.campaigns.fakes)."""
    server = FakeHTTPServer().start()
    yield server
    server.stop()


@pytest.fixture
def operator_client():
    from rest_framework.test import APIClient

    from tests import factories

    client = APIClient()
    client.force_authenticate(factories.OperatorFactory())
    return client


@pytest.fixture
def member_client():
    """An API client signed in as a new member with a real member token; ``.member`` is them."""
    from rest_framework.test import APIClient

    from members.api.auth import member_token_issue
    from tests import factories

    member = factories.MemberFactory(openid=f"o-{random.randrange(10**12)}")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Member {member_token_issue(member=member)}")
    client.member = member
    return client
