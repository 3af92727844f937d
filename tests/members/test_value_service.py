"""Fitting and scoring through the database (members.services.value): the SQL summary, the fit
on simulated order history, fallbacks on thin or degenerate data, and the set-based write.

Every call gets a frozen ``now``; purchase times are local (TIME_ZONE) wall-clock times.
"""

from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection
from django.utils import timezone

from members.choices import MemberStatus, OrderStatus
from members.models import Member, MemberValue, Order, ValueModelFit
from members.services.value import (
    ValueFitError,
    member_value_refresh,
    member_value_score,
    value_models_fit,
    value_models_from_fit,
)
from members.value import summary as summaries
from members.value.predict import AverageInterval, AverageSpend, BgNbd, GammaGamma
from tests import factories
from tests.members import value_data

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=TZ)
TODAY = NOW.date()
TRUE_BGNBD = {"r": 0.8, "alpha": 60.0, "a": 0.7, "b": 3.0}
TRUE_GG = {"p": 5.0, "q": 4.0, "v": 450.0}  # mean order value p v / (q - 1) = 750


def _at(days_ago: int, hour: int = 12, minute: int = 0) -> datetime:
    day = TODAY - timedelta(days=days_ago)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=TZ)


def _buy(member, days_ago: int, amount="100.00", margin="40.00", **kw):
    paid_at = kw.pop("paid_at", None) or _at(days_ago)
    return factories.OrderFactory(
        member=member,
        paid_amount=Decimal(amount),
        gross_margin=Decimal(margin),
        paid_at=paid_at,
        **kw,
    )


def _members(n: int) -> list[Member]:
    return Member.objects.bulk_create([Member(name=f"m{i}") for i in range(n)])


def _simulate_history(n: int, seed: int = 5) -> list[Member]:
    return value_data.order_history_create(
        n=n, today=TODAY, seed=seed, bgnbd=TRUE_BGNBD, gamma_gamma=TRUE_GG
    )


def _summary(end: datetime, **kw) -> summaries.Summary:
    with connection.cursor() as cursor:
        return summaries.summary_read(cursor, end=end, **kw)


# --- the summary -----------------------------------------------------------------------------


def test_summary_counts_purchase_days_and_repeat_spend():
    member = factories.MemberFactory()
    _buy(member, 10, amount="100.00", margin="30.00")
    _buy(member, 10, amount="50.00", margin="20.00", paid_at=_at(10, 18))  # same day: one
    _buy(member, 5, amount="80.00", margin="10.00")
    _buy(member, 1, amount="20.00", margin="5.00", paid_at=_at(1, 23, 30))
    _buy(member, 2, amount="999.00", status=OrderStatus.REFUNDED)
    _buy(member, 0, amount="999.00", paid_at=NOW + timedelta(minutes=1))  # after the end
    prospect = factories.MemberFactory()

    summary = _summary(NOW)

    assert list(summary.member_id) == [member.pk]
    assert prospect.pk not in summary.member_id
    today = summaries.day_number(TODAY)
    assert summary.x[0] == 2
    assert summary.first_day[0] == today - 10
    assert summary.last_day[0] == today - 1
    assert summary.t_x[0] == 9
    assert summary.age(today)[0] == 10
    assert summary.spend[0] == pytest.approx(250.0)
    assert summary.first_spend[0] == pytest.approx(150.0)
    assert summary.repeat_mean[0] == pytest.approx(50.0)
    assert summary.overall_mean[0] == pytest.approx(250.0 / 3)
    assert summary.margin_per_purchase[0] == pytest.approx(65.0 / 3)


def test_summary_days_are_local_calendar_days():
    apart = factories.MemberFactory()  # one hour apart, on two local days
    _buy(apart, 3, paid_at=_at(3, 23, 30))
    _buy(apart, 2, paid_at=_at(2, 0, 30))
    same = factories.MemberFactory()  # 23 hours 40 apart, one local day (two UTC days)
    _buy(same, 4, paid_at=_at(4, 0, 10))
    _buy(same, 4, paid_at=_at(4, 23, 50))
    summary = _summary(NOW)
    by_member = dict(zip(summary.member_id.tolist(), summary.x.tolist(), strict=True))
    assert by_member == {apart.pk: 1, same.pk: 0}


