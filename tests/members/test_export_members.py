"""The member CSV export service: columns, masking, audit, and a round trip through the import."""

import csv
import io
from datetime import date

import pytest

from members.choices import ConsentChannel
from members.models import AuditLog, Member
from members.services.exports import (
    EXPORT_COLUMNS,
    IMPORT_COLUMNS,
    members_export_csv,
    members_export_stream,
)
from members.services.members import consent_set
from members.services.tags import members_tag, tag_create, tag_group_create
from tests import factories

pytestmark = pytest.mark.django_db


def export(members, actor):
    out = io.StringIO()
    written = members_export_csv(members=members, actor=actor, stream=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert written == len(rows)
    return rows


def test_columns_cover_everything_the_import_reads():
    from members.imports.members import COLUMNS

    assert set(COLUMNS) <= set(IMPORT_COLUMNS)
    assert EXPORT_COLUMNS[0] == "id"


def test_export_rows(operator, store):
    tier = factories.TierFactory(code="gold")
    guide = factories.GuideFactory(store=store, name="小李")
    member = factories.MemberFactory(
        name="王小美",
        phone="+8613812345678",
        unionid="union-1",
        gender="female",
        birthday=date(1990, 5, 1),
        home_store=store,
        guide=guide,
        tier=tier,
        source="douyin",
    )
    group = tag_group_create(name="肤质", multi_select=False)
    members_tag(members=Member.objects.all(), tag=tag_create(group=group, name="油性"))
    consent_set(member=member, channel=ConsentChannel.SMS, granted=True)
    consent_set(member=member, channel=ConsentChannel.WECOM, granted=False)

    [row] = export(Member.objects.all(), operator)
    assert row["id"] == str(member.pk)
    assert row["phone"] == "+8613812345678" and row["unionid"] == "union-1"
    assert (row["name"], row["gender"], row["birthday"]) == ("王小美", "female", "1990-05-01")
    assert (row["store"], row["guide"], row["guide_name"], row["tier"]) == (
        store.code,
        str(guide.pk),
        "小李",
        "gold",
    )
    assert row["source"] == "douyin" and row["tags"] == "肤质:油性"
    assert (row["consent_sms"], row["consent_wecom"], row["consent_email"]) == (
        "granted",
        "withdrawn",
        "",
    )
    assert row["order_count"] == "0" and row["joined_at"]


def test_export_is_audited(operator):
    factories.MemberFactory.create_batch(3)
    export(Member.objects.all(), operator)
    audit = AuditLog.objects.get()
    assert (audit.action, audit.actor, audit.data["count"]) == ("members.export", operator, 3)


def test_stream_is_audited_before_the_first_byte(operator):
    factories.MemberFactory.create_batch(2)
    chunks = members_export_stream(members=Member.objects.all(), actor=operator, filters={"q": "x"})
    assert AuditLog.objects.get().data["filters"] == {"q": "x"}
    text = "".join(chunks)
    assert text.startswith("\ufeff" + ",".join(EXPORT_COLUMNS))
    assert len(text.strip().splitlines()) == 3


def test_stream_spans_many_chunks(operator):
    factories.MemberFactory.create_batch(1203)
    chunks = list(members_export_stream(members=Member.objects.all(), actor=operator))
    assert len(chunks) == 3
    assert sum(chunk.count("\n") for chunk in chunks) == 1204


def test_guides_get_masked_values(guide, store):
    factories.MemberFactory(home_store=store, phone="+8613812345678", openid="openid-abcdefgh-1")
    [row] = export(Member.objects.all(), guide.user)
    assert row["phone"] == "138****5678"
    assert row["openid"] == "open…gh-1"
    assert AuditLog.objects.get().data["masked"] is True


def test_formula_like_text_is_defused(operator):
    factories.MemberFactory(name="=HYPERLINK(1)", city="+上海")
    [row] = export(Member.objects.all(), operator)
    assert row["name"] == "'=HYPERLINK(1)" and row["city"] == "'+上海"
    assert row["phone"].startswith("+86")


def test_an_export_imports_back_unchanged(operator, store):
    from members.imports import members_import_csv

    group = tag_group_create(name="偏好品类")
    tag = tag_create(group=group, name="护肤")
    factories.MemberFactory.create_batch(
        5, home_store=store, guide=factories.GuideFactory(store=store), tier=factories.TierFactory()
    )
    members_tag(members=Member.objects.all(), tag=tag)
    consent_set(member=Member.objects.first(), channel=ConsentChannel.SMS, granted=True)
    out = io.StringIO()
    members_export_csv(members=Member.objects.all(), actor=operator, stream=out)

    report = members_import_csv(stream=io.BytesIO(out.getvalue().encode()), actor=operator)
    assert (report.rows, report.bad_rows, report.created, report.updated) == (5, 0, 0, 0)
    assert report.unchanged == 5
