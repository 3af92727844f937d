"""Everything the groups app shows is in Simplified Chinese: the catalogue has no untranslated
or fuzzy entry, and errors a member or a guide reads come back in Chinese."""

import re
from pathlib import Path

import pytest

from groups.services.groups import group_create

pytestmark = pytest.mark.django_db

CATALOGUE = Path(__file__).resolve().parents[2] / "groups/locale/zh_Hans/LC_MESSAGES/django.po"


def test_every_message_is_translated():
    text = CATALOGUE.read_text(encoding="utf-8")
    entries = text.split("\n\n")[1:]  # after the header
    untranslated = [e for e in entries if re.search(r'^msgstr(\[0\])? ""\Z', e, re.M)]
    assert not untranslated
    assert "#, fuzzy" not in text
    assert CATALOGUE.with_suffix(".mo").stat().st_mtime >= CATALOGUE.stat().st_mtime - 5


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
