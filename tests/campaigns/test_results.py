"""Campaign results, from touchpoints written the way the dispatcher and the attribution
service leave them: figures per campaign and per variant, revenue credited to sent messages
only, and the uplift against the holdout with its 95% interval (or "not enough data")."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import translation

from campaigns.models import SkipReason, Touchpoint, TouchpointState, Variant
from campaigns.services.results import (
    Group,
    campaign_results,
    campaigns_sent_converted,
    uplift_estimate,
)
from members.models import Member
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on

pytestmark = pytest.mark.django_db

SENT, FAILED, SKIPPED = TouchpointState.SENT, TouchpointState.FAILED, TouchpointState.SKIPPED
_keys = itertools.count()


def members(n: int) -> list[Member]:
    store = factories.StoreFactory()
    return Member.objects.bulk_create(factories.MemberFactory.build_batch(n, home_store=store))


def touch(campaign, code, state, *, n=1, reason="", converted=0, revenue="0", margin="0", who=None):
    """``n`` touchpoints of ``campaign`` in variant ``code``; the first ``converted`` of them
    bought in the window (and, as attribution would leave them, carry ``revenue`` and
    ``margin``). ``who``: the members (new ones if None)."""
    variant = Variant.objects.get(campaign=campaign, code=code)
    step = campaign.steps.get()
    who = who or members(n)
    rows = [
        Touchpoint(
            key=f"test:{next(_keys)}",
            campaign=campaign,
            step=step,
            variant=variant,
            member=member,
            channel=campaign.channel,
            state=state,
            skip_reason=reason,
            send_after=NOON,
            sent_at=NOON if state == SENT else None,
            converted_at=NOON + timedelta(days=1) if i < converted else None,
            bought_at=NOON + timedelta(days=1) if i < converted else None,
            revenue=Decimal(revenue) if i < converted else 0,
            margin=Decimal(margin) if i < converted else 0,
        )
        for i, member in enumerate(who)
    ]
    return Touchpoint.objects.bulk_create(rows)


@pytest.fixture
def campaign():
    from campaigns.services.campaigns import campaign_create

    return campaign_create(
        name="Member day",
        kind="recurring",
        channel="console",
        variants={"A": 50, "B": 50},
        holdout_percent=10,
        steps=[{"contents": {"A": {"body": "Hi A"}, "B": {"body": "Hi B"}}}],
    )


def test_figures_per_campaign_and_variant(campaign):
    # Variant A: a member reached twice (two runs), 2 of 4 sent messages converted.
    twice = members(1)
    touch(campaign, "A", SENT, who=twice, converted=1, revenue="100.00", margin="40.00")
    touch(campaign, "A", SENT, who=twice)
    touch(campaign, "A", SENT, n=2, converted=1, revenue="50.00", margin="20.00")
    touch(campaign, "A", FAILED)
    # Skipped for consent, but the member bought anyway: measured, never credited.
    touch(campaign, "A", SKIPPED, reason=SkipReason.NO_CONSENT, converted=1, revenue="500.00")
    touch(campaign, "A", TouchpointState.PENDING)
    touch(campaign, "A", TouchpointState.DEFERRED)
    # Variant B.
    touch(campaign, "B", SENT, n=2, converted=1, revenue="80.00", margin="30.00")
    touch(campaign, "B", SKIPPED, reason=SkipReason.FREQUENCY_CAP)
    touch(campaign, "B", SKIPPED, reason=SkipReason.CAMPAIGN_STOPPED)
    # The holdout (its members carry an arm too, but get nothing): one bought anyway.
    touch(campaign, "A", SKIPPED, n=2, reason=SkipReason.HOLDOUT, converted=1, revenue="999")
    touch(campaign, "B", SKIPPED, reason=SkipReason.HOLDOUT)

    results = campaign_results(campaign=campaign)

    total = results.total
    assert (total.touchpoints, total.audience) == (15, 14)
    assert (total.pending, total.deferred, total.sent, total.failed, total.skipped) == (
        1,
        1,
        6,
        1,
        6,
    )
    assert total.skipped_by_reason == {
        "no_consent": 1,
        "frequency_cap": 1,
        "stopped": 1,
        "holdout": 3,
    }
    assert total.converted == 3
    assert total.conversion_rate == 0.5
    # Only sent messages earn credit: not the consent-skipped order, not the holdout's.
    assert total.revenue == Decimal("230.00")
    assert total.margin == Decimal("90.00")
    # Intent to treat: sent 6 + failed 1 + skipped for consent 1 and caps 1 (not the one
    # stopped with its campaign, nor rows still waiting); 3 sent + 1 skipped converted.
    assert (total.treatment.rows, total.treatment.converted) == (9, 4)
    assert (results.holdout.rows, results.holdout.converted, results.holdout_audience) == (3, 1, 3)

    a, b = results.variants
    assert (a.code, a.weight, b.code) == ("A", 50, "B")
    assert (a.figures.touchpoints, a.figures.audience, a.figures.sent) == (8, 7, 4)
    assert (a.figures.failed, a.figures.skipped, a.figures.converted) == (1, 1, 2)
    assert a.figures.skipped_by_reason == {"no_consent": 1}
    assert (a.figures.revenue, a.figures.margin) == (Decimal("150.00"), Decimal("60.00"))
    assert (a.figures.treatment.rows, a.figures.treatment.converted) == (6, 3)
    assert (b.figures.touchpoints, b.figures.sent, b.figures.converted) == (4, 2, 1)
    assert b.figures.skipped_by_reason == {"frequency_cap": 1, "stopped": 1}
    assert b.figures.revenue == Decimal("80.00") and b.figures.conversion_rate == 0.5
    # Each variant is compared with the whole holdout.
    assert a.uplift.control == b.uplift.control == Group(3, 1)


def test_uplift_with_its_95_percent_interval(campaign):
    # Treatment 100 rows, 30 converted (30%); holdout 50 rows, 5 converted (10%).
    touch(campaign, "A", SENT, n=60, converted=20, revenue="10")
    touch(campaign, "B", SKIPPED, n=40, reason=SkipReason.NO_IDENTITY, converted=10)
    touch(campaign, "A", SKIPPED, n=50, reason=SkipReason.HOLDOUT, converted=5)

    uplift = campaign_results(campaign=campaign).uplift

    assert (uplift.treatment.rows, uplift.treatment.converted) == (100, 30)
    assert (uplift.control.rows, uplift.control.converted) == (50, 5)
    # 0.3 − 0.1 = 0.2; se = √(0.3·0.7/100 + 0.1·0.9/50) = √0.0039 = 0.06245;
    # 1.96 · 0.06245 = 0.1224.
    assert uplift.difference == pytest.approx(0.2)
    assert uplift.ci_low == pytest.approx(0.0776, abs=1e-4)
    assert uplift.ci_high == pytest.approx(0.3224, abs=1e-4)
    assert uplift.enough_data and uplift.significant


def test_an_interval_spanning_zero_is_not_significant():
    # 20% of 200 against 15% of 100: se = √(0.16/200 + 0.1275/100) = 0.04555.
    uplift = uplift_estimate(Group(200, 40), Group(100, 15))
    assert uplift.difference == pytest.approx(0.05)
    assert uplift.ci_low == pytest.approx(-0.0393, abs=1e-4)
    assert uplift.ci_high == pytest.approx(0.1393, abs=1e-4)
    assert uplift.enough_data and not uplift.significant


@pytest.mark.parametrize(
    ("treatment", "control"),
    [
        (Group(500, 100), Group(20, 5)),  # a tiny holdout
        (Group(25, 10), Group(500, 100)),  # a tiny treatment
        (Group(500, 100), Group(400, 0)),  # nobody in the holdout bought
        (Group(500, 498), Group(400, 100)),  # nearly everyone bought
    ],
)
def test_tiny_samples_say_not_enough_data_instead_of_an_interval(treatment, control):
    with translation.override("en"):
        uplift = uplift_estimate(treatment, control)
    assert (uplift.difference, uplift.ci_low, uplift.ci_high) == (None, None, None)
    assert not uplift.enough_data and not uplift.significant
    assert uplift.note.startswith("Not enough data")
    # Each group's own rate is still a fact worth showing.
    assert uplift.treatment.rate == treatment.converted / treatment.rows


def test_a_campaign_without_holdout_says_so(campaign):
    touch(campaign, "A", SENT, n=3, converted=1, revenue="20")
    with translation.override("en"):
        results = campaign_results(campaign=campaign)
    assert results.uplift.note == "No holdout group."
    assert results.uplift.difference is None
    assert results.total.conversion_rate == pytest.approx(1 / 3)


def test_a_campaign_with_nothing_yet_has_zero_figures(campaign):
    results = campaign_results(campaign=campaign)
    assert results.total.touchpoints == 0 and results.total.revenue == Decimal("0")
    assert results.total.conversion_rate is None
    assert [v.figures.sent for v in results.variants] == [0, 0]


def test_results_are_three_queries_however_many_touchpoints(campaign, django_assert_num_queries):
    touch(campaign, "A", SENT, n=40, converted=7, revenue="5")
    touch(campaign, "B", SKIPPED, n=30, reason=SkipReason.HOLDOUT, converted=3)
    with django_assert_num_queries(3):
        results = campaign_results(campaign=campaign)
    assert results.total.touchpoints == 70


def test_list_figures_for_a_page_of_campaigns_in_one_query(campaign, django_assert_num_queries):
    other = campaign_on("console")
    touch(campaign, "A", SENT, n=3, converted=2, revenue="1")
    touch(campaign, "B", SKIPPED, n=2, reason=SkipReason.HOLDOUT, converted=1)
    touch(other, "A", SENT, n=1)
    with django_assert_num_queries(1):
        figures = campaigns_sent_converted([campaign.pk, other.pk])
    assert figures == {campaign.pk: (3, 2), other.pk: (1, 0)}
