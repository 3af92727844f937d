"""Starting due runs and fanning them out: the audience becomes touchpoint rows set-based.

A run walks the audience by member id in chunks; each chunk is one INSERT … SELECT, and the
unique key makes a fan-out interrupted anywhere and started again create each touchpoint once
(a chunk that meets rows already there goes again with ON CONFLICT (key) DO NOTHING, as the
chunks of repurchase runs, whose keys span runs, always do). Holdout and A/B arms are
assigned in the same statement from a hash of the member id
(campaigns.services.schedule.bucket_sql): reproducible, and no Python per member.
"""

from __future__ import annotations

import calendar
import logging
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, Q
from django.db.models.functions import Greatest
from django.utils import timezone

from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignStatus,
    Run,
    RunStatus,
    SkipReason,
    Step,
    Touchpoint,
    TouchpointState,
    Variant,
)
from campaigns.services.claims import db_datetime
from campaigns.services.schedule import bucket_sql, cron_next, cron_parse
from members.choices import MemberStatus
from members.models import Member
from members.segments import segment_members
from members.selectors import members_due_for_repurchase

logger = logging.getLogger(__name__)

# Variant buckets use another salt than holdout buckets, so the two splits are independent.
VARIANT_SALT_OFFSET = 1_000_000
# How far back daily runs missed during an outage are still made up.
DAILY_CATCH_UP = timedelta(days=7)
# Campaigns whose runs come from a calendar. Repurchase and birthday campaigns run daily at
# their time of day, each run taking the members whose day it is.
CALENDAR_KINDS = (
    CampaignKind.ONE_OFF,
    CampaignKind.RECURRING,
    CampaignKind.REPURCHASE,
    CampaignKind.BIRTHDAY,
)


def runs_start_due(*, now: datetime | None = None) -> list[Run]:
    """Create the run of every scheduled campaign whose time has come (one per slot: a second
    scheduler or a retried tick finds it made) and move recurring ones to their next slot."""
    now = now or timezone.now()
    started = []
    due = Campaign.objects.filter(
        status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING],
        kind__in=CALENDAR_KINDS,
        next_run_at__lte=now,
    )
    for campaign in due:
        with transaction.atomic():
            locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
            if locked.next_run_at is None or locked.next_run_at > now:
                continue  # another scheduler got here first
            slot = locked.next_run_at
            try:
                with transaction.atomic():
                    run = Run.objects.create(campaign=locked, slot=slot)
            except IntegrityError:
                run = Run.objects.get(campaign=locked, slot=slot)
            if locked.kind != CampaignKind.ONE_OFF:
                schedule = cron_parse(
                    minute=locked.cron_minute,
                    hour=locked.cron_hour,
                    day_of_month=locked.cron_day_of_month,
                    month=locked.cron_month,
                    day_of_week=locked.cron_day_of_week,
                )
                # Recurring campaigns skip slots missed while nothing ran (a member-day
                # message a week late is worse than none); daily birthday and repurchase
                # runs catch up on the last few days one slot per tick, so nobody's day is
                # lost to an outage.
                after = (
                    max(slot, now - DAILY_CATCH_UP)
                    if locked.kind in (CampaignKind.BIRTHDAY, CampaignKind.REPURCHASE)
                    else max(slot, now)
                )
                upcoming = cron_next(schedule, after)
                locked.next_run_at = (
                    upcoming if not locked.ends_at or upcoming < locked.ends_at else None
                )
            else:
                locked.next_run_at = None
            locked.status = CampaignStatus.RUNNING
            locked.save(update_fields=["next_run_at", "status", "updated_at"])
            started.append(run)
    return started


def _audience(campaign: Campaign, now: datetime):
    """The members a run at ``now`` reaches: the segment (or every active member), narrowed
    to those whose birthday or repurchase day it is for those kinds."""
    members = (
        segment_members(campaign.segment.tree, now=now)
        if campaign.segment_id
        else Member.objects.filter(status=MemberStatus.ACTIVE)
    )
    day = timezone.localtime(now).date()
    if campaign.kind == CampaignKind.BIRTHDAY:
        members = members.filter(birthday_filter(day))
    elif campaign.kind == CampaignKind.REPURCHASE:
        due = members_due_for_repurchase(
            on_date=day,
            min_p_alive=campaign.min_p_alive,
            catch_up_days=settings.SCRM_REPURCHASE_CATCH_UP_DAYS,
        )
        members = members.filter(pk__in=due.values("pk"))
    return members.order_by().values("pk")


