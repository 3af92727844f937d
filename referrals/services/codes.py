"""Referral codes for members and shop guides, and the links that carry them."""

from __future__ import annotations

import re
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from members.choices import MemberStatus
from members.models import Guide, Member
from referrals.models import ReferralCode

# No look-alikes (0/O, 1/I/L): a code read off a poster or said aloud can be typed back.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_SEPARATORS = re.compile(r"[\s\-_.]")


def code_length() -> int:
    """Characters in a new code: settings.SCRM_REFERRAL_CODE_LENGTH (6 gives 887 million)."""
    return min(max(int(getattr(settings, "SCRM_REFERRAL_CODE_LENGTH", 6)), 5), 12)


def code_normalise(raw) -> str:
    """A typed or scanned code as stored: upper case, spaces and dashes dropped."""
    return _SEPARATORS.sub("", str(raw or "")).upper()


def code_is_well_formed(code: str) -> bool:
    return 5 <= len(code) <= 12 and all(ch in CODE_ALPHABET for ch in code)


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(code_length()))


def _create(**owner) -> ReferralCode:
    # A clash with an existing code is rare (1 in 887 million per code at 6 characters, times
    # the codes issued); a savepoint per try keeps the surrounding transaction usable.
    for attempt in range(5):
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(code=_new_code(), **owner)
        except IntegrityError:
            if attempt == 4:
                raise
    raise AssertionError("unreachable")


@transaction.atomic
def referral_code_for_member(*, member: Member) -> ReferralCode:
    """The member's referral code, made on first use. Refused for a merged or erased member."""
    # The lock makes two first requests at once (a double tap) end with one code, not two.
    member = Member.objects.select_for_update().get(pk=member.pk)
    if member.status != MemberStatus.ACTIVE:
        raise ValidationError({"member": [_("This member was merged or erased.")]})
    existing = ReferralCode.objects.filter(member=member, is_active=True).order_by("pk").first()
    return existing or _create(member=member)


@transaction.atomic
def referral_code_for_guide(*, guide: Guide) -> ReferralCode:
    """The shop guide's personal code (导购码), made on first use; refused for an inactive
    guide."""
    guide = Guide.objects.select_for_update().get(pk=guide.pk)
    if not guide.is_active:
        raise ValidationError({"guide": [_("This shop guide is not active.")]})
    existing = ReferralCode.objects.filter(guide=guide, is_active=True).order_by("pk").first()
    return existing or _create(guide=guide)


def referral_codes_for_guides(*, guides) -> int:
    """Give every active guide in ``guides`` a code if they have none; returns codes made."""
    made = 0
    for guide in guides.filter(is_active=True).exclude(referral_codes__is_active=True):
        referral_code_for_guide(guide=guide)
        made += 1
    return made


def referral_code_resolve(raw) -> ReferralCode | None:
    """The active code ``raw`` names (any case, spaces ignored), with its owner; else None."""
    code = code_normalise(raw)
    if not code_is_well_formed(code):
        return None
    return (
        ReferralCode.objects.select_related("member", "guide__store")
        .filter(code=code, is_active=True)
        .first()
    )


def referral_link(code: ReferralCode | str) -> str:
    """The link a poster's QR code carries. settings.SCRM_REFERRAL_LINK_TEMPLATE names the
    page, e.g. a mini-program "普通链接二维码" rule or an H5 page, with ``{code}`` in it."""
    template = getattr(settings, "SCRM_REFERRAL_LINK_TEMPLATE", "https://example.com/r/{code}")
    return template.format(code=str(code))


@transaction.atomic
def referral_codes_for_members(*, member_ids: list[int]) -> dict[int, str]:
    """Each active member's referral code, made in bulk for those without one (a campaign
    quoting {{ referral_link }} to many members at once). Returns {member_id: code}."""
    codes: dict[int, str] = {}
    for member_id, code in (
        ReferralCode.objects.filter(member_id__in=member_ids, is_active=True)
        .order_by("-pk")
        .values_list("member_id", "code")
    ):
        codes[member_id] = code  # the oldest wins, as referral_code_for_member picks it
    missing = [pk for pk in member_ids if pk not in codes]
    if not missing:
        return codes
    # Row locks, as in referral_code_for_member: two senders at once make one code each.
    locked = list(
        Member.objects.select_for_update()
        .filter(pk__in=missing, status=MemberStatus.ACTIVE)
        .values_list("pk", flat=True)
    )
    made_meanwhile = dict(
        ReferralCode.objects.filter(member_id__in=locked, is_active=True).values_list(
            "member_id", "code"
        )
    )
    codes.update(made_meanwhile)
    pending = [pk for pk in locked if pk not in made_meanwhile]
    for _attempt in range(5):
        if not pending:
            break
        wanted = {pk: _new_code() for pk in pending}
        ReferralCode.objects.bulk_create(
            [ReferralCode(member_id=pk, code=code) for pk, code in wanted.items()],
            ignore_conflicts=True,  # a clash with an existing code: that member tries again
        )
        stored = set(
            ReferralCode.objects.filter(code__in=list(wanted.values())).values_list(
                "member_id", "code"
            )
        )
        for pk, code in wanted.items():
            if (pk, code) in stored:
                codes[pk] = code
        pending = [pk for pk in pending if pk not in codes]
    return codes
