"""Members' privacy rights (PIPL): erasure of their personal data, and a copy of it.

What an erasure keeps, and why (docs/decisions.md, "Erasure: an empty member row, detached
orders"): the member row stays as an empty tombstone (status "erased": no name, identities,
profile, guide, tier, points or purchase stats) so ids held elsewhere still resolve and sign-ups
per store and channel still count; orders stay for the brand's accounting but are detached
(``member`` NULL), so revenue totals are unchanged while no purchase history points to anyone.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable

from django.apps import apps
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import CouponStatus, Gender, MemberStatus
from members.events import event_record
from members.models import (
    Consent,
    Coupon,
    Event,
    Member,
    MemberMerge,
    MemberMetrics,
    MemberTag,
    MemberValue,
    Order,
    PointsEntry,
)
from members.services.audit import audit_record
from members.services.exports import EXPORT_ACTION

ERASE_ACTION = "member.erase"
# The one event an erased member keeps: that it happened and when, nothing about whom. Other
# apps may register handlers for it (run after commit), e.g. to drop the person elsewhere.
MEMBER_ERASED = "member.erased"
REASON_MAX = 200

# Other apps remove their rows on an erasure through hooks registered in their
# AppConfig.ready(): hook(member, *, merged_ids) runs inside the erasure transaction, before the
# member's own data is wiped (identities are still there to match on), and returns
# {"what": count}. ``merged_ids`` are the records merged into the member (directly or through
# earlier merges): the same person, whose rows the app may still hold under those ids (a merge
# hook need not have moved everything). A hook taking only ``hook(member)`` is called once for
# the member and once for each merged record (a Member row of status "merged"), and the counts
# are added up.
EraseHook = Callable[..., dict]
_erase_hooks: list[EraseHook] = []

# Other apps add what they hold about a member to the data copy the same way:
# hook(member, *, merged_ids) returns {"section": JSON-serialisable data} covering the member and
# the merged records. A hook taking only ``hook(member)`` is called for the member (its sections
# go to the top of the copy) and for each merged record (its sections go into that record's
# entry under "merged_records").
DataCopyHook = Callable[..., dict]
_data_copy_hooks: list[DataCopyHook] = []

# What an erased member row (and the records merged into it) is left with.
_BLANK = {
    "name": "",
    "gender": Gender.UNKNOWN,
    "birthday": None,
    "province": "",
    "city": "",
    "phone": None,
    "unionid": None,
    "openid": None,
    "wecom_external_userid": None,
    "email": None,
    "guide": None,
    "tier": None,
    "points_balance": 0,
    "order_count": 0,
    "total_paid": 0,
    "total_margin": 0,
    "first_purchase_at": None,
    "last_purchase_at": None,
}


def member_erase_hook_register(hook: EraseHook) -> None:
    """Register a function that removes an app's rows about a member being erased:
    ``hook(member, *, merged_ids)`` (or ``hook(member)``, see above)."""
    if hook not in _erase_hooks:
        _erase_hooks.append(hook)


def member_data_copy_hook_register(hook: DataCopyHook) -> None:
    """Register a function that adds an app's data about a member to their data copy:
    ``hook(member, *, merged_ids)`` (or ``hook(member)``, see above)."""
    if hook not in _data_copy_hooks:
        _data_copy_hooks.append(hook)


def _takes_merged_ids(hook: Callable) -> bool:
    """True for a hook of the current form, hook(member, *, merged_ids)."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):  # a callable without a signature: the one-argument form
        return False
    return any(
        p.name == "merged_ids" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters
    )


def _erase_hooks_run(member: Member, merged: list[Member]) -> dict[str, int]:
    """Run every erase hook over the member and the records merged into it; counts added up."""
    counts: dict[str, int] = {}
    merged_ids = [record.pk for record in merged]
    for hook in _erase_hooks:
        if _takes_merged_ids(hook):
            results = [hook(member, merged_ids=merged_ids)]
        else:
            results = [hook(record) for record in (member, *merged)]
        for result in results:
            for what, count in result.items():
                counts[what] = counts.get(what, 0) + count
    return counts


def _merged_into(member: Member) -> list[int]:
    """Ids of the tombstones merged into ``member``, directly or through earlier merges: the
    same person, and they still hold the name and profile they had when merged."""
    found: list[int] = []
    frontier = [member.pk]
    while frontier:
        frontier = list(
            Member.objects.filter(merged_into_id__in=frontier, status=MemberStatus.MERGED)
            .exclude(pk__in=[member.pk, *found])
            .values_list("pk", flat=True)
        )
        found += frontier
    return found


