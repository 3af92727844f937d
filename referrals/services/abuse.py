"""Anti-abuse signals: fingerprints of identities and devices, and the flags they raise.

A referral is flagged when the referee shares a phone, union id or device fingerprint with the
referrer or with another invitee of the same referrer (or of the same guide code), or when it
is one of a burst of sign-ups from one code. Flags hold the referral's rewards for review in
the admin; an operator clears them or rejects the rewards. Self-referral, cycles and referring
an existing customer are refused outright (referrals.services.attach), not flagged.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils.crypto import salted_hmac

from members.models import Member
from referrals.choices import FingerprintKind, Flag
from referrals.models import Fingerprint, Referral

SALT = "scrm.referrals.fingerprint"
SHARED_FLAG = {
    FingerprintKind.PHONE: Flag.SHARED_PHONE,
    FingerprintKind.UNIONID: Flag.SHARED_UNIONID,
    FingerprintKind.DEVICE: Flag.SHARED_DEVICE,
}
DEVICE_ID_MAX = 200


def fingerprint_digest(kind: str, value: str) -> str:
    """A keyed hash: equal values match, and the raw phone or id cannot be read back."""
    return salted_hmac(SALT, f"{kind}:{value.strip()}").hexdigest()[:32]


def fingerprints_record(*, member: Member, device_id: str = "") -> list[tuple[str, str]]:
    """Record the member's current phone and union id, and ``device_id`` if given; returns the
    (kind, digest) pairs. Rows already there are kept (ON CONFLICT DO NOTHING)."""
    pairs = []
    if member.phone:
        pairs.append((FingerprintKind.PHONE, fingerprint_digest("phone", member.phone)))
    if member.unionid:
        pairs.append((FingerprintKind.UNIONID, fingerprint_digest("unionid", member.unionid)))
    device_id = (device_id or "").strip()[:DEVICE_ID_MAX]
    if device_id:
        pairs.append((FingerprintKind.DEVICE, fingerprint_digest("device", device_id)))
    Fingerprint.objects.bulk_create(
        [Fingerprint(member_id=member.pk, kind=kind, digest=digest) for kind, digest in pairs],
        ignore_conflicts=True,
    )
    return pairs


def _peers(referral: Referral) -> Q:
    """Who the referee is compared with: the referrer and their other invitees; for a guide's
    code, the code's other invitees."""
    if referral.referrer_id:
        others = Referral.objects.filter(referrer_id=referral.referrer_id)
        mine = Q(member_id=referral.referrer_id)
    else:
        others = Referral.objects.filter(code_id=referral.code_id)
        mine = Q(pk__in=[])
    others = others.exclude(referee_id=referral.referee_id).values("referee_id")
    return mine | Q(member_id__in=others)


def referral_flags(referral: Referral) -> list[str]:
    """The flags ``referral`` earns now, from the referee's recorded fingerprints and the
    code's sign-ups in the window up to the referral's own."""
    flags = set()
    if referral.code_id or referral.referrer_id:
        own = list(
            Fingerprint.objects.filter(member_id=referral.referee_id).values_list("kind", "digest")
        )
        if own:
            match = Q(pk__in=[])
            for kind, digest in own:
                match |= Q(kind=kind, digest=digest)
            shared = (
                Fingerprint.objects.filter(match)
                .filter(_peers(referral))
                .values_list("kind", flat=True)
                .distinct()
            )
            flags |= {SHARED_FLAG[kind] for kind in shared}
    if referral.code_id and _is_burst(referral):
        flags.add(Flag.BURST)
    return sorted(str(flag) for flag in flags)


def _is_burst(referral: Referral) -> bool:
    """More than SCRM_REFERRAL_BURST_LIMIT sign-ups from one code within the
    SCRM_REFERRAL_BURST_MINUTES up to this referral's sign-up (this one included).

    The window is the referral's own, not the one before ``now``: re-checked when an old
    referral qualifies, today's burst from the same code does not flag it. (Sign-ups of a
    burst that came before the limit was passed are flagged by services.attach._flag_burst.)"""
    limit = int(getattr(settings, "SCRM_REFERRAL_BURST_LIMIT", 10))
    minutes = int(getattr(settings, "SCRM_REFERRAL_BURST_MINUTES", 60))
    at = referral.attached_at
    window = Referral.objects.filter(
        code_id=referral.code_id,
        attached_at__gte=at - timedelta(minutes=minutes),
        attached_at__lte=at,
    )
    return window[: limit + 1].count() > limit
