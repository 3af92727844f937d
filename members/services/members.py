"""Creating, updating and merging members, with identity resolution."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import (
    ConsentChannel,
    ConsentStatus,
    Gender,
    MemberStatus,
    source_channel_codes,
)
from members.events import EventKind, event_record, events_record_bulk
from members.identity import phone_normalise
from members.models import (
    AuditLog,
    Consent,
    Coupon,
    Event,
    Guide,
    Member,
    MemberMerge,
    MemberTag,
    Order,
    PointsEntry,
    Store,
    Tier,
)

# Identities in the order they are trusted when resolving who a record belongs to.
IDENTITY_FIELDS = ("unionid", "phone", "openid", "wecom_external_userid")
PROFILE_FIELDS = (
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "source",
    "home_store",
    "guide",
    "tier",
    "email",
)
_UNSET = object()

# Other apps move their rows on a merge through hooks registered in their AppConfig.ready():
# hook(survivor, merged) runs inside the merge transaction and returns {"what": count}.
MergeHook = Callable[[Member, Member], dict]
_merge_hooks: list[MergeHook] = []


def member_merge_hook_register(hook: MergeHook) -> None:
    """Register a function that moves an app's rows from a merged member to the survivor."""
    if hook not in _merge_hooks:
        _merge_hooks.append(hook)


def _clean_identities(values: dict) -> dict:
    cleaned = {}
    errors = {}
    for field in IDENTITY_FIELDS:
        if field not in values:
            continue
        raw = values[field]
        if raw in (None, ""):
            cleaned[field] = None
            continue
        if field == "phone":
            try:
                cleaned[field] = phone_normalise(str(raw))
            except ValidationError as exc:
                errors[field] = exc.messages
        else:
            text = str(raw).strip()
            if len(text) > 64:
                errors[field] = [_("At most 64 characters.")]
            cleaned[field] = text
    if errors:
        raise ValidationError(errors)
    return cleaned


def _email_clean(raw) -> tuple[str | None, str | None]:
    """An address with its domain in lower case (the local part is the mail server's to
    interpret), or None when blank; with the error message when it is not an address."""
    text = (raw or "").strip()
    if not text:
        return None, None
    try:
        validate_email(text)
    except ValidationError:
        return None, _("Enter a valid email address.")
    if len(text) > 254:
        return None, _("At most %(n)d characters.") % {"n": 254}
    local, _at, domain = text.rpartition("@")
    return f"{local}@{domain.lower()}", None


def member_profile_clean(values: dict) -> dict:
    """Validate and normalise the profile fields present in `values`; raise on any bad one."""
    errors: dict[str, list[str]] = {}
    cleaned = {}
    for field in PROFILE_FIELDS:
        if field not in values:
            continue
        value = values[field]
        if field in ("name", "province", "city"):
            value = (value or "").strip()
            limit = 50 if field == "name" else 32
            if len(value) > limit:
                errors[field] = [_("At most %(n)d characters.") % {"n": limit}]
        elif field == "gender":
            value = value or Gender.UNKNOWN
            if value not in Gender.values:
                errors[field] = [_("Unknown gender “%(v)s”.") % {"v": value}]
        elif field == "birthday":
            if value is not None and not isinstance(value, date):
                errors[field] = [_("Not a date.")]
            elif value is not None and value > timezone.localdate():
                errors[field] = [_("Birthday is in the future.")]
        elif field == "source":
            value = value or "other"
            if value not in source_channel_codes():
                errors[field] = [_("Unknown source channel “%(v)s”.") % {"v": value}]
        elif field == "home_store" and value is not None and not isinstance(value, Store):
            errors[field] = [_("Not a store.")]
        elif field == "guide" and value is not None and not isinstance(value, Guide):
            errors[field] = [_("Not a shop guide.")]
        elif field == "tier" and value is not None and not isinstance(value, Tier):
            errors[field] = [_("Not a tier.")]
        elif field == "email":
            value, problem = _email_clean(value)
            if problem:
                errors[field] = [problem]
        cleaned[field] = value
    if errors:
        raise ValidationError(errors)
    return cleaned


def member_resolve(**identities) -> Member | None:
    """Find the one active member owning any of the given identities (normalised first).

    Raises ValidationError when the identities belong to different members: those must be
    merged explicitly, never silently.
    """
    cleaned = {k: v for k, v in _clean_identities(identities).items() if v}
    if not cleaned:
        return None
    found: dict[int, Member] = {}
    for field, value in cleaned.items():
        member = Member.objects.filter(**{field: value}).first()
        if member is None:
            continue
        # A merged tombstone no longer holds identities, but follow it defensively.
        while member.status == MemberStatus.MERGED and member.merged_into_id:
            member = Member.objects.get(pk=member.merged_into_id)
        found[member.pk] = member
    if len(found) > 1:
        raise ValidationError(
            {
                "identity": [
                    _("These identities belong to different members (%(ids)s); merge them first.")
                    % {"ids": ", ".join(f"#{pk}" for pk in sorted(found))}
                ]
            },
            code="identity_conflict",
        )
    return next(iter(found.values()), None)


