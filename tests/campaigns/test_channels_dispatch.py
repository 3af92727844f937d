"""What the dispatcher does for channels beyond sending: pacing by rate limit (and handing rows
back rather than holding them), channels that go through the owning guide, per-field content,
adapters that find a member unreachable, and content checks at save."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from campaigns import ratelimit
from campaigns.channels import Outcome, Result, channel_register
from campaigns.channels import _channels as registry
from campaigns.models import SkipReason, Touchpoint, TouchpointState
from campaigns.services.dispatch import dispatch_once
from campaigns.services.fanout import run_fan_out, runs_start_due
from members.models import Guide
from tests import factories
from tests.campaigns.conftest import RecordingChannel
from tests.campaigns.helpers import NOON, campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db


class BatchRecordingChannel(RecordingChannel):
    """Remembers the size of each send_batch call."""

    def __init__(self):
        super().__init__()
        self.batches: list[int] = []

    def send_batch(self, messages):
        self.batches.append(len(messages))
        return super().send_batch(messages)


@pytest.fixture
def paced(settings):
    channel = BatchRecordingChannel()
    channel_register(channel)
    settings.SCRM_CHANNEL_RATES = {"recording": 2}
    yield channel
    registry.pop("recording", None)


# --- rate limits -----------------------------------------------------------------------------


def test_the_limiter_grants_what_is_left_of_the_second(clock):
    assert ratelimit.rate_acquire(key="t", limit=3, want=2) == 2
    assert ratelimit.rate_acquire(key="t", limit=3, want=2) == 1
    assert ratelimit.rate_acquire(key="t", limit=3, want=1) == 0
    assert ratelimit.rate_acquire(key="other", limit=3, want=3) == 3
    clock.sleep(ratelimit.rate_wait())
    assert ratelimit.rate_acquire(key="t", limit=3, want=5) == 3


def test_sends_are_paced_to_the_channels_rate(paced, clock):
    members_with_consent(5, "sms")
    launch(campaign_on("recording"))
    started = clock()
    run_all()
    assert paced.batches == [2, 2, 1]
    assert len(paced.sent) == 5
    assert clock() - started >= 2  # three windows


def test_what_cannot_start_before_the_deadline_goes_back_untouched(paced, clock, settings):
    settings.SCRM_DISPATCH_CLAIM_TIMEOUT = 1  # the worker may wait a third of a second
    clock.now = int(clock.now) + 0.2  # the next window opens after that
    members_with_consent(5, "sms")
    launch(campaign_on("recording"))
    (run,) = runs_start_due(now=NOON)
    run_fan_out(run=run)
    assert dispatch_once(now=NOON) == 5
    assert paced.batches == [2]
    back = Touchpoint.objects.filter(state=TouchpointState.PENDING)
    assert back.count() == 3
    assert {(t.attempts, t.error, t.claimed_at) for t in back} == {(0, "", None)}
    clock.sleep(1)
    while dispatch_once(now=NOON):
        clock.sleep(1)
    assert len(paced.sent) == 5
    assert Touchpoint.objects.filter(state=TouchpointState.SENT).count() == 5


# --- through the owning guide ------------------------------------------------------------------


class GuideChannel(RecordingChannel):
    code = "guided"
    requires_guide = True


def test_a_channel_through_the_guide_skips_members_without_an_active_one():
    channel = GuideChannel()
    channel_register(channel)
    try:
        guide, retired = factories.GuideFactory(), factories.GuideFactory()
        Guide.objects.filter(pk=retired.pk).update(is_active=False)
        (owned,) = members_with_consent(1, "sms", guide=guide)
        (orphan,) = members_with_consent(1, "sms")
        (left,) = members_with_consent(1, "sms", guide=retired)
        launch(campaign_on("guided", body="{{ guide_name }}: hi"))
        run_all()
        assert [(m.member_id, m.guide_id, m.body) for m in channel.sent] == [
            (owned.pk, guide.pk, f"{guide.name}: hi")
        ]
        skipped = dict(Touchpoint.objects.values_list("member_id", "skip_reason"))
        assert skipped[orphan.pk] == skipped[left.pk] == SkipReason.NO_IDENTITY
    finally:
        registry.pop("guided", None)


# --- content -----------------------------------------------------------------------------------


def test_option_fields_are_rendered_per_member(channel):
    (member,) = members_with_consent(1, "sms")
    options = {"fields": {"name": "{{ member_name }}", "shop": "{{ store_name }}"}}
    launch(campaign_on("recording", options=options))
    run_all()
    (sent,) = channel.sent
    assert sent.fields == {"name": member.name, "shop": member.home_store.name}
    assert sent.options == options


def test_bad_option_fields_and_channel_checks_are_refused_at_save(channel, monkeypatch):
    with pytest.raises(ValidationError) as caught:
        campaign_on("recording", options={"fields": {"name": "{{ nickname }}"}})
    assert "steps[0].A.fields.name" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        campaign_on("recording", options={"fields": ["a"]})
    assert "steps[0].A.options" in caught.value.message_dict
    monkeypatch.setattr(
        RecordingChannel,
        "check_content",
        lambda self, **content: {"body": ["too long"]} if len(content["body"]) > 5 else {},
        raising=False,
    )
    with pytest.raises(ValidationError) as caught:
        campaign_on("recording", body="far too long")
    assert caught.value.message_dict["steps[0].A.body"] == ["too long"]


def test_a_group_channel_cannot_carry_a_member_campaign(channel, monkeypatch):
    monkeypatch.setattr(RecordingChannel, "audience", "groups", raising=False)
    with translation.override("en"), pytest.raises(ValidationError) as caught:
        campaign_on("recording")
    assert "groups" in caught.value.message_dict["channel"][0]


# --- outcomes ---------------------------------------------------------------------------------


def test_an_adapter_can_find_a_member_unreachable(channel):
    refused, ok = members_with_consent(2, "sms")
    channel.answers[refused.pk] = Result(Outcome.SKIPPED, reason=SkipReason.NO_SUBSCRIPTION)
    launch(campaign_on("recording"))
    run_all()
    states = {t.member_id: (t.state, t.skip_reason) for t in Touchpoint.objects.all()}
    assert states[refused.pk] == (TouchpointState.SKIPPED, SkipReason.NO_SUBSCRIPTION)
    assert states[ok.pk] == (TouchpointState.SENT, "")


def test_an_adapter_answering_for_the_wrong_number_of_messages_is_retried(channel, monkeypatch):
    members_with_consent(2, "sms")
    monkeypatch.setattr(channel, "send_batch", lambda messages: [Result(Outcome.SENT)])
    launch(campaign_on("recording"))
    run_all()
    assert set(Touchpoint.objects.values_list("state", flat=True)) == {TouchpointState.PENDING}
    assert "1 results for 2 messages" in Touchpoint.objects.first().error