def test_summary_first_purchase_window():
    old, recent = factories.MemberFactory(), factories.MemberFactory()
    _buy(old, 400)
    _buy(old, 3)
    _buy(recent, 100)
    summary = _summary(NOW, first_since_day=summaries.day_number(TODAY) - 365)
    assert list(summary.member_id) == [recent.pk]


# --- fitting ---------------------------------------------------------------------------------


@pytest.fixture
def simulated_members():
    return _simulate_history(2500)


def test_fit_on_simulated_history_recovers_the_parameters(simulated_members):
    fit = value_models_fit(now=NOW)

    assert (fit.purchase_model, fit.spend_model) == ("bgnbd", "gamma_gamma")
    assert fit.converged
    assert fit.n_members == 2500
    assert fit.calibration_end == NOW and fit.fitted_at == NOW
    assert fit.log_likelihood < 0
    bgnbd = fit.diagnostics["purchases"]["fit"]
    for name, true in TRUE_BGNBD.items():
        estimate, error = fit.params["bgnbd"][name], bgnbd["standard_errors"][name]
        # Four standard errors: the simulation's continuous times were rounded up to days.
        assert abs(estimate - true) < 4 * error, (name, estimate, error)
    spend = fit.diagnostics["spend"]["fit"]
    for name, true in TRUE_GG.items():
        estimate, error = fit.params["gamma_gamma"][name], spend["standard_errors"][name]
        assert abs(estimate - true) < 4 * error, (name, estimate, error)
    assert fit.diagnostics["purchases"]["fallback_reason"] is None
    assert fit.diagnostics["purchases"]["fit"]["patterns"] < 2500
    assert fit.diagnostics["members_in_window"] == 2500
    assert ValueModelFit.objects.count() == 1


def test_fit_samples_at_most_the_configured_members(settings, simulated_members):
    settings.SCRM_VALUE_FIT_MAX_MEMBERS = 1000
    first = value_models_fit(now=NOW)
    again = value_models_fit(now=NOW)
    assert first.n_members == 1000
    assert first.diagnostics["members_in_window"] == 2500
    assert first.params == again.params  # a fixed sample


def test_an_earlier_calibration_end_reports_a_holdout_check(simulated_members):
    end = TODAY - timedelta(days=120)
    fit = value_models_fit(calibration_end=end, now=NOW)

    assert fit.calibration_end == datetime(end.year, end.month, end.day, tzinfo=TZ)
    holdout = fit.diagnostics["holdout"]
    assert holdout["days"] == 120
    # Only members who had bought before the end are fitted; what they bought after it is
    # the check. The model's total is close to what happened.
    assert fit.n_members < 2500
    assert holdout["actual"] > 0
    assert holdout["predicted"] == pytest.approx(holdout["actual"], rel=0.15)
    assert [row["x"] for row in holdout["by_frequency"]][:2] == ["0", "1"]
    # Orders after the end did not leak into the fit.
    later = _summary(datetime(end.year, end.month, end.day, tzinfo=TZ))
    assert fit.diagnostics["members_in_window"] == len(later)


def test_future_calibration_end_is_refused():
    with pytest.raises(ValueFitError, match="in the future"):
        value_models_fit(calibration_end=TODAY + timedelta(days=2), now=NOW)


def test_no_buyers_is_a_clear_error_and_stores_nothing():
    factories.MemberFactory()
    with pytest.raises(ValueFitError, match="nothing to fit"):
        value_models_fit(now=NOW)
    assert not ValueModelFit.objects.exists()


def test_no_repeat_buyers_fall_back_to_the_default_interval(settings):
    settings.SCRM_VALUE_DEFAULT_INTERVAL_DAYS = 60
    for days_ago in (5, 50, 100):
        _buy(factories.MemberFactory(), days_ago)

    fit = value_models_fit(now=NOW)

    assert (fit.purchase_model, fit.spend_model) == ("average_interval", "average")
    assert not fit.converged and fit.log_likelihood is None
    assert fit.params["bgnbd"] is None
    assert fit.params["average_interval"] == {"interval_days": 60.0}
    reason = fit.diagnostics["purchases"]["fallback_reason"]
    assert reason.startswith("0 repeat buyers, fewer than the 100")


