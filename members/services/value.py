"""Predictive member value: fit the purchase and spend models, score every member, and the
nightly refresh that does both (docs/value.md).

    fit = value_models_fit(calibration_end=date(2026, 6, 1))   # a ValueModelFit row
    member_value_score(fit=fit)                                 # MemberValue for everyone
    member_value_refresh()                                      # nightly: fit as of now, score

The models are fitted on a sample of recent members' summaries (members.value.summary) in
numpy/scipy (members.value.fit). Shops with too little history get the documented fallbacks
(members.value.predict.AverageInterval, AverageSpend) instead of a fit that would not hold.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime
from datetime import time as dt_time

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from members.models import ValueModelFit
from members.models.value import PurchaseModel as PurchaseModelChoice
from members.models.value import SpendModel as SpendModelChoice
from members.value import summary as summaries
from members.value.config import ValueSettings, value_settings
from members.value.fit import ValueFitError, bgnbd_fit, compress, gamma_gamma_fit
from members.value.predict import (
    AverageInterval,
    AverageSpend,
    BgNbd,
    GammaGamma,
    PurchaseModel,
    SpendModel,
)
from members.value.score import predictions_compute, predictions_write

logger = logging.getLogger(__name__)

__all__ = [
    "ValueFitError",
    "member_value_refresh",
    "member_value_score",
    "value_models_fit",
    "value_models_from_fit",
]

# Serialises scorings on PostgreSQL (the nightly run and a manual one would both rewrite
# every row); metrics uses 0x5C12_0001.
ADVISORY_LOCK_KEY = 0x5C12_0002
# The two-level GROUP BY over orders sorts by member and day (see members.services.metrics).
POSTGRES_WORK_MEM = "64MB"
# The fit's sample is the same for the same data: a fixed seed.
SAMPLE_SEED = 20050101
# Holdout check: mean actual vs predicted purchases per calibration frequency, 7+ pooled.
HOLDOUT_MAX_X = 7


def value_models_fit(
    *, calibration_end: date | datetime | None = None, now: datetime | None = None
) -> ValueModelFit:
    """Fit BG/NBD and Gamma-Gamma to the paid orders before ``calibration_end`` (a date
    means the start of that local day; default: ``now``) of members whose first purchase
    lies within SCRM_VALUE_CALIBRATION_DAYS before it, at most SCRM_VALUE_FIT_MAX_MEMBERS of
    them (a fixed random sample). Falls back to the average-interval / average-spend models
    when there are fewer than SCRM_VALUE_MIN_REPEAT_BUYERS repeat buyers or a fit does not
    converge. When the calibration end lies before today, diagnostics include a holdout
    check against the purchases made since. Saves and returns the ValueModelFit; raises
    ValueFitError when there is nothing to fit (nobody bought in the window)."""
    started = time.monotonic()
    cfg = value_settings()
    now = _aware(now or timezone.now())
    end = _calibration_end(calibration_end, now=now)
    if end > now:
        raise ValueFitError(f"The calibration end {end:%Y-%m-%d %H:%M} is in the future.")
    since_day = summaries.local_day_number(end) - cfg.calibration_days
    with transaction.atomic(), connection.cursor() as cursor:
        _set_work_mem(cursor)
        summary = summaries.summary_read(cursor, end=end, first_since_day=since_day)
    return _fit_summary(
        summary, end=end, now=now, cfg=cfg, summary_seconds=time.monotonic() - started
    )


def _fit_summary(
    summary: summaries.Summary,
    *,
    end: datetime,
    now: datetime,
    cfg: ValueSettings,
    summary_seconds: float,
) -> ValueModelFit:
    """value_models_fit from the window's summaries (the nightly refresh reuses the ones it
    reads for scoring)."""
    started = time.monotonic()
    end_day = summaries.local_day_number(end)
    in_window = len(summary)
    if not in_window:
        raise ValueFitError(
            f"No member made a first paid purchase in the {cfg.calibration_days} days before "
            f"{end:%Y-%m-%d}: there is nothing to fit."
        )
    if in_window > cfg.fit_max_members:
        rng = np.random.default_rng(SAMPLE_SEED)
        summary = summary.take(np.sort(rng.choice(in_window, cfg.fit_max_members, replace=False)))
    x, t_x, age = summary.x, summary.t_x, summary.age(end_day)
    purchase_model, purchase_diag = _fit_purchases(x, t_x, age, cfg)
    spend_model, spend_diag = _fit_spend(summary, cfg)
    diagnostics = {
        "members_in_window": in_window,
        "members_fitted": len(summary),
        "repeat_buyers": int((x > 0).sum()),
        "purchase_days": int(summary.purchases.sum()),
        "window_days": cfg.calibration_days,
        "purchases": purchase_diag,
        "spend": spend_diag,
    }
    today_start = _day_start(timezone.localdate(now, timezone.get_default_timezone()))
    if end < today_start:
        diagnostics["holdout"] = _holdout(purchase_model, summary, end=end, until=today_start)
    params = {
        "time_unit": "day",
        "bgnbd": purchase_diag["fit"]["params"] if isinstance(purchase_model, BgNbd) else None,
        "average_interval": {"interval_days": purchase_diag["average_interval_days"]},
        "gamma_gamma": spend_diag["fit"]["params"] if isinstance(spend_model, GammaGamma) else None,
        "average_spend": {"order_value": spend_diag["average_order_value"]},
    }
    # Reading the orders, and fitting the models to the summaries (sample, both fits and
    # the holdout check): the second is what grows with SCRM_VALUE_FIT_MAX_MEMBERS.
    diagnostics["summary_seconds"] = round(summary_seconds, 3)
    diagnostics["fit_seconds"] = round(time.monotonic() - started, 3)
    diagnostics["seconds"] = round(summary_seconds + diagnostics["fit_seconds"], 3)
    fit = ValueModelFit.objects.create(
        fitted_at=now,
        calibration_end=end,
        purchase_model=purchase_model.name,
        spend_model=spend_model.name,
        params=params,
        log_likelihood=(
            purchase_diag["fit"]["log_likelihood"] if isinstance(purchase_model, BgNbd) else None
        ),
        converged=isinstance(purchase_model, BgNbd) and isinstance(spend_model, GammaGamma),
        n_members=len(summary),
        diagnostics=diagnostics,
    )
    logger.info(
        "value models: %s + %s on %d members (%d repeat buyers), %.1f s",
        fit.purchase_model,
        fit.spend_model,
        fit.n_members,
        diagnostics["repeat_buyers"],
        diagnostics["seconds"],
    )
    return fit


def value_models_from_fit(fit: ValueModelFit) -> tuple[PurchaseModel, SpendModel]:
    """The purchase and spend models a stored fit describes."""
    params = fit.params
    if fit.purchase_model == PurchaseModelChoice.BGNBD:
        purchase: PurchaseModel = BgNbd(**params["bgnbd"])
    else:
        purchase = AverageInterval(interval=params["average_interval"]["interval_days"])
    if fit.spend_model == SpendModelChoice.GAMMA_GAMMA:
        spend: SpendModel = GammaGamma(**params["gamma_gamma"])
    else:
        spend = AverageSpend()
    return purchase, spend


def member_value_score(*, fit: ValueModelFit | None = None, now: datetime | None = None) -> dict:
    """Predict every active member's value as of ``now`` with ``fit`` (default: the latest
    fit) and write them set-based: one MemberValue row per active member with a paid order;
    the rows of other members are deleted. Returns ``fit`` (id), ``members`` (rows written),
    ``predicted``, ``not_finite`` (predictions stored as NULL), ``removed``, and ``seconds``
    with a breakdown in ``timings``."""
    started = time.monotonic()
    now = _aware(now or timezone.now())
    fit = fit or ValueModelFit.objects.first()
    if fit is None:
        raise ValueFitError("No value model has been fitted yet: run fit_value_models first.")
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        summary = summaries.summary_read(cursor, end=now)
        summary_seconds = time.monotonic() - started
        return _score_summary(
            cursor, summary, fit=fit, now=now, summary_seconds=summary_seconds, started=started
        )


def member_value_refresh(*, now: datetime | None = None) -> dict:
    """Nightly: fit the models on the history up to ``now`` and score every member with
    that fit, reading the orders once. Returns the scoring's counts with ``fit``, the models
    used and ``fit_seconds``; when there is nothing to fit (no buyer in the calibration
    window), ``skipped`` says why and nothing is written."""
    started = time.monotonic()
    cfg = value_settings()
    now = _aware(now or timezone.now())
    since_day = summaries.local_day_number(now) - cfg.calibration_days
    with transaction.atomic(), connection.cursor() as cursor:
        _lock(cursor)
        summary = summaries.summary_read(cursor, end=now)
        summary_seconds = time.monotonic() - started
        try:
            fit = _fit_summary(
                summary.take(summary.first_day >= since_day),
                end=now,
                now=now,
                cfg=cfg,
                summary_seconds=summary_seconds,
            )
        except ValueFitError as error:
            logger.warning("member value refresh skipped: %s", error)
            return {"skipped": str(error)}
        result = _score_summary(
            cursor, summary, fit=fit, now=now, summary_seconds=summary_seconds, started=started
        )
    return {
        **result,
        "purchase_model": fit.purchase_model,
        "spend_model": fit.spend_model,
        "fit_seconds": fit.diagnostics["fit_seconds"],
    }


def _score_summary(
    cursor,
    summary: summaries.Summary,
    *,
    fit: ValueModelFit,
    now: datetime,
    summary_seconds: float,
    started: float,
) -> dict:
    cfg = value_settings()
    purchase_model, spend_model = value_models_from_fit(fit)
    timings = {"summary": round(summary_seconds, 3)}
    mark = time.monotonic()
    predictions = predictions_compute(
        purchase_model,
        spend_model,
        summary,
        today_day=summaries.local_day_number(now),
        clv_horizon_days=cfg.clv_horizon_days,
        discount_rate=cfg.discount_rate,
    )
    timings["predict"] = round(time.monotonic() - mark, 3)
    written = predictions_write(cursor, predictions, scored_at=now)
    timings.update(written.pop("timings"))
    if predictions.not_finite:
        logger.warning(
            "member value: %d predictions were not finite and are stored as NULL (fit %s)",
            predictions.not_finite,
            fit.pk,
        )
    result = {
        "fit": fit.pk,
        "members": written["written"],
        "predicted": len(predictions) - predictions.not_finite,
        "not_finite": predictions.not_finite,
        "removed": written["removed"],
        "timings": timings,
        "seconds": round(time.monotonic() - started, 3),
    }
    logger.info(
        "member value: %(members)d members, %(predicted)d predicted, %(removed)d removed, "
        "%(seconds).1f s",
        result,
    )
    return result


# --- fitting -------------------------------------------------------------------------------


def _fit_purchases(
    x: np.ndarray, t_x: np.ndarray, age: np.ndarray, cfg: ValueSettings
) -> tuple[PurchaseModel, dict]:
    repeat = x > 0
    # The fallback's population interval: total days between first and last purchases over
    # the repeat purchases they span.
    interval = float(t_x[repeat].sum() / x[repeat].sum()) if repeat.any() else None
    if interval is None or interval <= 0:
        interval = float(cfg.default_interval_days)
    diag: dict = {"average_interval_days": interval, "fit": None, "fallback_reason": None}
    repeat_buyers = int(repeat.sum())
    if repeat_buyers < cfg.min_repeat_buyers:
        diag["fallback_reason"] = (
            f"{repeat_buyers} repeat buyers, fewer than the {cfg.min_repeat_buyers} needed "
            "to fit BG/NBD"
        )
        return AverageInterval(interval=interval), diag
    (cx, ct_x, cage), weights = compress(x, t_x, age)
    mark = time.monotonic()
    result = bgnbd_fit(cx, ct_x, cage, weights=weights)
    diag["fit"] = {
        **result.as_dict(),
        "patterns": int(weights.size),
        "seconds": round(time.monotonic() - mark, 3),
    }
    if not result.converged:
        diag["fallback_reason"] = f"BG/NBD did not converge: {result.message}"
        return AverageInterval(interval=interval), diag
    return BgNbd(**result.params), diag


def _fit_spend(summary: summaries.Summary, cfg: ValueSettings) -> tuple[SpendModel, dict]:
    purchases = summary.purchases.sum()
    average = float(summary.spend.sum() / purchases) if purchases else 0.0
    diag: dict = {"average_order_value": round(average, 2), "fit": None, "fallback_reason": None}
    x, mean = summary.x, summary.repeat_mean
    usable = (x > 0) & (mean > 0)
    diag["repeat_buyers_with_spend"] = int(usable.sum())
    if usable.sum() < cfg.min_repeat_buyers:
        diag["fallback_reason"] = (
            f"{int(usable.sum())} repeat buyers with a positive spend, fewer than the "
            f"{cfg.min_repeat_buyers} needed to fit Gamma-Gamma"
        )
        return AverageSpend(), diag
    mark = time.monotonic()
    result = gamma_gamma_fit(x[usable], mean[usable])
    diag["fit"] = {**result.as_dict(), "seconds": round(time.monotonic() - mark, 3)}
    if not result.converged:
        diag["fallback_reason"] = f"Gamma-Gamma did not converge: {result.message}"
        return AverageSpend(), diag
    if result.params["q"] <= 1:
        # The population mean p v / (q - 1) does not exist: members without a repeat
        # purchase would have no expected value.
        diag["fallback_reason"] = "Gamma-Gamma q <= 1: the mean spend is not defined"
        return AverageSpend(), diag
    return GammaGamma(**result.params), diag


def _holdout(
    model: PurchaseModel, summary: summaries.Summary, *, end: datetime, until: datetime
) -> dict:
    """Purchases the fitted members actually made from the calibration end to the start of
    today, against the model's expectation, overall and by calibration frequency."""
    days = summaries.local_day_number(until) - summaries.local_day_number(end)
    with connection.cursor() as cursor:
        ids, counts = summaries.purchase_days_between(cursor, start=end, end=until)
    actual = np.zeros(len(summary))
    if ids.size:
        position = np.clip(np.searchsorted(ids, summary.member_id), 0, ids.size - 1)
        hit = ids[position] == summary.member_id
        actual[hit] = counts[position[hit]]
    end_day = summaries.local_day_number(end)
    with np.errstate(all="ignore"):
        predicted = model.expected(float(days), summary.x, summary.t_x, summary.age(end_day))
    rows = []
    for k in range(HOLDOUT_MAX_X + 1):
        members = summary.x >= k if k == HOLDOUT_MAX_X else summary.x == k
        if members.any():
            rows.append(
                {
                    "x": f"{k}+" if k == HOLDOUT_MAX_X else str(k),
                    "members": int(members.sum()),
                    "actual": round(float(actual[members].mean()), 4),
                    "predicted": round(float(predicted[members].mean()), 4),
                }
            )
    return {
        "days": days,
        "members": len(summary),
        "actual": int(actual.sum()),
        "predicted": round(float(np.nansum(predicted)), 1),
        "by_frequency": rows,
    }


# --- helpers -------------------------------------------------------------------------------


def _aware(moment: datetime) -> datetime:
    return timezone.make_aware(moment) if timezone.is_naive(moment) else moment


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, dt_time.min), timezone.get_default_timezone())


def _calibration_end(value: date | datetime | None, *, now: datetime) -> datetime:
    if value is None:
        return now
    if isinstance(value, datetime):
        return _aware(value)
    return _day_start(value)


def _lock(cursor) -> None:
    """One scoring at a time on PostgreSQL, and the work memory of the summary's sorts."""
    if connection.vendor == "postgresql":
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK_KEY])
    _set_work_mem(cursor)


def _set_work_mem(cursor) -> None:
    if connection.vendor == "postgresql":
        cursor.execute(f"SET LOCAL work_mem = '{POSTGRES_WORK_MEM}'")
