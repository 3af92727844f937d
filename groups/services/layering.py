"""Layering (分层): an ordered list of rules (segment → group pool) placing members in groups.

Rules are read in order and the first matching rule wins. Counting first is the dry run
(``layering_preview``: how many each rule matches, how many are already in its pool, how many
would be placed, how many seats there are and how many groups would be opened). Applying it
(``layering_run_execute``, in a worker) fills the pool's groups in order, one group at a time:
one SELECT of the next candidates walked by member id (no OFFSET), one bulk INSERT of their
memberships, one UPDATE of the group's counter and their ``group.joined`` events, in one
transaction per group. Running it again places nobody twice.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import selectors
from groups.choices import GroupStatus, JoinMethod, LayeringRunStatus
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership, JoinCode, LayeringRule, LayeringRun
from groups.services.seats import group_open_from_template, seats_take
from members.events import events_record_bulk
from members.models import Member
from members.segments import TreeError, segment_members

logger = logging.getLogger(__name__)

# A run still "running" after this long belonged to a worker that died: it may be claimed again.
STALE_RUN = timedelta(hours=1)


def active_rules() -> list[LayeringRule]:
    return list(
        LayeringRule.objects.filter(is_active=True)
        .select_related("segment", "join_code")
        .order_by("position", "pk")
    )


def _audiences(rules: list[LayeringRule]) -> list[tuple[LayeringRule, QuerySet | None, str]]:
    """Each rule's members: its segment's, minus every earlier rule's (first match wins).
    A rule whose segment no longer compiles comes back with None and the reason."""
    out = []
    earlier: list[QuerySet] = []
    for rule in rules:
        try:
            matched = segment_members(rule.segment.tree)
        except TreeError as exc:
            reasons = "; ".join(f"{e['path']}: {e['message']}" for e in exc.errors)
            out.append((rule, None, reasons))
            continue
        members = matched
        for previous in earlier:
            members = members.exclude(pk__in=previous.values("pk"))
        out.append((rule, members, ""))
        earlier.append(matched)
    return out


def _rule_row(rule: LayeringRule) -> dict:
    return {
        "rule_id": rule.pk,
        "position": rule.position,
        "name": rule.name,
        "segment": rule.segment.name,
        "join_code_id": rule.join_code_id,
        "code": rule.join_code.code,
    }


def _pool_state(code: JoinCode, *, now: datetime) -> dict:
    seats = sum(
        group.capacity - group.member_count
        for group in selectors.pool_with_room(code, now=now).only("capacity", "member_count")
    )
    live = CommunityGroup.objects.filter(join_code=code).exclude(status=GroupStatus.DISSOLVED)
    return {"seats": seats, "live_groups": live.count()}


def _can_open(code: JoinCode, *, now: datetime) -> bool:
    if not code.is_active or not code.auto_open:
        return False
    return code.group_expires_at is None or code.group_expires_at > now


def layering_counts(*, now: datetime | None = None) -> list[dict]:
    """The dry run: per active rule, in order, what applying the rules now would do. Rules
    sharing a pool share its seats, in rule order."""
    now = now or timezone.now()
    pools: dict[int, dict] = {}
    rows = []
    for rule, members, error in _audiences(active_rules()):
        row = _rule_row(rule)
        if members is None:
            rows.append({**row, "error": error})
            continue
        code = rule.join_code
        pool = pools.setdefault(code.pk, _pool_state(code, now=now))
        matched = members.count()
        already = members.filter(pk__in=selectors.members_in_pool(code).values("pk")).count()
        to_place = matched - already
        seats_before = pool["seats"]
        seated = min(to_place, seats_before)
        pool["seats"] -= seated
        remaining = to_place - seated
        new_groups = 0
        if remaining and _can_open(code, now=now):
            new_groups = -(-remaining // code.group_capacity)
            if code.max_groups:
                new_groups = min(new_groups, max(code.max_groups - pool["live_groups"], 0))
            pool["live_groups"] += new_groups
            opened_seats = new_groups * code.group_capacity
            placed_new = min(remaining, opened_seats)
            pool["seats"] += opened_seats - placed_new
            remaining -= placed_new
        rows.append(
            {
                **row,
                "matched": matched,
                "already_in_pool": already,
                "to_place": to_place,
                "seats_available": seats_before,
                "new_groups": new_groups,
                "unplaced": remaining,
                "error": "",
            }
        )
    return rows


@transaction.atomic
def layering_preview(*, actor=None) -> LayeringRun:
    """Count what the active rules would do (nothing is placed) and keep it as a run that an
    operator may apply."""
    if not LayeringRule.objects.filter(is_active=True).exists():
        raise ValidationError(_("There is no active layering rule."), code="no_rules")
    return LayeringRun.objects.create(
        preview=layering_counts(), created_by=actor if getattr(actor, "pk", None) else None
    )


@transaction.atomic
def layering_apply(*, run: LayeringRun) -> LayeringRun:
    """Apply a dry run: the run waits for a worker (enqueued after commit). Applying the same
    run twice is refused; a new dry run may be applied."""
    from groups.tasks import layering_run as task

    run = LayeringRun.objects.select_for_update().get(pk=run.pk)
    if run.status != LayeringRunStatus.PREVIEWED:
        raise ValidationError(
            _("This run was applied already (%(status)s).") % {"status": run.get_status_display()},
            code="applied",
        )
    broken = [row["name"] for row in run.preview if row.get("error")]
    if broken:
        raise ValidationError(
            _("Fix the segments of these rules first: %(names)s.") % {"names": ", ".join(broken)},
            code="broken_rules",
        )
    run.status, run.applied_at = LayeringRunStatus.PENDING, timezone.now()
    run.save(update_fields=["status", "applied_at"])
    transaction.on_commit(lambda: task.delay(run.pk))
    return run


def _claim(run_id: int, *, now: datetime) -> bool:
    claimable = Q(status=LayeringRunStatus.PENDING) | Q(
        status=LayeringRunStatus.RUNNING, started_at__lt=now - STALE_RUN
    )
    return bool(
        LayeringRun.objects.filter(claimable, pk=run_id).update(
            status=LayeringRunStatus.RUNNING, started_at=now
        )
    )


def layering_run_execute(*, run_id: int, now: datetime | None = None) -> LayeringRun | None:
    """Place the members of the active rules (a worker runs this for an applied run). None if
    another worker has the run."""
    now = now or timezone.now()
    if not _claim(run_id, now=now):
        return None
    try:
        result = layering_place(now=now)
    except Exception as exc:
        logger.exception("layering run %s failed", run_id)
        LayeringRun.objects.filter(pk=run_id).update(
            status=LayeringRunStatus.FAILED, error=str(exc)[:2000], finished_at=timezone.now()
        )
        raise
    LayeringRun.objects.filter(pk=run_id).update(
        status=LayeringRunStatus.DONE, result=result, finished_at=timezone.now()
    )
    return LayeringRun.objects.get(pk=run_id)


def layering_place(*, now: datetime | None = None) -> list[dict]:
    """Place the members of every active rule in its pool; returns per rule how many were
    placed, how many groups were opened and how many found no seat."""
    now = now or timezone.now()
    rows = []
    for rule, members, error in _audiences(active_rules()):
        if members is None:
            raise ValidationError(
                _("The segment of rule “%(name)s” is broken: %(error)s")
                % {"name": rule.name, "error": error}
            )
        rows.append({**_rule_row(rule), **_place(rule, members, now=now)})
    return rows


def _place(rule: LayeringRule, members: QuerySet[Member], *, now: datetime) -> dict:
    code = rule.join_code
    placed = opened = idle = 0
    last_id = 0
    while True:
        candidates = members.filter(pk__gt=last_id).exclude(
            pk__in=selectors.members_in_pool(code).values("pk")
        )
        group = selectors.pool_with_room(code, now=now).first()
        if group is not None:
            ids = _fill(group.pk, rule, candidates, now=now)
        else:
            ids, new = _open_and_fill(code, rule, candidates, now=now)
            opened += new
        if ids:
            placed += len(ids)
            last_id, idle = ids[-1], 0
            continue
        # Nothing placed: everyone is in, or no seat is left and none may be opened (a few
        # tries, in case a concurrent join took the seats this pass saw).
        idle += 1
        if ids is None or idle >= 3 or not candidates.exists():
            return {
                "placed": placed,
                "groups_opened": opened,
                "unplaced": candidates.count(),
            }


@transaction.atomic
def _fill(group_id: int, rule, candidates: QuerySet[Member], *, now: datetime) -> list[int]:
    group = (
        CommunityGroup.objects.select_for_update(no_key=True)
        .filter(pk=group_id, status=GroupStatus.OPEN)
        .first()
    )
    if group is None or (group.expires_at is not None and group.expires_at <= now):
        return []
    return _seat_many(group, rule, candidates, now=now)


@transaction.atomic
def _open_and_fill(code: JoinCode, rule, candidates, *, now: datetime):
    """Open the pool's next group (under the code's lock) and fill it. Returns (ids, 1), or
    (None, 0) when no group may be opened, ([], 0) when a concurrent writer made room."""
    locked = JoinCode.objects.select_for_update(no_key=True).get(pk=code.pk)
    if selectors.pool_with_room(locked, now=now).exists():
        return [], 0
    if not candidates.exists():
        return [], 0
    if not locked.is_active:
        return None, 0
    try:
        group = group_open_from_template(code=locked, now=now)
    except ValidationError:
        return None, 0
    return _seat_many(group, rule, candidates, now=now), 1


def _seat_many(group: CommunityGroup, rule, candidates, *, now: datetime) -> list[int]:
    room = group.capacity - group.member_count
    ids = list(candidates.order_by("pk").values_list("pk", flat=True)[:room])
    if not ids or not seats_take(group_id=group.pk, n=len(ids), now=now):
        return []
    GroupMembership.objects.bulk_create(
        [
            GroupMembership(
                group=group,
                member_id=pk,
                how=JoinMethod.RULE,
                code=rule.join_code,
                rule=rule,
                joined_at=now,
            )
            for pk in ids
        ]
    )
    events_record_bulk(
        member_ids=ids,
        kind=GroupEventKind.JOINED,
        data={
            "group_id": group.pk,
            "code_id": rule.join_code_id,
            "how": JoinMethod.RULE.value,
            "invited_by": None,
            "rule_id": rule.pk,
        },
        occurred_at=now,
    )
    return ids


def layering_runs_stale(*, now: datetime | None = None) -> list[int]:
    """Applied runs nobody is working on: pending for over five minutes (a lost message), or
    running for over an hour (a dead worker). Their claim makes a second delivery harmless."""
    now = now or timezone.now()
    return list(
        LayeringRun.objects.filter(
            Q(status=LayeringRunStatus.PENDING, applied_at__lt=now - timedelta(minutes=5))
            | Q(status=LayeringRunStatus.RUNNING, started_at__lt=now - STALE_RUN)
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )
