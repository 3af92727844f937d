"""The campaign engine end to end, driven the way the beat tick drives it: start due runs,
fan out, dispatch. Each test asserts what a member or an operator would notice."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from campaigns.channels import Outcome, Result
from campaigns.models import (
    Campaign,
    CampaignStatus,
    Run,
    SkipReason,
    Touchpoint,
    TouchpointState,
)
from campaigns.services.campaigns import campaign_cancel, campaign_create, campaign_launch
from campaigns.services.dispatch import dispatch_once, touchpoints_claim, touchpoints_reclaim_stale
from campaigns.services.fanout import run_fan_out, runs_finish, runs_start_due
from campaigns.services.schedule import bucket, cron_next, cron_parse
from members.choices import ConsentChannel, MemberStatus
from members.models import Member
from members.services.members import consent_set
from members.services.segments import segment_create
from tests import factories

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 10:00 in Shanghai: outside quiet hours.
NOON = datetime(2026, 6, 15, 10, 0, tzinfo=SHANGHAI)


def consenting(n: int, **values) -> list[Member]:
    members = factories.MemberFactory.create_batch(n, **values)
    for m in members:
        consent_set(member=m, channel=ConsentChannel.SMS, granted=True)
    return members


def campaign(channel="recording", body="Hi {{ member_name }}", **fields) -> Campaign:
    fields.setdefault("kind", "one_off")
    return campaign_create(
        name="Member day",
        channel=channel,
        steps=[{"delay_days": 0, "contents": {"A": {"body": body}}}],
        **fields,
    )


def run_all(now=NOON) -> None:
    """What the tick and the workers do, synchronously, until nothing is due."""
    for run in runs_start_due(now=now):
        assert run_fan_out(run=run)
    while dispatch_once(now=now):
        pass
    runs_finish(now=now)


# --- sending once ----------------------------------------------------------------------------


def test_one_off_reaches_each_consenting_member_once(channel):
    members = consenting(5)
    c = campaign_launch(campaign=campaign(send_at=NOON), now=NOON - timedelta(hours=1))
    run_all()
    assert sorted(m.member_id for m in channel.sent) == sorted(m.pk for m in members)
    assert channel.sent[0].body.startswith("Hi 会员")
    assert Touchpoint.objects.filter(state=TouchpointState.SENT).count() == 5
    c.refresh_from_db()
    assert c.status == CampaignStatus.COMPLETED


def test_launching_again_and_ticking_twice_never_doubles(channel):
    consenting(3)
    c = campaign(send_at=NOON)
    campaign_launch(campaign=c, now=NOON)
    campaign_launch(campaign=c, now=NOON)
    run_all()
    run_all()
    assert Run.objects.filter(campaign=c).count() == 1
    assert len(channel.sent) == 3


def test_a_fan_out_started_again_creates_nothing_twice(channel):
    consenting(4)
    c = campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    (run,) = runs_start_due(now=NOON)
    assert run_fan_out(run=run, chunk=3)
    Run.objects.filter(pk=run.pk).update(status="fanning_out", cursor=0)  # as if it crashed
    assert run_fan_out(run=run, chunk=3)
    assert Touchpoint.objects.filter(campaign=c).count() == 4


def test_a_stale_claim_is_sent_after_the_sweep(channel, settings):
    consenting(2)
    campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    (run,) = runs_start_due(now=NOON)
    run_fan_out(run=run)
    claimed, _position = touchpoints_claim(limit=10, now=NOON)  # taken, then the worker dies
    assert len(claimed) == 2 and dispatch_once(now=NOON) == 0
    later = NOON + timedelta(seconds=settings.SCRM_DISPATCH_CLAIM_TIMEOUT + 1)
    assert touchpoints_reclaim_stale(now=later) == 2
    while dispatch_once(now=later):
        pass
    assert len(channel.sent) == 2


# --- guardrails ------------------------------------------------------------------------------


def test_no_consent_no_phone_and_inactive_members_are_skipped_with_the_reason(channel):
    (ok,) = consenting(1)
    factories.MemberFactory()  # never consented
    (no_phone,) = consenting(1, phone=None, unionid="u-no-phone")
    (merged,) = consenting(1)
    Member.objects.filter(pk=merged.pk).update(status=MemberStatus.MERGED)
    withdrawn = consenting(1)[0]
    consent_set(member=withdrawn, channel=ConsentChannel.SMS, granted=False)
    c = campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    run_all()
    assert [m.member_id for m in channel.sent] == [ok.pk]
    reasons = dict(
        Touchpoint.objects.filter(campaign=c, state=TouchpointState.SKIPPED).values_list(
            "member_id", "skip_reason"
        )
    )
    assert reasons[no_phone.pk] == SkipReason.NO_IDENTITY
    assert reasons[withdrawn.pk] == SkipReason.NO_CONSENT
    assert sorted(reasons.values()).count(SkipReason.NO_CONSENT) == 2
    assert SkipReason.INACTIVE not in reasons.values()  # merged members are not in the audience


def test_frequency_cap_across_campaigns(channel, settings):
    settings.SCRM_FREQUENCY_CAPS = {"all": [[1, 1]], "channels": {}}
    (m,) = consenting(1)
    first = campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    run_all()
    second = campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    run_all()
    assert len(channel.sent) == 1
    assert Touchpoint.objects.get(campaign=second).skip_reason == SkipReason.FREQUENCY_CAP
    # Transactional messages are exempt.
    service = campaign_launch(campaign=campaign(send_at=NOON, transactional=True), now=NOON)
    run_all()
    assert Touchpoint.objects.get(campaign=service).state == TouchpointState.SENT
    assert first.pk != second.pk


def test_quiet_hours_defer_and_never_drop(channel):
    consenting(2)
    late = datetime(2026, 6, 15, 22, 30, tzinfo=SHANGHAI)
    campaign_launch(campaign=campaign(send_at=late), now=late)
    run_all(now=late)
    assert channel.sent == []
    deferred = Touchpoint.objects.filter(state=TouchpointState.DEFERRED)
    assert deferred.count() == 2
    assert {t.send_after for t in deferred} == {datetime(2026, 6, 16, 9, 0, tzinfo=SHANGHAI)}
    run_all(now=datetime(2026, 6, 16, 9, 1, tzinfo=SHANGHAI))
    assert len(channel.sent) == 2


def test_holdout_is_reproducible_and_measured(channel):
    members = consenting(400)
    c = campaign_launch(campaign=campaign(send_at=NOON, holdout_percent=20), now=NOON)
    run_all()
    held = set(
        Touchpoint.objects.filter(campaign=c, skip_reason=SkipReason.HOLDOUT).values_list(
            "member_id", flat=True
        )
    )
    expected = {m.pk for m in members if bucket(m.pk, c.pk, 10000) < 2000}
    assert held == expected
    assert 40 <= len(held) <= 120
    assert {m.member_id for m in channel.sent}.isdisjoint(held)


def test_ab_split_follows_the_shares_and_sends_each_arm_its_copy(channel):
    consenting(400)
    c = campaign_create(
        name="AB",
        kind="one_off",
        channel="recording",
        variants={"A": 70, "B": 30},
        steps=[{"contents": {"A": {"body": "copy A"}, "B": {"body": "copy B"}}}],
        send_at=NOON,
    )
    campaign_launch(campaign=c, now=NOON)
    run_all()
    bodies = [m.body for m in channel.sent]
    assert 240 <= bodies.count("copy A") <= 320
    assert bodies.count("copy A") + bodies.count("copy B") == 400


def test_retries_with_backoff_then_fails_with_the_providers_reason(channel, settings):
    settings.SCRM_DISPATCH_MAX_ATTEMPTS = 2
    flaky, refused = consenting(2)
    channel.answers[flaky.pk] = Result(Outcome.RETRY, reason="busy")
    channel.answers[refused.pk] = Result(Outcome.FAILED, reason="invalid number")
    campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    run_all()
    retried = Touchpoint.objects.get(member=flaky)
    assert retried.state == TouchpointState.PENDING and retried.send_after > NOON
    assert Touchpoint.objects.get(member=refused).error == "invalid number"
    run_all(now=retried.send_after)
    retried.refresh_from_db()
    assert retried.state == TouchpointState.FAILED and retried.error == "busy"


def test_cancelling_skips_what_was_not_sent(channel):
    consenting(2)
    c = campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    (run,) = runs_start_due(now=NOON)
    run_fan_out(run=run)
    campaign_cancel(campaign=c)
    while dispatch_once(now=NOON):
        pass
    assert channel.sent == []
    assert set(Touchpoint.objects.values_list("skip_reason", flat=True)) == {"stopped"}


def test_segment_audience(channel):
    gold = factories.TierFactory(code="gold")
    (vip,) = consenting(1, tier=gold)
    consenting(2)
    segment = segment_create(
        name="VIP", tree={"all": [{"field": "tier", "op": "in", "value": ["gold"]}]}
    )
    campaign_launch(campaign=campaign(send_at=NOON, segment=segment), now=NOON)
    run_all()
    assert [m.member_id for m in channel.sent] == [vip.pk]


# --- schedules -------------------------------------------------------------------------------


def test_member_day_on_the_18th_at_ten_shanghai_time():
    schedule = cron_parse(minute="0", hour="10", day_of_month="18", month="*", day_of_week="*")
    after = datetime(2026, 6, 18, 10, 0, tzinfo=SHANGHAI)
    assert cron_next(schedule, after) == datetime(2026, 7, 18, 10, 0, tzinfo=SHANGHAI)
    assert cron_next(schedule, after - timedelta(minutes=1)) == after


def test_recurring_campaign_runs_once_per_slot(channel):
    consenting(2)
    c = campaign(kind="recurring", cron_minute="0", cron_hour="10", cron_day_of_month="18")
    c = campaign_launch(campaign=c, now=datetime(2026, 6, 1, tzinfo=SHANGHAI))
    assert c.next_run_at == datetime(2026, 6, 18, 10, 0, tzinfo=SHANGHAI)
    run_all(now=datetime(2026, 6, 18, 10, 0, tzinfo=SHANGHAI))
    run_all(now=datetime(2026, 6, 18, 10, 5, tzinfo=SHANGHAI))
    c.refresh_from_db()
    assert Run.objects.filter(campaign=c).count() == 1
    assert c.next_run_at == datetime(2026, 7, 18, 10, 0, tzinfo=SHANGHAI)
    assert len(channel.sent) == 2


# --- refused at save -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"body": "Hi {{ nickname }}"}, "steps[0].A.body"),
        ({"body": "Hi {{ member_name }"}, "steps[0].A.body"),
        ({"kind": "recurring", "cron_hour": "25"}, "schedule"),
        ({"kind": "recurring", "cron_day_of_month": "30", "cron_month": "2"}, "schedule"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"channel": "webhook"}, "channel"),  # no URL configured
        ({"holdout_percent": 60}, "holdout_percent"),
        ({"kind": "journey"}, "entry_event"),
    ],
)
def test_bad_campaigns_are_refused_with_the_field_named(channel, fields, field):
    with pytest.raises(ValidationError) as caught:
        campaign(**fields)
    assert field in caught.value.message_dict
    assert not Campaign.objects.exists()


def test_variant_shares_must_add_up(channel):
    with pytest.raises(ValidationError) as caught:
        campaign_create(
            name="AB",
            kind="one_off",
            channel="recording",
            variants={"A": 50, "B": 40},
            steps=[{"contents": {"A": {"body": "a"}, "B": {"body": "b"}}}],
        )
    assert "variants" in caught.value.message_dict


def test_erasure_stops_what_was_not_sent_and_the_copy_lists_what_was(channel):
    from members.services.privacy import member_data_copy, member_erase

    (m,) = consenting(1)
    campaign_launch(campaign=campaign(send_at=NOON), now=NOON)
    run_all()
    later = campaign_launch(campaign=campaign(send_at=NOON + timedelta(days=3)), now=NOON)
    (run,) = runs_start_due(now=NOON + timedelta(days=3))
    run_fan_out(run=run)
    copy = member_data_copy(member=m)
    assert [t["state"] for t in copy["touchpoints"]] == ["sent", "pending"]
    member_erase(member=m)
    assert not Touchpoint.objects.filter(campaign=later).exists()
    assert Touchpoint.objects.filter(member=m, state=TouchpointState.SENT).count() == 1
