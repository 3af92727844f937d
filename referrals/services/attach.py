"""Attaching a referral at sign-up: once, to a new customer, never to oneself or one's downline."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from members.choices import MemberStatus
from members.events import event_record
from members.models import Member, Order
from members.services.members import members_assign_guide
from referrals.choices import Flag, ReferralChannel, ReferralStatus
from referrals.models import Programme, Referral, ReferralCode, ReferralNode
from referrals.services import tree
from referrals.services.abuse import fingerprints_record, referral_flags
from referrals.services.codes import referral_code_resolve

REFERRAL_ATTACHED = "referral.attached"


def programme_in_force(at: datetime | None = None) -> Programme | None:
    """The active programme whose dates include ``at`` (now), if any."""
    programme = Programme.objects.filter(is_active=True).first()
    return programme if programme is not None and programme.in_force(at) else None


def _refuse(message: str, code: str, field: str = "code") -> ValidationError:
    return ValidationError({field: [ValidationError(message, code=code)]})


def new_member_window() -> timedelta:
    """How long after joining a member may still be referred: SCRM_REFERRAL_NEW_MEMBER_HOURS."""
    return timedelta(hours=int(getattr(settings, "SCRM_REFERRAL_NEW_MEMBER_HOURS", 72)))


def _check_new_customer(member: Member, now: datetime) -> None:
    """Only new customers can be referred: no order ever (paid or refunded), joined recently."""
    if Order.objects.filter(member=member).exists():
        raise _refuse(
            _("Only new customers can be referred; this member has bought before."), "not_new"
        )
    if member.created_at < now - new_member_window():
        raise _refuse(
            _("Only new customers can be referred; this member joined too long ago."), "not_new"
        )


def _subtree_height(node: ReferralNode | None) -> int:
    if node is None or not node.downline_count:
        return 0
    deepest = tree.subtree(node.path).order_by("-depth").values_list("depth", flat=True).first()
    return (deepest or node.depth) - node.depth


@transaction.atomic
def referral_attach(
    *,
    member: Member,
    code: str,
    channel: str = ReferralChannel.SCAN,
    device_id: str = "",
    now: datetime | None = None,
) -> Referral:
    """Record that ``member`` was referred through ``code`` (a member's or a guide's).

    Once only: attaching again with the same code returns the referral unchanged (a retried
    request), another code is refused. Refused as well: an unknown or inactive code, one's own
    code, a code of one's own downline (a cycle), a member who has ever ordered or joined more
    than SCRM_REFERRAL_NEW_MEMBER_HOURS ago, and a chain deeper than SCRM_REFERRAL_MAX_DEPTH.
    The referral joins the programme in force, places the member in the tree, records abuse
    signals (flags hold its rewards for review), counts towards the referrer's sign-up fission
    tasks, and a guide's code makes that guide the member's owning guide if they have none.
    """
    now = now or timezone.now()
    found = referral_code_resolve(code)
    if found is None:
        raise _refuse(_("Unknown referral code."), "unknown_code")
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise _refuse(_("This member was merged or erased."), "inactive", field="member")
    existing = Referral.objects.filter(referee=member).first()
    if existing is not None:
        if existing.code_id == found.pk:
            return existing
        raise _refuse(_("This member was already referred; a referral never changes."), "once")
    referrer = _check_owner(found, member)
    _check_new_customer(member, now)

    parent = None
    if referrer is not None:
        # The referrer's node and upline, locked root first (services.tree): a move of a
        # subtree holding them waits for this attach, or has committed and the path is current.
        parent = tree.node_root_ensure(referrer.pk)
        if tree.is_in_subtree(parent.path, of_member_id=member.pk):
            raise _refuse(_("This code belongs to someone you referred."), "cycle")
    # The member's own node (one who handed out their code before being referred): moved with
    # its downline below, which locks it then (subtree_move).
    own_node = ReferralNode.objects.filter(pk=member.pk).first()
    if parent is not None:
        max_depth = int(getattr(settings, "SCRM_REFERRAL_MAX_DEPTH", 100))
        if parent.depth + 1 + _subtree_height(own_node) > max_depth:
            raise _refuse(_("This referral chain is too long."), "too_deep")
    if own_node is None:
        tree.node_add(member_id=member.pk, parent=parent)
    elif parent is not None:
        # A new member who handed out their own code before being referred: their invitees
        # move along with them.
        tree.subtree_move(own_node, parent)

    programme = programme_in_force(now)
    days = (
        programme.qualify_within_days
        if programme
        else int(getattr(settings, "SCRM_REFERRAL_QUALIFY_DAYS", 30))
    )
    referral = Referral.objects.create(
        referee=member,
        referrer=referrer,
        guide=found.guide,
        code=found,
        programme=programme,
        channel=channel,
        attached_at=now,
        qualify_by=now + timedelta(days=days),
    )
    fingerprints_record(member=member, device_id=device_id)
    if referrer is not None:
        fingerprints_record(member=referrer)
    referral.flags = referral_flags(referral)
    if referral.flags:
        referral.save(update_fields=["flags"])
        if Flag.BURST in referral.flags:
            _flag_burst(found, now=now)

    if found.guide_id and member.guide_id is None:
        members_assign_guide(members=Member.objects.filter(pk=member.pk), guide=found.guide)
    event_record(
        member=member,
        kind=REFERRAL_ATTACHED,
        data={
            "referrer_id": referrer.pk if referrer else None,
            "guide_id": found.guide_id,
            "code": found.code,
            "programme_id": programme.pk if programme else None,
        },
        occurred_at=now,
    )
    if referrer is not None:
        from referrals.services.fission import fission_progress_refresh

        fission_progress_refresh(member_id=referrer.pk, now=now)
    return referral


def _check_owner(found: ReferralCode, member: Member) -> Member | None:
    """The referring member (None for a guide's code), after the self-referral checks."""
    if found.guide_id:
        if not found.guide.is_active:
            raise _refuse(_("Unknown referral code."), "unknown_code")
        return None
    referrer = found.member
    if referrer.pk == member.pk:
        raise _refuse(_("You cannot use your own referral code."), "self")
    if referrer.status != MemberStatus.ACTIVE:
        raise _refuse(_("Unknown referral code."), "unknown_code")
    return referrer


def _flag_burst(code: ReferralCode, *, now: datetime) -> None:
    """A burst flags every sign-up of the window, not only those past the limit: the first
    fake accounts of a farm are as fake as the eleventh."""
    minutes = int(getattr(settings, "SCRM_REFERRAL_BURST_MINUTES", 60))
    window = Referral.objects.select_for_update().filter(
        code=code, attached_at__gte=now - timedelta(minutes=minutes)
    )
    for referral in window:
        if Flag.BURST not in referral.flags:
            referral.flags = sorted({*referral.flags, Flag.BURST.value})
            referral.save(update_fields=["flags"])


@transaction.atomic
def referrals_expire_due(*, now: datetime | None = None) -> int:
    """Mark pending referrals whose first-order window has closed as expired (one UPDATE)."""
    now = now or timezone.now()
    return Referral.objects.filter(status=ReferralStatus.PENDING, qualify_by__lt=now).update(
        status=ReferralStatus.EXPIRED
    )
