"""Creating, changing and dissolving community groups.

A dissolution is claimed by one conditional UPDATE (status not yet ``dissolved``), so staff
and the flash job, or the job running twice at once, dissolve a group exactly once: only the
transaction whose UPDATE changed the row closes the memberships, writes the sales report and
the ``group.dissolved`` events. Groups are never deleted: their history and stats stay.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from groups import selectors
from groups.choices import DissolveReason, GroupPurpose, GroupStatus, LeaveReason
from groups.conf import MAX_CAPACITY, default_capacity
from groups.events import GroupEventKind
from groups.models import CommunityGroup, GroupMembership, JoinCode
from members.events import events_record_bulk
from members.models import Guide, Store

EDITABLE_FIELDS = (
    "name",
    "purpose",
    "store",
    "owner",
    "capacity",
    "wecom_chat_id",
    "invite_link",
    "expires_at",
    "join_code",
    "position",
)


def group_values_clean(values: dict, *, instance: CommunityGroup | None = None) -> dict:
    """Check a new group's values or a change to ``instance`` (without writing); raises
    ValidationError by field. The admin's form calls it before saving through the services."""
    errors: dict[str, list[str]] = {}

    def current(field):
        if field in values:
            return values[field]
        return getattr(instance, field) if instance is not None else None

    if "name" in values:
        values["name"] = str(values["name"] or "").strip()
        if not values["name"]:
            errors["name"] = [_("A name is required.")]
    for field in ("wecom_chat_id", "invite_link"):
        if field in values:
            values[field] = str(values[field] or "").strip()
    if "capacity" in values:
        capacity = values["capacity"]
        count = instance.member_count if instance is not None else 0
        if capacity is None or not 1 <= int(capacity) <= MAX_CAPACITY:
            errors["capacity"] = [_("From 1 to %(max)d seats.") % {"max": MAX_CAPACITY}]
        elif int(capacity) < count:
            errors["capacity"] = [
                _("The group has %(n)d members: the capacity cannot be lower.") % {"n": count}
            ]
    owner: Guide | None = current("owner")
    store: Store | None = current("store")
    code: JoinCode | None = current("join_code")
    if store is None and "store" not in values and instance is None:
        # A new group takes its store from its owner or its code.
        store = (owner.store if owner else None) or (code.store if code else None)
        values["store"] = store
    if owner is not None and owner.store_id != getattr(store, "pk", None):
        errors["owner"] = [_("The owner must be a shop guide of the group's store.")]
    if code is not None and code.store_id and code.store_id != getattr(store, "pk", None):
        errors["join_code"] = [_("The join code belongs to another store.")]
    purpose = current("purpose") or GroupPurpose.SERVICE
    expires_at = current("expires_at")
    if purpose == GroupPurpose.FLASH_SALE and expires_at is None:
        errors["expires_at"] = [_("A flash-sale group needs an end.")]
    elif "expires_at" in values and expires_at is not None and expires_at <= timezone.now():
        errors["expires_at"] = [_("The end must be in the future.")]
    chat_id = current("wecom_chat_id")
    if chat_id and "wecom_chat_id" in values:
        taken = CommunityGroup.objects.filter(wecom_chat_id=chat_id)
        if instance is not None:
            taken = taken.exclude(pk=instance.pk)
        if taken.exists():
            errors["wecom_chat_id"] = [_("Another group has this WeCom chat id.")]
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def group_create(
    *,
    name: str,
    purpose: str = GroupPurpose.SERVICE,
    store: Store | None = None,
    owner: Guide | None = None,
    capacity: int | None = None,
    wecom_chat_id: str = "",
    invite_link: str = "",
    expires_at: datetime | None = None,
    join_code: JoinCode | None = None,
    position: int | None = None,
) -> CommunityGroup:
    """A new open group. Its store defaults to its owner's (or its code's); the owner must be
    a guide of that store; a flash-sale group needs an end in the future. A group added to a
    code's pool goes last in it unless ``position`` says otherwise."""
    values = {
        "name": name,
        "purpose": purpose,
        "owner": owner,
        "capacity": capacity if capacity is not None else default_capacity(),
        "wecom_chat_id": wecom_chat_id,
        "invite_link": invite_link,
        "expires_at": expires_at,
        "join_code": join_code,
    }
    if store is not None:
        values["store"] = store
    values = group_values_clean(values)
    if position is None:
        top = (
            CommunityGroup.objects.filter(join_code=join_code).aggregate(top=Max("position"))["top"]
            if join_code is not None
            else None
        )
        position = (top or 0) + 1 if join_code is not None else 0
    return CommunityGroup.objects.create(position=position, **values)


@transaction.atomic
def group_update(*, group: CommunityGroup, **values) -> CommunityGroup:
    """Change a live group's settings. A capacity below the current member count is refused;
    raising it opens a full group again, lowering it to the count makes it full."""
    unknown = sorted(set(values) - set(EDITABLE_FIELDS))
    if unknown:
        raise ValidationError({field: [_("This field cannot be changed.")] for field in unknown})
    group = CommunityGroup.objects.select_for_update().get(pk=group.pk)
    if group.status == GroupStatus.DISSOLVED:
        raise ValidationError(_("A dissolved group cannot be changed."), code="dissolved")
    values = group_values_clean(dict(values), instance=group)
    for field, value in values.items():
        setattr(group, field, value)
    fields = [*values, "updated_at"]
    if "capacity" in values:
        group.status = (
            GroupStatus.FULL if group.member_count >= group.capacity else GroupStatus.OPEN
        )
        fields.append("status")
    group.save(update_fields=fields)
    return group


@transaction.atomic
def group_dissolve(
    *,
    group: CommunityGroup | int,
    reason: str = DissolveReason.STAFF,
    now: datetime | None = None,
) -> bool:
    """Dissolve the group once: True for the call that did it, False if it already was.

    Every current member's stay ends (``dissolved``) and gets a ``group.dissolved`` event (set
    based, bounded by the group's capacity); the sales its members made while in it are
    written on the group as its report. The group keeps the size it had at the end."""
    now = now or timezone.now()
    group_id = group if isinstance(group, int) else group.pk
    expires_at = (
        CommunityGroup.objects.filter(pk=group_id).values_list("expires_at", flat=True).first()
    )
    # An expired group's life ended at its expiry, however late the job runs.
    end = now
    if reason == DissolveReason.EXPIRED and expires_at is not None and expires_at < now:
        end = expires_at
    claimed = (
        CommunityGroup.objects.filter(pk=group_id)
        .exclude(status=GroupStatus.DISSOLVED)
        .update(status=GroupStatus.DISSOLVED, dissolved_at=end, dissolve_reason=reason)
    )
    if not claimed:
        return False
    group = CommunityGroup.objects.get(pk=group_id)
    member_ids = selectors.member_ids_in_group(group_id)
    sales = selectors.group_sales(group_id, until=end)
    CommunityGroup.objects.filter(pk=group_id).update(
        sales_orders=sales["orders"],
        sales_buyers=sales["buyers"],
        sales_revenue=sales["revenue"],
        updated_at=now,
    )
    GroupMembership.objects.filter(group_id=group_id, left_at__isnull=True).update(
        left_at=Case(When(joined_at__gt=end, then=F("joined_at")), default=Value(end)),
        left_reason=LeaveReason.DISSOLVED,
    )
    events_record_bulk(
        member_ids=member_ids,
        kind=GroupEventKind.DISSOLVED,
        data={
            "group_id": group_id,
            "code_id": group.join_code_id,
            "reason": reason,
            "orders": sales["orders"],
            "revenue": str(sales["revenue"]),
        },
        occurred_at=now,
    )
    return True
