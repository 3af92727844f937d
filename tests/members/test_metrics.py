"""Member metrics: RFM quintiles, lifecycle stages at their edges, events and rewrites.

Every refresh is given a frozen ``now``; purchase times are local (TIME_ZONE) wall-clock times.
"""

from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.utils import timezone

from members import events
from members.choices import MemberStatus, OrderStatus
from members.events import EventKind
from members.models import Event, LifecycleStage, MemberMetrics
from members.services.metrics import member_metrics_refresh
from members.services.orders import order_refund
from tests import factories

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=TZ)


def _at(days_ago: int, hour: int = 12, minute: int = 0, *, now: datetime = NOW) -> datetime:
    """Local wall-clock time ``days_ago`` calendar days before ``now``'s date."""
    day = now.astimezone(TZ).date() - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def _buy(member, days_ago: int, amount="100.00", **kw):
    paid_at = kw.pop("paid_at", None) or _at(days_ago)
    return factories.OrderFactory(member=member, paid_amount=Decimal(amount), paid_at=paid_at, **kw)


def _metrics(member) -> MemberMetrics:
    return MemberMetrics.objects.get(member=member)


def _lifecycle_events(member=None):
    found = Event.objects.filter(kind=EventKind.LIFECYCLE_CHANGED).order_by("pk")
    return found.filter(member=member) if member is not None else found


# --- RFM quintiles ---------------------------------------------------------------------------


def test_quintiles_on_a_known_dataset():
    # Ten buyers with distinct values: ranks 1-2 score 1, 3-4 score 2 ... 9-10 score 5.
    # Member i: last purchase ``days[i]`` days ago, i + 1 orders, (10 - i) * 100 paid in all.
    days = [5, 3, 9, 1, 7, 2, 8, 4, 10, 6]
    buyers = []
    for i, last in enumerate(days):
        member = factories.MemberFactory()
        _buy(member, last, amount=f"{(10 - i) * 100}.00")
        for extra in range(i):
            _buy(member, 20 + extra, amount="0.00")
        buyers.append(member)
    prospect = factories.MemberFactory()
    lapsed = factories.MemberFactory()
    _buy(lapsed, 400, amount="99999.00")  # outside the 365-day window: scored by nobody

    result = member_metrics_refresh(now=NOW)

    rows = [_metrics(m) for m in buyers]
    assert [r.frequency for r in rows] == list(range(1, 11))
    assert [r.monetary for r in rows] == [Decimal((10 - i) * 100) for i in range(10)]
    assert [r.f_score for r in rows] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert [r.m_score for r in rows] == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    # More recent is better: 1 or 2 days ago scores 5, 9 or 10 days ago scores 1.
    assert [r.r_score for r in rows] == [3, 4, 1, 5, 2, 5, 2, 4, 1, 3]
    assert [r.rfm for r in rows] == [r.r_score * 100 + r.f_score * 10 + r.m_score for r in rows]
    assert rows[3].recency_days is not None
    for member in (prospect, lapsed):
        row = _metrics(member)
        assert (row.r_score, row.f_score, row.m_score, row.rfm) == (None, None, None, None)
        assert (row.frequency, row.monetary) == (0, Decimal("0"))
    assert _metrics(lapsed).last_purchase_at == _at(400)
    assert result["members"] == 12
    assert result["scored"] == 10


def test_equal_values_share_a_score():
    frequencies = [1, 1, 1, 2, 3]
    members = []
    for n in frequencies:
        member = factories.MemberFactory()
        for k in range(n):
            _buy(member, 10 + k)
        members.append(member)
    member_metrics_refresh(now=NOW)
    # Ranks 1, 1, 1, 4, 5 of 5: the three one-time buyers share the lowest score.
    assert [_metrics(m).f_score for m in members] == [1, 1, 1, 4, 5]


def test_a_refund_changes_the_scores():
    big = factories.MemberFactory()
    big_order = _buy(big, 10, amount="900.00")
    _buy(big, 11, amount="50.00")
    others = [factories.MemberFactory() for _ in range(4)]
    for i, member in enumerate(others):
        _buy(member, 10, amount=f"{(i + 1) * 100}.00")
    member_metrics_refresh(now=NOW)
    assert (_metrics(big).m_score, _metrics(big).f_score) == (5, 5)
    assert [_metrics(m).m_score for m in others] == [1, 2, 3, 4]

    order_refund(order=big_order)
    later = NOW + timedelta(hours=1)
    result = member_metrics_refresh(now=later)

    row = _metrics(big)
    assert (row.frequency, row.monetary) == (1, Decimal("50.00"))
    assert row.last_purchase_at == _at(11)  # the refunded order was the latest
    assert (row.m_score, row.f_score, row.r_score) == (1, 1, 1)  # all bought once: a tie
    assert [_metrics(m).m_score for m in others] == [2, 3, 4, 5]
    assert result["written"] == 5
    assert row.computed_at == later


