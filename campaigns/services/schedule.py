"""Calendars and guardrail arithmetic: next occurrence of a cron-like schedule, quiet hours,
holdout buckets. Pure functions over settings; everything in the brand's time zone."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from celery.schedules import crontab
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _


class ScheduleError(ValueError):
    """A calendar that cannot be parsed or never fires."""


def cron_parse(*, minute: str, hour: str, day_of_month: str, month: str, day_of_week: str):
    """A parsed calendar (Celery's crontab syntax: "*", "0,30", "*/15", "1-5", "mon-fri")."""
    try:
        return crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError) as exc:
        raise ScheduleError(_("Invalid schedule: %(error)s") % {"error": exc}) from exc


def cron_next(schedule, after: datetime) -> datetime:
    """The first time strictly after ``after`` that ``schedule`` fires, in the brand's time zone
    (ScheduleError when it never fires within four years, e.g. 30 February)."""
    local = timezone.localtime(after)
    tz = local.tzinfo
    minutes = sorted(schedule.minute)
    hours = sorted(schedule.hour)
    day = local.date()
    for _i in range(4 * 366):
        if (
            day.month in schedule.month_of_year
            and day.day in schedule.day_of_month
            # crontab counts Sunday as 0; Python's weekday() counts Monday as 0.
            and (day.weekday() + 1) % 7 in schedule.day_of_week
        ):
            for hour in hours:
                for minute in minutes:
                    candidate = timezone.make_aware(datetime.combine(day, time(hour, minute)), tz)
                    if candidate > after:
                        return candidate
        day += timedelta(days=1)
    raise ScheduleError(_("This schedule never fires."))


def quiet_hours() -> tuple[time, time] | None:
    """(start, end) local times when marketing waits, or None when switched off."""
    window = settings.SCRM_QUIET_HOURS
    if not window:
        return None
    start, end = (time.fromisoformat(part) for part in window)
    return start, end


def quiet_until(now: datetime) -> datetime | None:
    """When the quiet window containing ``now`` ends, or None if ``now`` is outside it."""
    window = quiet_hours()
    if window is None:
        return None
    start, end = window
    local = timezone.localtime(now)
    clock = local.time()
    tz = local.tzinfo
    if start <= end:
        inside = start <= clock < end
        end_day: date = local.date()
    else:  # spans midnight, e.g. 21:00-09:00
        inside = clock >= start or clock < end
        end_day = local.date() + timedelta(days=1) if clock >= start else local.date()
    if not inside:
        return None
    return timezone.make_aware(datetime.combine(end_day, end), tz)


# Holdout and variant buckets come from a multiplicative hash of the member id (Knuth's
# constant) salted per campaign: reproducible, spread evenly, and computable in SQL on SQLite
# and PostgreSQL alike, so fan-outs assign them set-based.
HASH_MULTIPLIER = 2654435761
HASH_MODULUS = 1000003


def bucket_sql(member_column: str, salt: int, buckets: int) -> str:
    """SQL for the member's bucket in 0..buckets-1 under ``salt``, for a statement executed
    with parameters (the modulo sign is doubled, as Django's cursors expect then)."""
    return (
        f"((({member_column} * {HASH_MULTIPLIER} + {int(salt) * 7919}) %% {HASH_MODULUS})"
        f" %% {int(buckets)})"
    )


def bucket(member_id: int, salt: int, buckets: int) -> int:
    """The same bucket as bucket_sql, in Python (tests and previews)."""
    return ((member_id * HASH_MULTIPLIER + salt * 7919) % HASH_MODULUS) % buckets
