"""The member's email address: the email channel's address, not an identity."""

import pytest
from django.core.exceptions import ValidationError

from members.models import Member
from members.services.members import member_update, member_upsert
from members.services.privacy import member_data_copy, member_erase
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"


def test_email_is_kept_with_its_domain_in_lower_case_and_may_be_shared():
    first, _ = member_upsert(phone="13800001111", email=" Wang.Li@Example.COM ")
    assert first.email == "Wang.Li@example.com"
    # A family sharing an address: two members, one email, no identity conflict.
    second, created = member_upsert(phone="13800002222", email="Wang.Li@example.com")
    assert created and second.pk != first.pk


def test_a_bad_email_is_refused_with_the_field_named(member):
    with pytest.raises(ValidationError) as caught:
        member_update(member=member, email="not-an-address")
    assert "email" in caught.value.message_dict
    member_update(member=member, email="")
    member.refresh_from_db()
    assert member.email is None


def test_api_writes_it_and_guides_see_it_masked(operator_api, guide_api, member):
    answer = operator_api.patch(f"{URL}{member.pk}/", {"email": "xm@example.com"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["email"] == "xm@example.com"
    assert guide_api.get(f"{URL}{member.pk}/").json()["email"] == "x***@example.com"
    refused = operator_api.patch(f"{URL}{member.pk}/", {"email": "xm@"}, format="json")
    assert refused.status_code == 400 and "email" in refused.json()


def test_erasure_removes_it_and_the_data_copy_shows_it():
    member = factories.MemberFactory(email="xm@example.com")
    assert member_data_copy(member=member)["identities"]["email"] == "xm@example.com"
    member_erase(member=member)
    assert Member.objects.get(pk=member.pk).email is None
