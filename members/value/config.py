"""The SCRM_VALUE_* settings (docs/value.md), read and checked in one place."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ValueSettings:
    # The fit uses members whose first purchase lies within this many days before the
    # calibration end (their orders up to it); scoring uses every member's whole history.
    calibration_days: int = 730
    # At most this many of those members, a fixed random sample, are fitted.
    fit_max_members: int = 100_000
    # Fewer repeat buyers than this: the average-interval fallback instead of BG/NBD; fewer
    # repeat buyers with a positive spend: the average-spend fallback instead of Gamma-Gamma.
    min_repeat_buyers: int = 100
    # CLV: the horizon in days, and the yearly discount rate.
    clv_horizon_days: int = 365
    discount_rate: float = 0.10
    # The gap between purchases assumed when nothing better is known: by the fallback when no
    # member ever bought twice, and by the repurchase selector without a prediction.
    default_interval_days: int = 90


def value_settings() -> ValueSettings:
    """The settings over the defaults; ImproperlyConfigured names the bad one."""
    defaults = ValueSettings()
    values = {
        "calibration_days": getattr(settings, "SCRM_VALUE_CALIBRATION_DAYS", None),
        "fit_max_members": getattr(settings, "SCRM_VALUE_FIT_MAX_MEMBERS", None),
        "min_repeat_buyers": getattr(settings, "SCRM_VALUE_MIN_REPEAT_BUYERS", None),
        "clv_horizon_days": getattr(settings, "SCRM_VALUE_CLV_HORIZON_DAYS", None),
        "discount_rate": getattr(settings, "SCRM_VALUE_DISCOUNT_RATE", None),
        "default_interval_days": getattr(settings, "SCRM_VALUE_DEFAULT_INTERVAL_DAYS", None),
    }
    values = {k: getattr(defaults, k) if v is None else v for k, v in values.items()}
    for key in ("calibration_days", "fit_max_members", "clv_horizon_days", "default_interval_days"):
        value = values[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ImproperlyConfigured(f"SCRM_VALUE_{key.upper()} must be a whole number >= 1")
    minimum = values["min_repeat_buyers"]
    if isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 2:
        raise ImproperlyConfigured("SCRM_VALUE_MIN_REPEAT_BUYERS must be a whole number >= 2")
    rate = values["discount_rate"]
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate < 10:
        raise ImproperlyConfigured("SCRM_VALUE_DISCOUNT_RATE must be a number from 0 to 10")
    values["discount_rate"] = float(rate)
    return ValueSettings(**values)