def test_few_repeat_buyers_fall_back_to_their_average_interval(settings):
    settings.SCRM_VALUE_MIN_REPEAT_BUYERS = 5
    # Two repeat buyers: gaps of 10 days (twice) and of 40 days: 60 days over 3 repeats.
    twice = factories.MemberFactory()
    for days_ago in (30, 20, 10):
        _buy(twice, days_ago)
    once = factories.MemberFactory()
    _buy(once, 50)
    _buy(once, 10)
    _buy(factories.MemberFactory(), 7)

    fit = value_models_fit(now=NOW)

    assert fit.purchase_model == "average_interval"
    assert fit.params["average_interval"]["interval_days"] == pytest.approx(20.0)
    assert "2 repeat buyers" in fit.diagnostics["purchases"]["fallback_reason"]


def test_one_member_falls_back(settings):
    settings.SCRM_VALUE_MIN_REPEAT_BUYERS = 2
    member = factories.MemberFactory()
    for days_ago in (90, 60, 30):
        _buy(member, days_ago)
    fit = value_models_fit(now=NOW)
    assert fit.purchase_model == "average_interval"
    assert fit.n_members == 1
    result = member_value_score(fit=fit, now=NOW)
    assert result["predicted"] == 1 and result["not_finite"] == 0
    row = MemberValue.objects.get(member=member)
    # interval 30 days; own gap (30 + 60) / (1 + 2) = 30; last purchase 30 days ago.
    assert row.p_alive == pytest.approx(np.exp(-1))
    assert row.next_purchase_on == TODAY


def test_zero_value_orders_fall_back_for_spend_and_store_no_nan(settings, simulated_members):
    Order.objects.update(paid_amount=0, gross_margin=0)
    fit = value_models_fit(now=NOW)
    assert fit.purchase_model == "bgnbd"
    assert fit.spend_model == "average"
    assert "0 repeat buyers with a positive spend" in fit.diagnostics["spend"]["fallback_reason"]
    member_value_score(fit=fit, now=NOW)
    rows = MemberValue.objects.all()
    assert rows.count() == 2500
    assert all(r.expected_order_value == 0 and r.clv == 0 and r.value_score == 0 for r in rows)
    _assert_no_nan()


def test_a_bgnbd_fit_that_does_not_converge_falls_back(monkeypatch, simulated_members):
    from members.services import value as service
    from members.value.fit import FitResult

    def stuck(*args, **kwargs):
        return FitResult(
            params={"r": 1.0, "alpha": 1.0, "a": 1.0, "b": 1.0},
            log_likelihood=-1.0,
            converged=False,
            iterations=1000,
            message="ABNORMAL_TERMINATION_IN_LNSRCH",
            standard_errors=None,
            customers=1,
        )

    monkeypatch.setattr(service, "bgnbd_fit", stuck)
    fit = value_models_fit(now=NOW)
    assert fit.purchase_model == "average_interval"
    assert fit.diagnostics["purchases"]["fallback_reason"] == (
        "BG/NBD did not converge: ABNORMAL_TERMINATION_IN_LNSRCH"
    )
    assert fit.diagnostics["purchases"]["fit"]["converged"] is False


# --- scoring ---------------------------------------------------------------------------------


def _assert_no_nan():
    columns = (
        "p_alive",
        "expected_purchases_30",
        "expected_purchases_90",
        "expected_purchases_365",
        "expected_order_value",
        "clv",
        "value_score",
        "referral_index",
    )
    with connection.cursor() as cursor:
        for column in columns:
            cursor.execute(
                f"SELECT COUNT(*) FROM members_membervalue WHERE {column} <> {column}"
                f" OR CAST({column} AS TEXT) IN ('NaN', 'nan', 'Infinity', '-Infinity', 'inf')"
            )
            assert cursor.fetchone()[0] == 0, column