def _scrub_admin_log(member_ids: list[int]) -> None:
    """The admin's change history names a member by their name; keep only the id."""
    if not apps.is_installed("django.contrib.admin"):
        return
    from django.contrib.admin.models import LogEntry
    from django.contrib.contenttypes.models import ContentType

    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Member),
        object_id__in=[str(pk) for pk in member_ids],
    ).update(object_repr=Concat(Value("#"), F("object_id")))


@transaction.atomic
def member_erase(*, member: Member, actor=None, reason: str = "") -> dict[str, int]:
    """Erase a member's personal data at their request (PIPL), in one transaction.

    Identities become NULL and the profile blank; tags, consents, the points ledger and the
    timeline are deleted (one "member.erased" event without personal data stays); unredeemed
    coupons are voided; orders are kept for accounting but detached from the member; records
    merged into the member are blanked too; registered hooks remove other apps' rows about the
    member and about the records merged into it. Every
    member token stops working. Audited with counts only; ``reason`` (e.g. a ticket number,
    at most 200 characters) goes into the audit log, so it must not hold personal data.

    Returns {"what": count}. Refused for a member already erased, and for a merged record
    (erase the member it was merged into).
    """
    reason = (reason or "").strip()
    if len(reason) > REASON_MAX:
        raise ValidationError(
            {"reason": [_("At most %(n)d characters.") % {"n": REASON_MAX}]}, code="max_length"
        )
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status == MemberStatus.ERASED:
        raise ValidationError(
            _("Member #%(id)d has already been erased.") % {"id": member.pk},
            code="already_erased",
        )
    if member.status == MemberStatus.MERGED:
        raise ValidationError(
            _("Member #%(id)d was merged into #%(survivor)d; erase #%(survivor)d instead.")
            % {"id": member.pk, "survivor": member.merged_into_id},
            code="merged",
        )

    merged_ids = _merged_into(member)
    merged = list(Member.objects.filter(pk__in=merged_ids).order_by("pk"))
    counts = _erase_hooks_run(member, merged)
    ids = [member.pk, *merged_ids]
    now = timezone.now()
    counts["tags"] = MemberTag.objects.filter(member_id__in=ids).delete()[0]
    # Consents are deleted rather than marked withdrawn: with no identity left the member can
    # be reached on no channel, a consent row would be personal data kept without a purpose,
    # and having no consent already means no marketing (consent is opt-in, re-checked at send
    # time). If the person signs up again they start as a new member without consent.
    counts["consents"] = Consent.objects.filter(member_id__in=ids).delete()[0]
    # The points ledger is the member's history (its reasons name orders): deleted, and the
    # balance forfeited; the audit row keeps how many points lapsed, for the points liability.
    counts["points_forfeited"] = member.points_balance
    counts["points_entries"] = PointsEntry.objects.filter(member_id__in=ids).delete()[0]
    # Unredeemed coupons are voided, not deleted: a till scanning the code is told it is void,
    # and the template's issue statistics stay true. Redeemed ones stay as redeemed (coupon
    # costs stay right) but no longer name the order, which would tie it back to this row.
    counts["coupons_voided"] = Coupon.objects.filter(
        member_id__in=ids, status=CouponStatus.ISSUED
    ).update(status=CouponStatus.VOID)
    Coupon.objects.filter(member_id__in=ids, redeemed_order__isnull=False).update(
        redeemed_order=None
    )
    # Orders are needed by the brand's accounting: kept with their amounts, store and time, but
    # detached, so revenue totals are unchanged and no purchase history points to anyone.
    counts["orders_detached"] = Order.objects.filter(member_id__in=ids).update(
        member=None, updated_at=now
    )
    counts["events"] = Event.objects.filter(member_id__in=ids).delete()[0]
    # Predictions (P(alive), CLV, next purchase) are derived from the purchase history: they go
    # now, not at the next nightly scoring.
    counts["value_predictions"] = MemberValue.objects.filter(member_id__in=ids).delete()[0]
    # RFM scores and lifecycle stage are derived from the purchase history: gone with it.
    counts["metrics"] = MemberMetrics.objects.filter(member_id__in=ids).delete()[0]
    # A merge record keeps a snapshot of the merged record's identities and name.
    MemberMerge.objects.filter(survivor_id__in=ids).update(snapshot={})
    counts["merged_records"] = len(merged_ids)
    _scrub_admin_log(ids)

    Member.objects.filter(pk__in=ids).update(**_BLANK, updated_at=now)
    # A new token version revokes every mini-program token issued before.
    Member.objects.filter(pk=member.pk).update(
        status=MemberStatus.ERASED, token_version=F("token_version") + 1
    )
    member.refresh_from_db()
    event_record(member=member, kind=MEMBER_ERASED, data={}, occurred_at=now)
    audit_record(
        actor=actor,
        action=ERASE_ACTION,
        target=f"member:{member.pk}",
        data={"counts": counts, "reason": reason},
    )
    return counts