def birthday_filter(day: date) -> Q:
    """Members whose birthday is ``day``; those born on 29 February celebrate on the 28th
    in years without one."""
    condition = Q(birthday__month=day.month, birthday__day=day.day)
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        condition |= Q(birthday__month=2, birthday__day=29)
    return condition


def _variant_case(campaign: Campaign, variants: list[Variant]) -> str:
    bucket = bucket_sql("m.id", campaign.pk + VARIANT_SALT_OFFSET, 100)
    cases, upper = [], 0
    for variant in variants[:-1]:
        upper += variant.weight
        cases.append(f"WHEN {bucket} < {upper} THEN {variant.pk}")
    if not cases:
        return str(variants[-1].pk)
    return f"CASE {' '.join(cases)} ELSE {variants[-1].pk} END"


def _holdout_sql(campaign: Campaign) -> str:
    """SQL true for members kept out: the brand-wide holdout, then the campaign's own."""
    parts = []
    global_percent = settings.SCRM_GLOBAL_HOLDOUT_PERCENT
    if global_percent:
        parts.append(f"{bucket_sql('m.id', 0, 10000)} < {int(global_percent * 100)}")
    if campaign.holdout_percent:
        parts.append(
            f"{bucket_sql('m.id', campaign.pk, 10000)} < {int(campaign.holdout_percent) * 100}"
        )
    return " OR ".join(parts) if parts else "1 = 0"


