"""A guide holding the unmask permission sees full phones and WeChat ids; each time they are
served, an audit row says who saw whose (RELIABILITY.md: "unmasking is a permission and is
audited"): one row per page of a list, one per member page or member fetched."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from rest_framework.test import APIClient

from members.models import AuditLog
from members.services.audit import UNMASKED_VIEW_ACTION
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"
CHANGELIST = reverse("admin:members_member_changelist")


def audit_rows():
    return list(AuditLog.objects.filter(action=UNMASKED_VIEW_ACTION).order_by("pk"))


@pytest.fixture
def unmasking_guide(guide):
    guide.user.user_permissions.add(Permission.objects.get(codename="view_unmasked_phone"))
    return guide


@pytest.fixture
def unmasking_api(unmasking_guide):
    client = APIClient()
    client.force_authenticate(unmasking_guide.user)
    return client


@pytest.fixture
def unmasking_admin(unmasking_guide, guide_admin):
    return guide_admin


@pytest.fixture
def store_members(store):
    return [factories.MemberFactory(home_store=store, phone=f"+861381234560{i}") for i in range(3)]


def test_api_retrieve_is_audited_per_member(unmasking_api, unmasking_guide, store_members):
    member = store_members[0]
    assert unmasking_api.get(f"{URL}{member.pk}/").json()["phone"] == member.phone
    [row] = audit_rows()
    assert row.actor == unmasking_guide.user
    assert row.target == f"member:{member.pk}"
    assert row.data == {"where": "api.retrieve", "count": 1, "members": [member.pk]}


def test_api_list_is_audited_once_per_page_with_the_count(unmasking_api, store_members):
    response = unmasking_api.get(URL, {"page_size": 2})
    shown = [r["id"] for r in response.json()["results"]]
    assert len(shown) == 2
    unmasking_api.get(URL)
    first, second = audit_rows()
    assert (first.target, first.data["count"], first.data["members"]) == ("members:2", 2, shown)
    assert (second.data["where"], second.data["count"]) == ("api.list", 3)


def test_api_phone_lookup_and_update_are_audited(unmasking_api, store_members):
    member = store_members[1]
    unmasking_api.get(URL, {"phone": member.phone})
    unmasking_api.patch(f"{URL}{member.pk}/", {"city": "杭州"}, format="json")
    assert [(r.target, r.data["where"]) for r in audit_rows()] == [
        (f"member:{member.pk}", "api.lookup"),
        (f"member:{member.pk}", "api.update"),
    ]


def test_an_empty_page_is_not_audited(unmasking_api):
    assert unmasking_api.get(URL).json()["results"] == []
    assert audit_rows() == []


def test_admin_list_is_audited_once_per_page(unmasking_admin, unmasking_guide, store_members):
    html = unmasking_admin.get(CHANGELIST).content.decode()
    assert store_members[0].phone in html
    [row] = audit_rows()
    assert row.actor == unmasking_guide.user
    assert row.data["where"] == "admin.list"
    assert sorted(row.data["members"]) == sorted(m.pk for m in store_members)
    assert row.data["count"] == 3


def test_admin_member_page_is_audited(unmasking_admin, store_members):
    member = store_members[2]
    url = reverse("admin:members_member_change", args=[member.pk])
    assert member.phone in unmasking_admin.get(url).content.decode()
    [row] = audit_rows()
    assert (row.target, row.data["where"]) == (f"member:{member.pk}", "admin.page")


def test_masked_guides_and_operators_leave_no_unmask_rows(
    guide_api, guide_admin, operator_api, operator_admin, store_members
):
    """Masked views show nothing to audit; operators see identities by role (their exports,
    merges and erasures are audited where they happen)."""
    member = store_members[0]
    guide_api.get(URL)
    guide_api.get(f"{URL}{member.pk}/")
    guide_admin.get(CHANGELIST)
    operator_api.get(URL)
    operator_admin.get(CHANGELIST)
    operator_admin.get(reverse("admin:members_member_change", args=[member.pk]))
    assert audit_rows() == []
