"""Campaigns that start on their own: journeys on an event, lifecycle-stage changes, birthdays
and repurchase reminders; journeys that end when the member buys."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import translation

from campaigns.models import CampaignStatus, SkipReason, Touchpoint, TouchpointState
from campaigns.services.campaigns import campaign_create, campaign_launch
from campaigns.services.dispatch import dispatch_once
from members.events import EventKind, event_record, events_dispatch_now
from members.models import Event
from members.services.orders import member_stats_refresh, order_upsert
from tests import factories
from tests.campaigns.helpers import NOON, members_with_consent, run_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def priority_sends(monkeypatch):
    """The priority queue, run in-process: records what was handed to it and sends it."""
    from campaigns import tasks
    from campaigns.services.dispatch import touchpoints_send_now

    handed = []

    def apply_async(args, queue=None):
        handed.append((args[0], queue))
        touchpoints_send_now(ids=args[0], now=NOON)

    monkeypatch.setattr(tasks.send_now, "apply_async", apply_async)
    return handed


def handle(django_capture_on_commit_callbacks, member, kind, data=None, at=NOON):
    """Record an event and run its handlers the way the worker does, after commit."""
    with django_capture_on_commit_callbacks(execute=True):
        event = event_record(member=member, kind=kind, data=data or {}, occurred_at=at)
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch_now(event_ids=[event.pk])
    return event


def journey(**fields):
    fields.setdefault("entry_event", "group.joined")
    steps = fields.pop(
        "steps",
        [
            {"delay_days": 0, "contents": {"A": {"body": "欢迎 {{ member_name }}"}}},
            {"delay_days": 3, "contents": {"A": {"body": "小贴士"}}},
            {"delay_days": 7, "contents": {"A": {"body": "送你一张券"}}},
        ],
    )
    campaign = campaign_create(
        name="Welcome", kind="journey", channel="recording", steps=steps, **fields
    )
    return campaign_launch(campaign=campaign, now=NOON - timedelta(hours=1))


# --- journeys --------------------------------------------------------------------------------


def test_joining_a_group_sends_the_welcome_at_once_and_plans_the_rest(
    channel, priority_sends, django_capture_on_commit_callbacks, settings
):
    (member,) = members_with_consent(1, "sms")
    campaign = journey(entry_match={"group_id": 7})
    assert campaign.status == CampaignStatus.RUNNING

    handle(django_capture_on_commit_callbacks, member, "group.joined", {"group_id": 7})

    assert [m.body for m in channel.sent] == [f"欢迎 {member.name}"]
    assert priority_sends[0][1] == settings.SCRM_PRIORITY_QUEUE
    planned = Touchpoint.objects.filter(campaign=campaign).order_by("send_after")
    assert [(t.state, t.send_after) for t in planned] == [
        (TouchpointState.SENT, NOON),
        (TouchpointState.PENDING, NOON + timedelta(days=3)),
        (TouchpointState.PENDING, NOON + timedelta(days=7)),
    ]
    # Day 3: the dispatcher sends the tip, nothing else.
    while dispatch_once(now=NOON + timedelta(days=3, hours=1)):
        pass
    assert [m.body for m in channel.sent] == [f"欢迎 {member.name}", "小贴士"]


def test_an_event_that_does_not_match_the_entry_condition_starts_nothing(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    (member,) = members_with_consent(1, "sms")
    campaign = journey(entry_match={"group_id": 7})
    handle(django_capture_on_commit_callbacks, member, "group.joined", {"group_id": 8})
    assert not Touchpoint.objects.filter(campaign=campaign).exists()
    assert channel.sent == []


def test_a_member_goes_through_a_journey_once_unless_it_lets_them_reenter(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    (member,) = members_with_consent(1, "sms")
    once = journey()
    again = journey(reenter=True)
    for _ in range(2):
        handle(django_capture_on_commit_callbacks, member, "group.joined", {"group_id": 1})
    assert Touchpoint.objects.filter(campaign=once).count() == 3
    assert Touchpoint.objects.filter(campaign=again).count() == 6


def test_a_redelivered_event_enrols_nobody_twice(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    from campaigns.handlers import on_entry_event

    (member,) = members_with_consent(1, "sms")
    campaign = journey(reenter=True)
    event = handle(django_capture_on_commit_callbacks, member, "group.joined")
    with django_capture_on_commit_callbacks(execute=True):
        on_entry_event(Event.objects.get(pk=event.pk))  # the same event, a second time
    assert Touchpoint.objects.filter(campaign=campaign).count() == 3
    assert len(channel.sent) == 1


def test_the_segment_decides_who_may_enter(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    from members.services.segments import segment_create

    gold = factories.TierFactory(code="gold")
    vip, plain = members_with_consent(1, "sms", tier=gold) + members_with_consent(1, "sms")
    segment = segment_create(
        name="VIP", tree={"all": [{"field": "tier", "op": "in", "value": ["gold"]}]}
    )
    campaign = journey(segment=segment)
    for member in (vip, plain):
        handle(django_capture_on_commit_callbacks, member, "group.joined")
    assert set(
        Touchpoint.objects.filter(campaign=campaign).values_list("member_id", flat=True)
    ) == {vip.pk}


def test_buying_ends_the_journey_but_an_order_that_starts_one_does_not(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    (member,) = members_with_consent(1, "sms")
    welcome = journey()
    thanks = journey(
        entry_event=EventKind.ORDER_PAID,
        steps=[
            {"delay_days": 0, "contents": {"A": {"body": "谢谢"}}},
            {"delay_days": 5, "contents": {"A": {"body": "用得怎么样？"}}},
        ],
    )
    handle(django_capture_on_commit_callbacks, member, "group.joined", at=NOON)

    with django_capture_on_commit_callbacks(execute=True):
        order, _ = order_upsert(
            source="pos",
            external_id="A1",
            member=member,
            paid_amount="99.00",
            paid_at=NOON + timedelta(hours=2),
        )
    event = Event.objects.get(kind=EventKind.ORDER_PAID, member=member)
    with django_capture_on_commit_callbacks(execute=True):
        events_dispatch_now(event_ids=[event.pk])

    later = Touchpoint.objects.filter(campaign=welcome).exclude(state=TouchpointState.SENT)
    assert {(t.state, t.skip_reason) for t in later} == {
        (TouchpointState.SKIPPED, SkipReason.EXITED)
    }
    follow_up = Touchpoint.objects.get(campaign=thanks, send_after__gt=NOON + timedelta(days=1))
    assert follow_up.state == TouchpointState.PENDING


def test_a_journey_starting_on_an_event_nobody_writes_is_refused(channel):
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        journey(entry_event="member.teleported")
    assert "cannot start" in refused.value.message_dict["entry_event"][0]


def test_an_entry_condition_must_be_plain_values(channel):
    with pytest.raises(ValidationError) as refused:
        journey(entry_match={"group_id": {"in": [1, 2]}})
    assert "entry_match" in refused.value.message_dict


# --- lifecycle -------------------------------------------------------------------------------


def test_a_member_who_becomes_at_risk_gets_the_win_back_message(
    channel, priority_sends, django_capture_on_commit_callbacks
):
    at_risk, dormant = members_with_consent(2, "sms")
    campaign = campaign_create(
        name="Win back",
        kind="lifecycle",
        lifecycle_stage="at_risk",
        channel="recording",
        steps=[{"contents": {"A": {"body": "好久不见，{{ member_name }}"}}}],
    )
    campaign_launch(campaign=campaign, now=NOON)
    handle(
        django_capture_on_commit_callbacks,
        at_risk,
        EventKind.LIFECYCLE_CHANGED,
        {"from": "active", "to": "at_risk"},
    )
    handle(
        django_capture_on_commit_callbacks,
        dormant,
        EventKind.LIFECYCLE_CHANGED,
        {"from": "at_risk", "to": "dormant"},
    )
    assert [m.member_id for m in channel.sent] == [at_risk.pk]


# --- birthdays and repurchase ----------------------------------------------------------------


def _daily(kind: str, launched_at=NOON - timedelta(days=1, hours=1), **fields):
    campaign = campaign_create(
        name=kind,
        kind=kind,
        channel="recording",
        cron_hour="10",
        cron_minute="0",
        steps=[{"contents": {"A": {"body": "{{ member_name }}"}}}],
        **fields,
    )
    return campaign_launch(campaign=campaign, now=launched_at)


def test_birthday_greetings_go_out_on_the_day_at_the_set_time_once(channel):
    today = NOON.date()
    (born_today,) = members_with_consent(1, "sms", birthday=date(1990, today.month, today.day))
    members_with_consent(1, "sms", birthday=date(1990, 1, 1))
    campaign = _daily("birthday")
    assert campaign.next_run_at == NOON - timedelta(days=1)  # yesterday's 10:00 is still ahead
    run_all(now=NOON - timedelta(days=1))  # yesterday: nobody's birthday
    run_all(now=NOON)
    run_all(now=NOON + timedelta(minutes=5))  # the tick again: the day's run is done
    assert [m.member_id for m in channel.sent] == [born_today.pk]


def test_a_day_missed_by_the_scheduler_is_made_up_on_the_next_ticks(channel):
    today = NOON.date()
    yesterday = today - timedelta(days=1)
    (born_yesterday,) = members_with_consent(
        1, "sms", birthday=date(1990, yesterday.month, yesterday.day)
    )
    (born_today,) = members_with_consent(1, "sms", birthday=date(1990, today.month, today.day))
    _daily("birthday")  # yesterday's 10:00 run is due, but nothing ran until today
    run_all(now=NOON)
    run_all(now=NOON + timedelta(minutes=1))
    assert [m.member_id for m in channel.sent] == [born_yesterday.pk, born_today.pk]


def test_those_born_on_29_february_celebrate_on_the_28th_in_common_years(channel):
    (leapling,) = members_with_consent(1, "sms", birthday=date(2000, 2, 29))
    feb_28 = datetime(2027, 2, 28, 10, 0, tzinfo=NOON.tzinfo)
    campaign = campaign_create(
        name="生日",
        kind="birthday",
        channel="recording",
        steps=[{"contents": {"A": {"body": "生日快乐"}}}],
    )
    campaign_launch(campaign=campaign, now=feb_28 - timedelta(hours=2))
    run_all(now=feb_28)
    assert [m.member_id for m in channel.sent] == [leapling.pk]


def _buyer(*days_ago: int):
    (member,) = members_with_consent(1, "sms")
    for n, days in enumerate(days_ago):
        factories.OrderFactory(
            member=member, paid_at=NOON - timedelta(days=days), external_id=f"{member.pk}-{n}"
        )
    member_stats_refresh(member_ids=[member.pk])
    return member


def test_repurchase_reminds_members_whose_own_rhythm_says_they_are_due(channel, settings):
    settings.SCRM_REPURCHASE_CATCH_UP_DAYS = 3
    due = _buyer(60, 30)  # buys every 30 days: due today
    overdue = _buyer(62, 32)  # due two days ago: still within the catch-up days
    long_gone = _buyer(150, 100)  # due 50 days ago: beyond them
    not_yet = _buyer(30, 10)  # due in ten days
    _daily("repurchase", launched_at=NOON - timedelta(hours=1))
    run_all(now=NOON)
    assert {m.member_id for m in channel.sent} == {due.pk, overdue.pk}
    assert long_gone.pk and not_yet.pk


def test_repurchase_reminds_once_per_purchase_cycle(channel, settings):
    settings.SCRM_REPURCHASE_CATCH_UP_DAYS = 5
    member = _buyer(60, 30)
    _daily("repurchase", launched_at=NOON - timedelta(hours=1))
    for day in range(3):  # due today and for the catch-up days after
        run_all(now=NOON + timedelta(days=day))
    assert [m.member_id for m in channel.sent] == [member.pk]


def test_a_daily_campaign_needs_a_valid_time_of_day(channel):
    with pytest.raises(ValidationError) as refused:
        campaign_create(
            name="生日",
            kind="birthday",
            channel="recording",
            cron_hour="25",
            steps=[{"contents": {"A": {"body": "生日快乐"}}}],
        )
    assert "schedule" in refused.value.message_dict