def run_fan_out(
    *,
    run: Run,
    chunk: int = 20_000,
    budget_seconds: float = 50.0,
    on_planned: Callable[[], None] | None = None,
) -> bool:
    """Insert the run's touchpoints from its cursor on, chunk by chunk, until the audience is
    exhausted (returns True) or the time budget is spent (False: call again to resume).

    ``on_planned`` is called once, after the first chunk that planned touchpoints is committed
    (the task starts senders there, so sending overlaps the rest of the fan-out)."""
    run = Run.objects.select_related("campaign__segment").get(pk=run.pk)
    if run.status != RunStatus.FANNING_OUT:
        return True
    campaign = run.campaign
    if campaign.status == CampaignStatus.CANCELLED:
        Run.objects.filter(pk=run.pk).update(status=RunStatus.DONE)
        return True
    step = Step.objects.filter(campaign=campaign).order_by("position").first()
    variants = list(Variant.objects.filter(campaign=campaign).order_by("code"))
    audience = _audience(campaign, run.slot)
    table = Touchpoint._meta.db_table
    member_table = Member._meta.db_table
    key_prefix, key_suffix = f"r{run.pk}:s{step.pk}:m", "''"
    keys_outlive_runs = campaign.kind == CampaignKind.REPURCHASE
    if keys_outlive_runs:
        # One reminder per purchase cycle, whichever daily run finds the member due: the
        # cycle is named by their order count (it grows with their next order).
        key_prefix, key_suffix = f"p{campaign.pk}:s{step.pk}:m", "':n' || m.order_count"
    started = time.monotonic()
    while time.monotonic() - started < budget_seconds:
        with transaction.atomic():
            with connection.cursor() as cursor:
                # The chunk's upper member id first, so the insert is a plain range (and the
                # audience query is restricted to it: never the whole audience per chunk).
                upper = (
                    audience.filter(pk__gt=run.cursor)
                    .order_by("pk")
                    .values_list("pk", flat=True)[chunk - 1 : chunk]
                    .first()
                )
                if upper is None:
                    upper = audience.filter(pk__gt=run.cursor).aggregate(top=Max("pk"))["top"]
                if upper is None:
                    Run.objects.filter(pk=run.pk).update(
                        status=RunStatus.SENDING, fanned_out_at=timezone.now()
                    )
                    _analyze(table)
                    return True
                now = timezone.now()
                holdout = _holdout_sql(campaign)
                chunk_sql, chunk_params = audience.filter(
                    pk__gt=run.cursor, pk__lte=upper
                ).query.sql_with_params()
                insert = (
                    f'INSERT INTO {table} ("key", campaign_id, run_id, step_id, variant_id,'  # noqa: S608
                    " member_id, channel, state, skip_reason, send_after, attempts, provider_id,"
                    " error, revenue, margin, created_at) "
                    f"SELECT %s || m.id || {key_suffix}, %s, %s, %s,"
                    f" {_variant_case(campaign, variants)}, m.id, %s,"
                    f" CASE WHEN {holdout} THEN %s ELSE %s END,"
                    f" CASE WHEN {holdout} THEN %s ELSE '' END,"
                    " %s, 0, '', '', 0, 0, %s "
                    # The range on m itself lets the planner walk the chunk by primary key
                    # rather than hash the subquery against every member.
                    f"FROM {member_table} m WHERE m.id > %s AND m.id <= %s"
                    f" AND m.id IN ({chunk_sql})"
                )
                params = (
                    key_prefix,
                    campaign.pk,
                    run.pk,
                    step.pk,
                    campaign.channel,
                    TouchpointState.SKIPPED,
                    TouchpointState.PENDING,
                    SkipReason.HOLDOUT,
                    db_datetime(run.slot + timedelta(days=step.delay_days)),
                    db_datetime(now),
                    run.cursor,
                    upper,
                    *chunk_params,
                )
                skip_existing = keys_outlive_runs
                if not skip_existing:
                    # A plain INSERT first: ON CONFLICT's speculative insertion costs about a
                    # fifth of a fan-out, and a run's own keys meet existing rows only when a
                    # fan-out is started again behind its cursor or runs twice at once. Then
                    # the unique index refuses the chunk, which goes again skipping them.
                    try:
                        with transaction.atomic():
                            cursor.execute(insert, params)
                    except IntegrityError:
                        skip_existing = True
                if skip_existing:
                    cursor.execute(f'{insert} ON CONFLICT ("key") DO NOTHING', params)
                inserted = cursor.rowcount
            first_chunk = run.planned == 0
            run.cursor = upper
            run.planned += max(inserted, 0)
            # Relative to the stored figures: a second fan-out of the run (a repeated message)
            # never moves the cursor back or loses the other's count.
            Run.objects.filter(pk=run.pk).update(
                cursor=Greatest(F("cursor"), upper), planned=F("planned") + max(inserted, 0)
            )
        if first_chunk and inserted > 0:
            # Committed: senders may start while the statistics are refreshed.
            if on_planned is not None:
                on_planned()
                on_planned = None
            _analyze(table)
    logger.info("run %s: fan-out paused at member %s (time budget)", run.pk, run.cursor)
    return False


def _analyze(table: str) -> None:
    """Refresh the planner's statistics of the outbox after a fan-out's first chunk and at its
    end. A fan-out can add a million rows in seconds, long before autovacuum looks; with the
    old figures PostgreSQL planned the dispatcher's per-batch lookups as table scans (a
    sampled ANALYZE takes a fraction of a second)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")


def runs_finish(*, now: datetime | None = None) -> int:
    """Mark runs whose touchpoints are all settled as done, and one-off campaigns whose run is
    done as completed."""
    now = now or timezone.now()
    finished = 0
    for run in Run.objects.filter(status=RunStatus.SENDING).select_related("campaign"):
        unsettled = Touchpoint.objects.filter(
            run=run,
            state__in=[TouchpointState.PENDING, TouchpointState.DEFERRED, TouchpointState.SENDING],
        ).exists()
        if unsettled:
            continue
        Run.objects.filter(pk=run.pk).update(status=RunStatus.DONE)
        finished += 1
        if run.campaign.kind == CampaignKind.ONE_OFF:
            Campaign.objects.filter(pk=run.campaign_id, status=CampaignStatus.RUNNING).update(
                status=CampaignStatus.COMPLETED, updated_at=now
            )
    return finished
