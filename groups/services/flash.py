"""Flash-sale groups: members are told before the end, and the group is dissolved on time.

Both steps are claimed per group by a conditional UPDATE (``notice_sent_at`` still empty;
status not yet ``dissolved``), so the beat job may run late, twice, or twice at once: each
member is told once and each group dissolved once. Nobody joins a group past its
``expires_at`` even before the job has run (groups.services.seats).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from groups import selectors
from groups.choices import DissolveReason, GroupStatus
from groups.conf import dissolve_notice_hours
from groups.events import GroupEventKind
from groups.models import CommunityGroup
from groups.services.groups import group_dissolve
from members.events import events_record_bulk

# Groups handled per run; a backlog is worked off by the next runs (every minute).
BATCH = 200


def _expiring():
    # Matches the partial index group_expiring.
    return CommunityGroup.objects.filter(expires_at__isnull=False).exclude(
        status=GroupStatus.DISSOLVED
    )


def flash_groups_notify_due(*, now: datetime | None = None) -> int:
    """Write ``group.dissolving`` for every member of the groups that end within
    SCRM_GROUP_DISSOLVE_NOTICE_HOURS; returns the groups told."""
    now = now or timezone.now()
    hours = dissolve_notice_hours()
    if not hours:
        return 0
    ids = list(
        _expiring()
        .filter(expires_at__gt=now, expires_at__lte=now + timedelta(hours=hours))
        .filter(notice_sent_at__isnull=True)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    told = 0
    for group_id in ids:
        with transaction.atomic():
            claimed = CommunityGroup.objects.filter(
                pk=group_id, notice_sent_at__isnull=True
            ).update(notice_sent_at=now)
            if not claimed:
                continue  # another run told them
            group = CommunityGroup.objects.get(pk=group_id)
            events_record_bulk(
                member_ids=selectors.member_ids_in_group(group_id),
                kind=GroupEventKind.DISSOLVING,
                data={
                    "group_id": group_id,
                    "code_id": group.join_code_id,
                    "expires_at": group.expires_at.isoformat(),
                },
                occurred_at=now,
            )
            told += 1
    return told


def flash_groups_dissolve_due(*, now: datetime | None = None) -> int:
    """Dissolve the groups whose end has come; returns how many this run dissolved."""
    now = now or timezone.now()
    ids = list(
        _expiring()
        .filter(expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    return sum(
        1
        for group_id in ids
        if group_dissolve(group=group_id, reason=DissolveReason.EXPIRED, now=now)
    )