def _rows(queryset, **renamed) -> list[dict]:
    """Value rows of ``queryset`` with the columns given as ``name="lookup"``."""
    return [
        {name: row[lookup] for name, lookup in renamed.items()}
        for row in queryset.values(*renamed.values())
    ]


def member_data_copy(*, member: Member) -> dict:
    """Everything held about ``member`` for their right to a copy (PIPL): profile, identities,
    consents, tags, orders, points, coupons, events, records merged into them, and what other
    apps add through their hooks. Plain JSON types only (times as ISO 8601, amounts as strings).
    Reads only; callers audit it (member_data_export)."""
    member = Member.objects.select_related("home_store", "guide", "tier").get(pk=member.pk)
    merged_ids = _merged_into(member)
    copy = {
        "generated_at": timezone.now(),
        "member": {
            "id": member.pk,
            "status": member.status,
            "name": member.name,
            "gender": member.gender,
            "birthday": member.birthday,
            "province": member.province,
            "city": member.city,
            "source": member.source,
            "home_store": member.home_store and member.home_store.name,
            "guide": member.guide and member.guide.name,
            "tier": member.tier and member.tier.name,
            "points_balance": member.points_balance,
            "order_count": member.order_count,
            "total_paid": member.total_paid,
            "first_purchase_at": member.first_purchase_at,
            "last_purchase_at": member.last_purchase_at,
            "joined_at": member.created_at,
            "updated_at": member.updated_at,
        },
        "identities": {
            "phone": member.phone,
            "unionid": member.unionid,
            "openid": member.openid,
            "wecom_external_userid": member.wecom_external_userid,
            "email": member.email,
        },
        "consents": _rows(
            Consent.objects.filter(member=member).order_by("channel"),
            channel="channel",
            status="status",
            changed_at="changed_at",
            method="method",
        ),
        "tags": _rows(
            MemberTag.objects.filter(member=member).order_by("tag__group__sort", "tag__sort"),
            group="tag__group__name",
            tag="tag__name",
            source="source",
            tagged_at="created_at",
        ),
        "orders": _rows(
            Order.objects.filter(member=member).order_by("paid_at", "pk"),
            source="source",
            external_id="external_id",
            store="store__name",
            paid_amount="paid_amount",
            item_count="item_count",
            paid_at="paid_at",
            status="status",
            refunded_at="refunded_at",
        ),
        "points": _rows(
            PointsEntry.objects.filter(member=member).order_by("pk"),
            kind="kind",
            points="delta",
            balance_after="balance_after",
            reason="reason",
            expires_at="expires_at",
            at="created_at",
        ),
        "coupons": _rows(
            Coupon.objects.filter(member=member).order_by("pk"),
            code="code",
            name="template__name",
            value="template__value",
            status="status",
            issued_at="issued_at",
            expires_at="expires_at",
            redeemed_at="redeemed_at",
            redeemed_order="redeemed_order__external_id",
        ),
        "events": _rows(
            Event.objects.filter(member=member).order_by("occurred_at", "pk"),
            kind="kind",
            data="data",
            occurred_at="occurred_at",
        ),
        "merged_records": _merged_records(member, merged_ids),
    }
    merged = {record.pk: record for record in Member.objects.filter(pk__in=merged_ids)}
    entries = {entry["id"]: entry for entry in copy["merged_records"]}
    for hook in _data_copy_hooks:
        if _takes_merged_ids(hook):
            copy.update(hook(member, merged_ids=merged_ids))
            continue
        copy.update(hook(member))
        for pk, record in merged.items():
            entries[pk].update(hook(record))
    # One round trip through JSON turns dates, times and decimals into plain JSON values, and
    # fails here (not in a view) if a hook returned something that cannot be serialised.
    return json.loads(json.dumps(copy, cls=DjangoJSONEncoder))


def _merged_records(member: Member, merged_ids: list[int]) -> list[dict]:
    snapshots = dict(
        MemberMerge.objects.filter(merged_member_id__in=merged_ids).values_list(
            "merged_member_id", "snapshot"
        )
    )
    records = _rows(
        Member.objects.filter(pk__in=merged_ids).order_by("pk"),
        id="pk",
        name="name",
        gender="gender",
        birthday="birthday",
        province="province",
        city="city",
        merged_into="merged_into_id",
        joined_at="created_at",
    )
    for record in records:
        record["when_merged"] = snapshots.get(record["id"], {})
    return records


def member_data_export(*, member: Member, actor) -> dict:
    """member_data_copy for ``actor`` (an operator, or the member themselves), audited as an
    export of one member (action "members.export") before the data is handed out."""
    audit_record(
        actor=actor,
        action=EXPORT_ACTION,
        target=f"member:{member.pk}",
        data={"count": 1, "filters": {"member": member.pk}, "masked": False, "format": "copy"},
    )
    return member_data_copy(member=member)
