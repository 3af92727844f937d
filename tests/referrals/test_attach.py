"""Attaching a referral: once, to a new customer, never to oneself or one's own downline."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.models import Event, Member
from referrals.choices import ReferralChannel, ReferralStatus
from referrals.models import Referral, ReferralNode
from referrals.services.attach import REFERRAL_ATTACHED, referral_attach, referrals_expire_due
from referrals.services.codes import referral_code_for_member
from tests import factories

pytestmark = pytest.mark.django_db


def _code_error(excinfo) -> str:
    return excinfo.value.error_dict["code"][0].code


def test_attach_records_the_referral_in_the_programme(make_member, refer, programme):
    referrer, friend = make_member(), make_member()
    referral = refer(friend, referrer, channel=ReferralChannel.SIGNUP)
    assert referral.referrer == referrer and referral.programme == programme
    assert referral.status == ReferralStatus.PENDING
    assert referral.qualify_by == referral.attached_at + timedelta(days=30)
    assert Event.objects.filter(member=friend, kind=REFERRAL_ATTACHED).count() == 1
    node = ReferralNode.objects.get(pk=friend.pk)
    assert node.path == f"/{referrer.pk}/{friend.pk}/" and node.depth == 1
    assert ReferralNode.objects.get(pk=referrer.pk).direct_count == 1


def test_attach_is_once_and_a_retry_with_the_same_code_changes_nothing(make_member, refer):
    referrer, other, friend = make_member(), make_member(), make_member()
    first = refer(friend, referrer)
    assert refer(friend, referrer) == first
    with pytest.raises(ValidationError) as excinfo:
        refer(friend, other)
    assert _code_error(excinfo) == "once"
    assert Referral.objects.get(referee=friend).referrer == referrer


def test_self_referral_is_refused(make_member):
    member = make_member()
    code = referral_code_for_member(member=member)
    with pytest.raises(ValidationError) as excinfo:
        referral_attach(member=member, code=code.code)
    assert _code_error(excinfo) == "self"
    assert not Referral.objects.exists()


def test_a_cycle_is_refused(make_member, refer):
    """A new member who handed out their code before being referred cannot take the code of
    someone below them."""
    newcomer, invitee = make_member(), make_member()
    refer(invitee, newcomer)
    below = make_member()
    refer(below, invitee)
    with pytest.raises(ValidationError) as excinfo:
        refer(newcomer, below)
    assert _code_error(excinfo) == "cycle"
    assert not Referral.objects.filter(referee=newcomer).exists()


def test_only_new_customers_can_be_referred(make_member, refer, pay):
    referrer = make_member()
    buyer = make_member()
    pay(buyer, run=False)
    with pytest.raises(ValidationError) as excinfo:
        refer(buyer, referrer)
    assert _code_error(excinfo) == "not_new"

    old = make_member()
    Member.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))
    old.refresh_from_db()
    with pytest.raises(ValidationError):
        refer(old, referrer)
    assert not Referral.objects.exists()


def test_unknown_or_inactive_codes_are_refused(make_member):
    member = make_member()
    with pytest.raises(ValidationError) as excinfo:
        referral_attach(member=member, code="ZZZZZZ")
    assert _code_error(excinfo) == "unknown_code"
    owner = make_member()
    code = referral_code_for_member(member=owner)
    code.is_active = False
    code.save()
    with pytest.raises(ValidationError):
        referral_attach(member=member, code=code.code)


def test_a_new_member_with_invitees_brings_them_along(make_member, refer):
    newcomer, invitee, referrer = make_member(), make_member(), make_member()
    refer(invitee, newcomer)
    refer(newcomer, referrer)
    node = ReferralNode.objects.get(pk=invitee.pk)
    assert node.path == f"/{referrer.pk}/{newcomer.pk}/{invitee.pk}/" and node.depth == 2
    top = ReferralNode.objects.get(pk=referrer.pk)
    assert (top.direct_count, top.downline_count) == (1, 2)


def test_guide_code_attributes_the_guide_and_makes_them_the_owning_guide(make_member, refer, guide):
    member = make_member(home_store=None)
    referral = refer(member, guide)
    member.refresh_from_db()
    assert referral.guide == guide and referral.referrer is None
    assert member.guide == guide and member.home_store == guide.store
    assert ReferralNode.objects.get(pk=member.pk).depth == 0


def test_too_deep_a_chain_is_refused(chain, make_member, refer, settings):
    settings.SCRM_REFERRAL_MAX_DEPTH = 3
    members = chain(4)  # depths 0..3
    with pytest.raises(ValidationError) as excinfo:
        refer(make_member(), members[-1])
    assert _code_error(excinfo) == "too_deep"


def test_without_a_programme_the_link_is_kept_and_nothing_is_rewarded(make_member, refer, pay):
    referrer, friend = make_member(), make_member()
    referral = refer(friend, referrer)
    assert referral.programme is None
    pay(friend, "500")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.QUALIFIED
    assert referrer.referral_rewards.count() == 0


def test_pending_referrals_past_their_window_expire(make_member, refer, programme):
    referral = refer(make_member(), make_member())
    assert referrals_expire_due(now=timezone.now() + timedelta(days=29)) == 0
    assert referrals_expire_due(now=timezone.now() + timedelta(days=31)) == 1
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.EXPIRED


def test_a_merged_members_code_moves_to_the_survivor_and_keeps_working(make_member):
    from members.services.members import member_merge

    owner, survivor, friend = make_member(), make_member(), make_member()
    code = referral_code_for_member(member=owner)
    member_merge(survivor=survivor, merged=owner)
    code.refresh_from_db()
    assert code.member == survivor
    assert referral_attach(member=friend, code=code.code).referrer == survivor


def test_an_inactive_guides_code_is_refused(make_member, store):
    from referrals.services.codes import referral_code_for_guide

    guide = factories.GuideFactory(store=store)
    code = referral_code_for_guide(guide=guide)
    guide.is_active = False
    guide.save()
    with pytest.raises(ValidationError):
        referral_attach(member=make_member(), code=code.code)
