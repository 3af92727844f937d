"""Errors a member or a guide reads in the groups app come back in Simplified Chinese (the
catalogues themselves are checked in tests/test_translations.py)."""

import pytest

from groups.services.groups import group_create

pytestmark = pytest.mark.django_db


def test_a_member_reads_a_full_pool_in_chinese(make_code, make_member, member_client):
    code = make_code(auto_open=False)
    group_create(name="满员群", join_code=code, capacity=1)
    from groups.services.seats import group_join_by_code

    group_join_by_code(member=make_member(), code=code)
    response = member_client(make_member()).post(
        "/api/v1/me/groups/join/",
        {"code": code.code},
        format="json",
        HTTP_ACCEPT_LANGUAGE="zh-hans",
    )
    assert response.json() == {"code": ["此活码的群都已满员。"]}


def test_a_guide_reads_group_labels_in_chinese(staff_client, operator, make_group):
    make_group(purpose="flash_sale", expires_at="2099-01-01T00:00:00+08:00")
    body = staff_client(operator).get("/api/v1/groups/", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    row = body["results"][0]
    assert (row["purpose_label"], row["status_label"]) == ("快闪群", "开放")