def test_refunded_and_future_orders_do_not_count():
    refunded, future = factories.MemberFactory(), factories.MemberFactory()
    _buy(refunded, 3, status=OrderStatus.REFUNDED)
    _buy(future, 0, paid_at=NOW + timedelta(minutes=5))
    member_metrics_refresh(now=NOW)
    assert _metrics(refunded).stage == LifecycleStage.PROSPECT
    assert _metrics(future).stage == LifecycleStage.PROSPECT


@pytest.mark.parametrize(
    "window, expected_frequency",
    [(365, 3), (100, 2), (30, 1)],
)
def test_window_is_configurable(settings, window, expected_frequency):
    settings.SCRM_RFM_WINDOW_DAYS = window
    member = factories.MemberFactory()
    for days_ago in (29, 99, 364):
        _buy(member, days_ago)
    member_metrics_refresh(now=NOW)
    assert _metrics(member).frequency == expected_frequency


# --- Lifecycle stages ------------------------------------------------------------------------

S = LifecycleStage


@pytest.mark.parametrize(
    "purchases, stage",
    [
        ([], S.PROSPECT),
        ([0], S.NEW),
        ([29], S.NEW),  # first purchase within 30 days (0-29 days ago)
        ([30], S.ACTIVE),
        ([5, 40], S.ACTIVE),  # a recent purchase, but not the first one
        ([89], S.ACTIVE),
        ([90], S.AT_RISK),
        ([179], S.AT_RISK),
        ([180], S.DORMANT),
        ([364], S.DORMANT),
        ([365], S.CHURNED),
        ([900], S.CHURNED),
        ([10, 190], S.WON_BACK),  # came back after exactly 180 days without a purchase
        ([10, 189], S.ACTIVE),  # 179 days: was never dormant
        ([29, 400], S.WON_BACK),  # churned, came back 29 days ago
        ([30, 400], S.ACTIVE),  # the comeback is 30 days old: active again
        ([3, 20, 250], S.WON_BACK),  # the comeback (20 days ago) counts, not the latest order
        ([3, 20, 100], S.ACTIVE),  # 20 days ago was no comeback (80 days after the one before)
    ],
)
def test_lifecycle_stage(purchases, stage):
    member = factories.MemberFactory()
    for days_ago in purchases:
        _buy(member, days_ago)
    member_metrics_refresh(now=NOW)
    assert _metrics(member).stage == stage


@pytest.mark.parametrize(
    "hour, minute, days_ago, stage",
    [
        (0, 30, 89, S.ACTIVE),  # local 00:30 on the 89th day back: the day before in UTC
        (23, 30, 90, S.AT_RISK),  # local 23:30 on the 90th day back
        (0, 0, 29, S.NEW),
        (23, 59, 30, S.ACTIVE),
    ],
)
def test_days_are_local_calendar_days(hour, minute, days_ago, stage):
    member = factories.MemberFactory()
    _buy(member, days_ago, paid_at=_at(days_ago, hour, minute))
    member_metrics_refresh(now=NOW)
    assert _metrics(member).stage == stage


def test_thresholds_come_from_settings(settings):
    settings.SCRM_LIFECYCLE = {"at_risk_after": 30, "dormant_after": 60}
    members = {days_ago: factories.MemberFactory() for days_ago in (31, 45, 61, 364, 365)}
    for days_ago, member in members.items():
        _buy(member, days_ago)
    member_metrics_refresh(now=NOW)
    assert {d: _metrics(m).stage for d, m in members.items()} == {
        31: S.AT_RISK,
        45: S.AT_RISK,
        61: S.DORMANT,
        364: S.DORMANT,
        365: S.CHURNED,
    }


@pytest.mark.parametrize(
    "rules",
    [
        {"at_risk_after": 200},  # not below dormant_after
        {"new_days": 0},
        {"won_back_days": 181},
        {"lapsed_days": 10},
    ],
)
def test_inconsistent_thresholds_are_refused(settings, rules):
    settings.SCRM_LIFECYCLE = rules
    with pytest.raises(ImproperlyConfigured):
        member_metrics_refresh(now=NOW)


# --- Rewrites and events ---------------------------------------------------------------------


def test_unchanged_members_are_not_rewritten():
    # The buyer is already the most recent and biggest spender: buying again changes their
    # frequency (and F score) only, so nobody else's scores move.
    buyer = factories.MemberFactory()
    _buy(buyer, 5, amount="500.00")
    steady = [factories.MemberFactory() for _ in range(4)]
    for days_ago, member in zip((10, 20, 40, 60), steady, strict=True):
        _buy(member, days_ago, amount="100.00")
    first = member_metrics_refresh(now=NOW)
    assert first["written"] == 5

    assert member_metrics_refresh(now=NOW)["written"] == 0  # same data, same time

    next_night = NOW + timedelta(days=1)
    _buy(buyer, 0, amount="10.00", paid_at=next_night - timedelta(hours=2))
    result = member_metrics_refresh(now=next_night)

    assert result["written"] == 1
    assert [_metrics(m).computed_at for m in steady] == [NOW] * 4
    row = _metrics(buyer)
    assert (row.computed_at, row.frequency, row.f_score) == (next_night, 2, 5)
    assert [_metrics(m).f_score for m in steady] == [1] * 4