@transaction.atomic
def member_upsert(*, actor=None, **values) -> tuple[Member, bool]:
    """Create a member, or update the one that already owns a given identity.

    ``values`` holds identities (phone, unionid, openid, wecom_external_userid) and profile
    fields (name, gender, birthday, province, city, source, home_store, guide, tier, email). At
    least one identity is required. Empty values never erase what an existing member has.
    Returns (member, created).
    """
    unknown = set(values) - set(IDENTITY_FIELDS) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({f: [_("Unknown field.")] for f in sorted(unknown)})
    identities = {k: v for k, v in _clean_identities(values).items() if v}
    if not identities:
        raise ValidationError(
            {"identity": [_("A member needs a phone, union id, open id or WeCom id.")]},
            code="no_identity",
        )
    profile = member_profile_clean(values)
    if profile.get("guide") is not None and profile.get("home_store") is None:
        profile["home_store"] = profile["guide"].store
    member = member_resolve(**identities)
    if member is not None:
        member = Member.objects.select_for_update().get(pk=member.pk)
        changed = member_fields_apply(member, {**identities, **profile}, keep_existing=True)
        if changed:
            member.save()
            event_record(
                member=member, kind=EventKind.MEMBER_UPDATED, data={"fields": sorted(changed)}
            )
        return member, False
    member = Member(**identities, **{k: v for k, v in profile.items() if v not in (None, "")})
    member.save()
    event_record(
        member=member,
        kind=EventKind.MEMBER_CREATED,
        data={"source": member.source, "store_id": member.home_store_id},
    )
    return member, True


def member_fields_apply(member: Member, values: dict, *, keep_existing: bool) -> set[str]:
    """Set cleaned values on `member` (unsaved) and return the names of the fields that changed.

    With `keep_existing`, blank incoming values leave the stored ones alone (upsert semantics).
    """
    changed = set()
    for field, value in values.items():
        if keep_existing and value in (None, ""):
            continue
        attr = f"{field}_id" if field in ("home_store", "guide", "tier") else field
        new = value.pk if field in ("home_store", "guide", "tier") and value is not None else value
        if getattr(member, attr) != new:
            setattr(member, attr, new)
            changed.add(field)
    return changed


@transaction.atomic
def member_update(*, member: Member, actor=None, **values) -> Member:
    """Change a member's profile or identities. Setting an identity owned by someone else fails."""
    unknown = set(values) - set(IDENTITY_FIELDS) - set(PROFILE_FIELDS)
    if unknown:
        raise ValidationError({f: [_("Unknown field.")] for f in sorted(unknown)})
    identities = _clean_identities(values)
    for field, value in identities.items():
        if value and Member.objects.filter(**{field: value}).exclude(pk=member.pk).exists():
            raise ValidationError(
                {field: [_("Another member already has this value.")]}, code="identity_taken"
            )
    profile = member_profile_clean(values)
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError(_("This member was merged or erased and cannot be changed."))
    if not any(identities.get(f, getattr(member, f)) for f in IDENTITY_FIELDS):
        raise ValidationError({"identity": [_("A member must keep at least one identity.")]})
    changed = member_fields_apply(member, {**identities, **profile}, keep_existing=False)
    if changed:
        member.save()
        event_record(member=member, kind=EventKind.MEMBER_UPDATED, data={"fields": sorted(changed)})
    return member


@transaction.atomic
def members_assign_guide(*, members: QuerySet[Member], guide: Guide, actor=None) -> int:
    """Make ``guide`` the owning guide (and their store the home store) of a set of members."""
    ids = list(members.exclude(guide=guide).values_list("pk", flat=True))
    for start in range(0, len(ids), 5000):
        Member.objects.filter(pk__in=ids[start : start + 5000]).update(
            guide=guide, home_store=guide.store, updated_at=timezone.now()
        )
    events_record_bulk(
        member_ids=ids,
        kind=EventKind.GUIDE_ASSIGNED,
        data={"guide_id": guide.pk, "guide": guide.name, "store_id": guide.store_id},
    )
    return len(ids)


