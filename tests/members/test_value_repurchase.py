"""members_due_for_repurchase: the expected next purchase date when there is a current
prediction, else the member's own average gap, else the configured default."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.choices import MemberStatus
from members.models import MemberValue
from members.selectors import members_due_for_repurchase
from members.services.orders import member_stats_refresh
from members.services.value import member_value_score, value_models_fit
from tests import factories

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=TZ)
TODAY = NOW.date()


def _at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def _member_with_orders(*paid_at: datetime, **kw):
    member = factories.MemberFactory(**kw)
    for moment in paid_at:
        factories.OrderFactory(member=member, paid_at=moment)
    member_stats_refresh(member_ids=[member.pk])
    member.refresh_from_db()
    return member


def _predict(member, *, next_on, scored_at=NOW, p_alive=0.8):
    return MemberValue.objects.create(
        member=member,
        p_alive=p_alive,
        expected_purchases_30=0.3,
        expected_purchases_90=0.8,
        expected_purchases_365=2.0,
        expected_order_value=Decimal("100.00"),
        clv=Decimal("180.00"),
        next_purchase_on=next_on,
        value_score=Decimal("50.00"),
        scored_at=scored_at,
    )


def _due(on_date, **kw) -> set[int]:
    return set(members_due_for_repurchase(on_date=on_date, **kw).values_list("pk", flat=True))


def test_the_prediction_decides_when_current():
    member = _member_with_orders(_at(40), _at(20))  # own gap 20 days: due today
    _predict(member, next_on=TODAY + timedelta(days=3))
    assert _due(TODAY) == set()
    assert _due(TODAY + timedelta(days=3)) == {member.pk}


def test_a_purchase_after_the_prediction_falls_back_to_the_own_gap():
    member = _member_with_orders(_at(40), _at(20))
    _predict(member, next_on=TODAY + timedelta(days=3), scored_at=_at(30))  # before the last
    assert _due(TODAY) == {member.pk}
    assert _due(TODAY + timedelta(days=3)) == set()


def test_own_average_gap_between_first_and_last_order():
    # Orders 90, 60 and 30 days ago at 00:30: a 30-day gap, due today at 00:30 local time,
    # which is still yesterday in UTC: local days count.
    member = _member_with_orders(_at(90, 0, 30), _at(60, 12), _at(30, 0, 30))
    late = _member_with_orders(_at(50, 23, 30), _at(25, 23, 30))  # due today at 23:30
    assert _due(TODAY) == {member.pk, late.pk}
    assert _due(TODAY - timedelta(days=1)) == set()
    assert _due(TODAY + timedelta(days=1)) == set()


def test_a_prediction_without_a_date_falls_back():
    member = _member_with_orders(_at(40), _at(20))
    _predict(member, next_on=None)
    assert _due(TODAY) == {member.pk}


def test_default_gap_for_one_time_buyers(settings):
    settings.SCRM_VALUE_DEFAULT_INTERVAL_DAYS = 45
    once = _member_with_orders(_at(45, 8))
    same_instant = _member_with_orders(_at(45, 8), _at(45, 8))  # no gap to average
    _member_with_orders(_at(44))
    _member_with_orders(_at(46))
    assert _due(TODAY) == {once.pk, same_instant.pk}


def test_never_bought_and_inactive_members_are_never_due():
    factories.MemberFactory()
    gone = _member_with_orders(_at(40), _at(20), status=MemberStatus.MERGED)
    _predict(gone, next_on=TODAY)
    assert _due(TODAY) == set()


def test_min_p_alive_filters_predicted_members():
    likely = _member_with_orders(_at(40), _at(20))
    unlikely = _member_with_orders(_at(41), _at(21))
    own_gap = _member_with_orders(_at(30), _at(15))  # no prediction: not filtered
    _predict(likely, next_on=TODAY, p_alive=0.9)
    _predict(unlikely, next_on=TODAY, p_alive=0.2)
    assert _due(TODAY) == {likely.pk, unlikely.pk, own_gap.pk}
    assert _due(TODAY, min_p_alive=0.5) == {likely.pk, own_gap.pk}


def test_end_to_end_with_the_nightly_scoring(settings):
    # The fallback model's date: last purchase + (interval + t_x) / (1 + x) days.
    settings.SCRM_VALUE_MIN_REPEAT_BUYERS = 5
    member = _member_with_orders(_at(60), _at(40), _at(20))
    _member_with_orders(_at(10))
    fit = value_models_fit(now=NOW)
    member_value_score(fit=fit, now=NOW)
    interval = fit.params["average_interval"]["interval_days"]  # 20 days
    gap = round((interval + 40) / 3)
    due_on = TODAY - timedelta(days=20) + timedelta(days=gap)
    assert MemberValue.objects.get(member=member).next_purchase_on == due_on
    assert member.pk in _due(due_on)
    assert member.pk not in _due(due_on - timedelta(days=1))


def test_catching_up_takes_members_whose_day_passed_within_the_window():
    overdue = _member_with_orders(_at(46), _at(24))  # own gap 22 days: due two days ago
    long_overdue = _member_with_orders(_at(120), _at(80))  # due forty days ago
    predicted = _member_with_orders(_at(40))
    _predict(predicted, next_on=TODAY - timedelta(days=3))
    assert _due(TODAY) == set()
    assert _due(TODAY, catch_up_days=5) == {overdue.pk, predicted.pk}
    assert long_overdue.pk not in _due(TODAY, catch_up_days=30)