def test_score_writes_every_active_member_from_the_models(simulated_members):
    prospect = factories.MemberFactory()
    merged = factories.MemberFactory(status=MemberStatus.MERGED)
    _buy(merged, 20)
    fit = value_models_fit(now=NOW)

    result = member_value_score(fit=fit, now=NOW)

    assert result["members"] == 2500
    assert result["predicted"] == 2501 and result["not_finite"] == 0
    assert MemberValue.objects.count() == 2500
    # Nothing to predict for a member who never bought; merged members are not scored.
    assert not MemberValue.objects.filter(member__in=[prospect, merged]).exists()
    assert not MemberValue.objects.filter(p_alive__isnull=True).exists()
    assert set(MemberValue.objects.values_list("scored_at", "referral_index")) == {(NOW, 1.0)}
    _assert_no_nan()

    # Each stored value is the model's prediction for the member's summary.
    purchase, spend = value_models_from_fit(fit)
    assert isinstance(purchase, BgNbd) and isinstance(spend, GammaGamma)
    summary = _summary(NOW)
    today = summaries.day_number(TODAY)
    x, t_x, age = summary.x, summary.t_x, summary.age(today)
    rows = {r.member_id: r for r in MemberValue.objects.filter(member_id__in=summary.member_id)}
    p_alive = purchase.p_alive(x, t_x, age)
    e90 = purchase.expected(90, x, t_x, age)
    e365 = purchase.expected(365, x, t_x, age)
    value = spend.expected_value(x, summary.repeat_mean, summary.overall_mean)
    gap = purchase.purchase_gap(x, t_x)
    for i in range(0, len(summary), 97):
        row = rows[int(summary.member_id[i])]
        assert row.p_alive == pytest.approx(p_alive[i], rel=1e-9)
        assert row.expected_purchases_90 == pytest.approx(e90[i], rel=1e-9)
        assert row.expected_purchases_365 == pytest.approx(e365[i], rel=1e-9)
        assert float(row.expected_order_value) == pytest.approx(value[i], abs=0.006)
        expected_day = summaries.EPOCH + timedelta(days=int(summary.last_day[i] + round(gap[i])))
        assert row.next_purchase_on == expected_day
        score = e365[i] * summary.margin_per_purchase[i]
        assert float(row.value_score) == pytest.approx(score, abs=0.006)
        assert row.expected_purchases_30 <= row.expected_purchases_90 <= row.expected_purchases_365
        # The CLV over 365 days, discounted, is below the undiscounted expected revenue.
        assert 0 < float(row.clv) <= e365[i] * value[i] + 0.01


def test_clv_follows_the_horizon_and_discount_settings(settings):
    settings.SCRM_VALUE_MIN_REPEAT_BUYERS = 3
    member = factories.MemberFactory()
    for days_ago in (200, 140, 80, 20):
        _buy(member, days_ago)
    other = factories.MemberFactory()
    for days_ago in (100, 40):
        _buy(other, days_ago)
    fit = value_models_fit(now=NOW)
    purchase, _spend = value_models_from_fit(fit)
    assert isinstance(purchase, AverageInterval)

    settings.SCRM_VALUE_DISCOUNT_RATE = 0.0
    member_value_score(fit=fit, now=NOW)
    row = MemberValue.objects.get(member=member)
    # Undiscounted over 365 days: the expected purchases in a year times the order value.
    assert float(row.clv) == pytest.approx(row.expected_purchases_365 * 100, abs=0.01)

    settings.SCRM_VALUE_DISCOUNT_RATE = 0.5
    member_value_score(fit=fit, now=NOW)
    discounted = MemberValue.objects.get(member=member).clv
    assert discounted < row.clv

    settings.SCRM_VALUE_DISCOUNT_RATE = 0.0
    settings.SCRM_VALUE_CLV_HORIZON_DAYS = 90
    member_value_score(fit=fit, now=NOW)
    short = MemberValue.objects.get(member=member)
    assert float(short.clv) == pytest.approx(short.expected_purchases_90 * 100, abs=0.01)