@transaction.atomic
def consent_set(
    *, member: Member, channel: str, granted: bool, method: str = "", at=None
) -> Consent:
    """Grant or withdraw one purpose of consent; a no-op when it is already in that state."""
    if channel not in ConsentChannel.values:
        raise ValidationError({"channel": [_("Unknown consent channel “%(v)s”.") % {"v": channel}]})
    status = ConsentStatus.GRANTED if granted else ConsentStatus.WITHDRAWN
    at = at or timezone.now()
    consent, created = Consent.objects.select_for_update().get_or_create(
        member=member,
        channel=channel,
        defaults={"status": status, "changed_at": at, "method": method[:50]},
    )
    if not created and consent.status == status:
        return consent
    if not created:
        consent.status, consent.changed_at, consent.method = status, at, method[:50]
        consent.save(update_fields=["status", "changed_at", "method"])
    event_record(
        member=member,
        kind=EventKind.CONSENT_CHANGED,
        data={"channel": channel, "status": status, "method": method},
        occurred_at=at,
    )
    return consent


@transaction.atomic
def member_merge(*, survivor: Member, merged: Member, actor=None) -> MemberMerge:
    """Fold ``merged`` into ``survivor``: orders, tags, events, consents, points, coupons and
    whatever other apps registered move over; identities the survivor lacks are taken over.
    The merged record stays as a tombstone pointing at the survivor. Recorded and audited."""
    from members.services.orders import member_stats_refresh

    if survivor.pk == merged.pk:
        raise ValidationError(_("A member cannot be merged into itself."))
    locked = {
        m.pk: m for m in Member.objects.select_for_update().filter(pk__in=[survivor.pk, merged.pk])
    }
    survivor, merged = locked[survivor.pk], locked[merged.pk]
    if survivor.status != MemberStatus.ACTIVE or merged.status != MemberStatus.ACTIVE:
        raise ValidationError(_("Only active members can be merged."))

    snapshot = {
        f: str(getattr(merged, f)) if getattr(merged, f) is not None else None
        for f in IDENTITY_FIELDS + ("name", "source", "points_balance")
    }
    moved = {
        "orders": Order.objects.filter(member=merged).update(member=survivor),
        "events": Event.objects.filter(member=merged).update(member=survivor),
        "coupons": Coupon.objects.filter(member=merged).update(member=survivor),
        "points_entries": PointsEntry.objects.filter(member=merged).update(member=survivor),
    }
    survivor_tags = MemberTag.objects.filter(member=survivor).values("tag_id")
    MemberTag.objects.filter(member=merged, tag_id__in=survivor_tags).delete()
    moved["tags"] = MemberTag.objects.filter(member=merged).update(member=survivor)

    # Consent: the more recent decision per purpose wins.
    mine = {c.channel: c for c in Consent.objects.filter(member=survivor)}
    for theirs in Consent.objects.filter(member=merged):
        current = mine.get(theirs.channel)
        if current is None:
            theirs.member = survivor
            theirs.save(update_fields=["member"])
        elif theirs.changed_at > current.changed_at:
            current.status, current.changed_at = theirs.status, theirs.changed_at
            current.method = theirs.method
            current.save(update_fields=["status", "changed_at", "method"])
    Consent.objects.filter(member=merged).delete()

    for hook in _merge_hooks:
        moved.update(hook(survivor, merged))

    # Identities are unique: release them from the tombstone before the survivor takes them.
    taken = {f: getattr(merged, f) for f in IDENTITY_FIELDS if getattr(merged, f)}
    for field in IDENTITY_FIELDS:
        setattr(merged, field, None)
    merged.status = MemberStatus.MERGED
    merged.merged_into = survivor
    merged.points_balance = 0
    merged.save()
    for field, value in taken.items():
        if not getattr(survivor, field):
            setattr(survivor, field, value)
    for field in ("name", "birthday", "province", "city", "home_store_id", "guide_id", "tier_id"):
        if not getattr(survivor, field) and getattr(merged, field):
            setattr(survivor, field, getattr(merged, field))
    survivor.points_balance += int(snapshot["points_balance"] or 0)
    survivor.save()
    member_stats_refresh(member_ids=[survivor.pk])

    record = MemberMerge.objects.create(
        survivor=survivor,
        merged_member_id=merged.pk,
        snapshot=snapshot,
        moved=moved,
        merged_by=actor if getattr(actor, "pk", None) else None,
    )
    AuditLog.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_label=str(actor or "system"),
        action="member.merge",
        target=f"member:{survivor.pk}",
        data={"merged": merged.pk, "moved": moved},
    )
    event_record(
        member=survivor, kind=EventKind.MEMBER_MERGED, data={"merged": merged.pk, "moved": moved}
    )
    return record
