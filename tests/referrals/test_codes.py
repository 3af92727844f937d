"""Referral codes: short, unambiguous, unique, one per member or guide, typed back in any case."""

import pytest
from django.core.exceptions import ValidationError

from members.services.privacy import member_erase
from referrals.models import ReferralCode
from referrals.services.codes import (
    CODE_ALPHABET,
    code_normalise,
    referral_code_for_guide,
    referral_code_for_member,
    referral_code_resolve,
    referral_link,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_alphabet_has_no_look_alikes():
    for ambiguous in "01ILO":
        assert ambiguous not in CODE_ALPHABET


def test_codes_are_short_unambiguous_and_unique(make_member):
    codes = [referral_code_for_member(member=make_member()).code for _ in range(200)]
    assert len(set(codes)) == 200
    assert all(len(code) == 6 and set(code) <= set(CODE_ALPHABET) for code in codes)


def test_a_member_keeps_one_code(make_member):
    member = make_member()
    first = referral_code_for_member(member=member)
    assert referral_code_for_member(member=member) == first
    assert ReferralCode.objects.filter(member=member).count() == 1


def test_a_clash_with_an_existing_code_is_retried(make_member, monkeypatch):
    taken = referral_code_for_member(member=make_member()).code
    tries = iter([taken, taken, "ABCDEF"])
    monkeypatch.setattr("referrals.services.codes._new_code", lambda: next(tries))
    assert referral_code_for_member(member=make_member()).code == "ABCDEF"


def test_guide_code(guide):
    code = referral_code_for_guide(guide=guide)
    assert code.guide == guide and code.member is None
    assert referral_code_for_guide(guide=guide) == code


def test_inactive_guide_gets_no_code(store):
    guide = factories.GuideFactory(store=store, is_active=False)
    with pytest.raises(ValidationError):
        referral_code_for_guide(guide=guide)


def test_codes_are_read_back_in_any_case_with_spaces(make_member):
    code = referral_code_for_member(member=make_member())
    typed = " " + "-".join([code.code[:3].lower(), code.code[3:]]) + " "
    assert code_normalise(typed) == code.code
    assert referral_code_resolve(typed) == code
    assert referral_code_resolve("O0O0O0") is None
    assert referral_code_resolve("") is None


def test_an_erased_members_code_stops_working(make_member):
    member = make_member()
    code = referral_code_for_member(member=member)
    member_erase(member=member)
    assert referral_code_resolve(code.code) is None


def test_link_carries_the_code(settings):
    settings.SCRM_REFERRAL_LINK_TEMPLATE = "https://brand.example/mp/r?c={code}"
    assert referral_link("K7M2QX") == "https://brand.example/mp/r?c=K7M2QX"