def test_rescoring_updates_rows_and_drops_inactive_members(simulated_members):
    fit = value_models_fit(now=NOW)
    member_value_score(fit=fit, now=NOW)
    quitter, refunded = simulated_members[0], simulated_members[2]
    before = MemberValue.objects.get(member=simulated_members[1])
    Member.objects.filter(pk=quitter.pk).update(status=MemberStatus.ERASED)
    Order.objects.filter(member=refunded).update(status=OrderStatus.REFUNDED)

    later = NOW + timedelta(days=30)
    result = member_value_score(fit=fit, now=later)

    assert result["removed"] == 2
    assert not MemberValue.objects.filter(member__in=[quitter, refunded]).exists()
    after = MemberValue.objects.get(member=simulated_members[1])
    assert after.scored_at == later
    # A month older with no new purchase: less likely to buy in the next year.
    assert after.expected_purchases_365 < before.expected_purchases_365
    assert after.next_purchase_on == before.next_purchase_on  # anchored on the last purchase


def test_score_uses_the_latest_fit_and_needs_one():
    _buy(factories.MemberFactory(), 3)
    with pytest.raises(ValueFitError, match="run fit_value_models"):
        member_value_score(now=NOW)
    older = value_models_fit(now=NOW - timedelta(days=1))
    newer = value_models_fit(now=NOW)
    assert member_value_score(now=NOW)["fit"] == newer.pk != older.pk


def test_referral_index_provider_scales_the_value_score():
    from django.db.models import F, FloatField, Value

    from members.value import referral
    from members.value.referral import referral_index_register

    referrer, plain = factories.MemberFactory(), factories.MemberFactory()
    for member in (referrer, plain):
        _buy(member, 40, margin="30.00")
        _buy(member, 10, margin="30.00")
    fit = value_models_fit(now=NOW)

    def provider():
        return Member.objects.filter(pk=referrer.pk).values(
            member_id=F("id"), referral_index=Value(2.5, output_field=FloatField())
        )

    registered = referral._provider
    try:
        referral_index_register(provider)
        member_value_score(fit=fit, now=NOW)
        boosted, neutral = (MemberValue.objects.get(member=m) for m in (referrer, plain))
        assert (boosted.referral_index, neutral.referral_index) == (2.5, 1.0)
        assert neutral.expected_purchases_365 == pytest.approx(boosted.expected_purchases_365)
        assert float(neutral.value_score) == pytest.approx(
            neutral.expected_purchases_365 * 30, abs=0.006
        )
        assert float(boosted.value_score) == pytest.approx(
            boosted.expected_purchases_365 * 30 * 2.5, abs=0.006
        )

        referral_index_register(None)
        member_value_score(fit=fit, now=NOW)  # provider gone: neutral again
        assert MemberValue.objects.get(member=referrer).referral_index == 1.0
    finally:
        referral_index_register(registered)  # later tests see the referrals app's provider


def test_refresh_fits_and_scores():
    for days_ago in (3, 30):
        _buy(factories.MemberFactory(), days_ago)
    factories.MemberFactory()
    result = member_value_refresh(now=NOW)
    assert result["purchase_model"] == "average_interval"
    assert result["members"] == 2
    assert result["fit"] == ValueModelFit.objects.get().pk
    assert MemberValue.objects.filter(p_alive__isnull=False).count() == 2


def test_refresh_without_buyers_is_skipped():
    factories.MemberFactory()
    result = member_value_refresh(now=NOW)
    assert "nothing to fit" in result["skipped"]
    assert not MemberValue.objects.exists()


def test_the_nightly_task_runs_the_refresh(settings):
    from members.tasks import member_value_refresh as task

    _buy(factories.MemberFactory(), 3)
    result = task.apply().get()
    assert result["members"] == 1
    assert ValueModelFit.objects.count() == 1
    assert settings.CELERY_BEAT_SCHEDULE["member-value-refresh"]["task"] == task.name


def test_spend_fallback_predicts_the_members_own_average():
    member = factories.MemberFactory()
    _buy(member, 20, amount="100.00")
    _buy(member, 10, amount="300.00")
    fit = value_models_fit(now=NOW)
    assert isinstance(value_models_from_fit(fit)[1], AverageSpend)
    member_value_score(fit=fit, now=NOW)
    assert MemberValue.objects.get(member=member).expected_order_value == Decimal("200.00")