def test_stage_changes_are_recorded_once(monkeypatch):
    from collections import defaultdict

    # Nobody listens here (campaigns do in the project: their own tests cover that).
    monkeypatch.setattr(events, "_handlers", defaultdict(list))
    member = factories.MemberFactory()
    _buy(member, 80)
    _buy(factories.MemberFactory(), 10)  # another member, whose changes are not looked at

    first = member_metrics_refresh(now=NOW)
    assert first["stage_changes"] == {}
    assert not _lifecycle_events().exists()  # the first computation has no previous stage
    assert _metrics(member).stage_changed_at is None

    later = NOW + timedelta(days=15)  # 95 days since the purchase
    result = member_metrics_refresh(now=later)
    assert result["stage_changes"] == {"at_risk": 1}
    assert result["events"] == 1
    event = _lifecycle_events().get()
    assert event.member_id == member.pk
    assert event.data == {"from": "active", "to": "at_risk"}
    assert event.occurred_at == later
    assert event.dispatched_at is not None  # nobody listens: nothing to send
    row = _metrics(member)
    assert (row.stage, row.stage_changed_at, row.computed_at) == (S.AT_RISK, later, later)

    again = member_metrics_refresh(now=later + timedelta(hours=1))
    assert again["stage_changes"] == {}
    assert _lifecycle_events().count() == 1
    assert _metrics(member).stage_changed_at == later

    member_metrics_refresh(now=NOW + timedelta(days=100))  # 180 days: dormant
    assert [e.data for e in _lifecycle_events(member)] == [
        {"from": "active", "to": "at_risk"},
        {"from": "at_risk", "to": "dormant"},
    ]


def test_listened_stage_events_are_dispatched_after_commit(
    monkeypatch, django_capture_on_commit_callbacks
):
    from collections import defaultdict

    monkeypatch.setattr(events, "_handlers", defaultdict(list))
    events.event_handler_register(EventKind.LIFECYCLE_CHANGED, lambda event: None)
    sent = []
    monkeypatch.setattr("members.tasks.events_dispatch.delay", lambda ids: sent.append(ids))
    member = factories.MemberFactory()
    member_metrics_refresh(now=NOW)  # a prospect
    _buy(member, 0, paid_at=NOW + timedelta(hours=1))

    with django_capture_on_commit_callbacks(execute=True):
        member_metrics_refresh(now=NOW + timedelta(hours=2))

    event = _lifecycle_events().get()
    assert event.data == {"from": "prospect", "to": "new"}
    assert event.dispatched_at is None
    assert sent == [[event.pk]]


def test_rows_of_merged_or_erased_members_are_removed():
    merged, erased, kept = (factories.MemberFactory() for _ in range(3))
    member_metrics_refresh(now=NOW)
    type(merged).objects.filter(pk=merged.pk).update(status=MemberStatus.MERGED)
    type(erased).objects.filter(pk=erased.pk).update(status=MemberStatus.ERASED)
    result = member_metrics_refresh(now=NOW)
    assert result["removed"] == 2
    assert list(MemberMetrics.objects.values_list("member_id", flat=True)) == [kept.pk]


def test_counts_per_stage():
    for purchases in ([], [], [3], [100], [400]):
        member = factories.MemberFactory()
        for days_ago in purchases:
            _buy(member, days_ago)
    result = member_metrics_refresh(now=NOW)
    assert result["members"] == 5
    assert result["scored"] == 2
    assert result["stages"] == {"at_risk": 1, "churned": 1, "new": 1, "prospect": 2}
    assert result["seconds"] >= 0


# --- Entry points ----------------------------------------------------------------------------


def test_management_command_prints_counts():
    _buy(factories.MemberFactory(), 3)
    out = StringIO()
    call_command("refresh_member_metrics", "--now", "2026-06-15T12:00", stdout=out)
    text = out.getvalue()
    assert "members: 1" in text
    assert "new=1" in text
    assert "time:" in text
    assert MemberMetrics.objects.get().computed_at == NOW


def test_task_runs_the_refresh_and_is_scheduled_nightly(settings):
    from members.tasks import member_metrics_refresh as task

    factories.MemberFactory()
    assert task.run()["members"] == 1
    entry = settings.CELERY_BEAT_SCHEDULE["member-metrics-refresh"]
    assert entry["task"] == task.name


def test_beat_runs_the_nightly_metrics_refresh(settings):
    from celery.schedules import crontab

    from members.tasks import member_metrics_refresh as task
    from scrm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["member-metrics-refresh"]
    assert entry["task"] == task.name == "members.member_metrics_refresh"
    assert entry["task"] in app.tasks
    schedule = entry["schedule"]
    assert isinstance(schedule, crontab)  # once a night at a set time, not every few seconds
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1
    assert len(schedule.day_of_week) == 7 and len(schedule.day_of_month) == 31