def test_days_since_epoch_helpers():
    assert summaries.day_number(date(1970, 1, 2)) == 1
    # 2026-06-15 00:30 in Shanghai is still 14 June in UTC: the local date counts.
    assert summaries.local_day_number(datetime(2026, 6, 15, 0, 30, tzinfo=TZ)) == (
        summaries.day_number(date(2026, 6, 15))
    )


def test_refresh_fits_on_the_window_and_scores_everyone(settings):
    settings.SCRM_VALUE_CALIBRATION_DAYS = 100
    old, recent = factories.MemberFactory(), factories.MemberFactory()
    _buy(old, 200)
    _buy(old, 20)
    _buy(recent, 50)
    result = member_value_refresh(now=NOW)
    fit = ValueModelFit.objects.get()
    assert fit.diagnostics["members_in_window"] == 1  # the old member first bought earlier
    assert fit.diagnostics["summary_seconds"] >= 0 and fit.diagnostics["fit_seconds"] >= 0
    assert result["members"] == 2
    assert set(result["timings"]) == {"summary", "predict", "load", "upsert", "delete"}
    assert MemberValue.objects.filter(member=old, p_alive__isnull=False).exists()


def test_non_finite_predictions_are_stored_as_null(caplog):
    # a = 1 makes BG/NBD's expected purchases 0/0: such a prediction is stored as NULLs
    # (all of it, the date included), counted and logged, never as NaN.
    member = factories.MemberFactory()
    for days_ago in (30, 10):
        _buy(member, days_ago)
    fit = ValueModelFit.objects.create(
        fitted_at=NOW,
        calibration_end=NOW,
        purchase_model="bgnbd",
        spend_model="average",
        params={"bgnbd": {"r": 0.5, "alpha": 30.0, "a": 1.0, "b": 2.0}},
        converged=False,
        n_members=1,
    )
    result = member_value_score(fit=fit, now=NOW)
    assert result["not_finite"] == 1 and result["predicted"] == 0
    row = MemberValue.objects.get(member=member)
    assert (row.p_alive, row.expected_purchases_90, row.clv, row.next_purchase_on) == (
        None,
        None,
        None,
        None,
    )
    assert row.value_score is None
    _assert_no_nan()
    assert "not finite" in caplog.text


def test_erasure_deletes_the_prediction_at_once():
    from members.services.privacy import member_erase

    member = factories.MemberFactory()
    for days_ago in (30, 10):
        _buy(member, days_ago)
    member_value_score(fit=value_models_fit(now=NOW), now=NOW)
    assert MemberValue.objects.filter(member=member).exists()
    counts = member_erase(member=member)
    assert counts["value_predictions"] == 1
    assert not MemberValue.objects.filter(member=member).exists()


def test_scoring_with_nobody_left_to_predict_empties_the_table():
    member = factories.MemberFactory()
    for days_ago in (30, 10):
        _buy(member, days_ago)
    fit = value_models_fit(now=NOW)
    member_value_score(fit=fit, now=NOW)
    Order.objects.update(status=OrderStatus.REFUNDED)
    result = member_value_score(fit=fit, now=NOW + timedelta(hours=1))
    assert (result["members"], result["predicted"], result["removed"]) == (0, 0, 1)
    assert not MemberValue.objects.exists()


def test_an_absurd_score_is_bounded_instead_of_aborting_the_night():
    # A provider's huge referral index would overflow DECIMAL(16, 2) on PostgreSQL and abort
    # the whole scoring; the score is bounded to what the column holds.
    from django.db.models import F, FloatField, Value

    from members.value import referral
    from members.value.referral import referral_index_register
    from members.value.score import MAX_MONEY

    member = factories.MemberFactory()
    _buy(member, 40, margin="9000.00")
    _buy(member, 10, margin="9000.00")
    fit = value_models_fit(now=NOW)
    registered = referral._provider
    try:
        referral_index_register(
            lambda: Member.objects.filter(pk=member.pk).values(
                member_id=F("id"), referral_index=Value(1e15, output_field=FloatField())
            )
        )
        member_value_score(fit=fit, now=NOW)
    finally:
        referral_index_register(registered)
    assert float(MemberValue.objects.get(member=member).value_score) == MAX_MONEY
