"""Member CSV import: upsert by identity, bad rows reported and skipped, tags and consents."""

import io

import pytest
from django.db import IntegrityError

from members.choices import ConsentStatus, TagSource
from members.imports import members as members_module
from members.imports import members_import_csv
from members.models import AuditLog, Consent, Event, Member, MemberTag
from tests import factories

pytestmark = pytest.mark.django_db


def _import(text: str, **kwargs):
    return members_import_csv(stream=io.BytesIO(text.encode("utf-8")), **kwargs)


@pytest.fixture
def skin():
    group = factories.TagGroupFactory(name="肤质", multi_select=False)
    return {name: factories.TagFactory(group=group, name=name) for name in ("油性", "干性")}


@pytest.fixture
def category():
    group = factories.TagGroupFactory(name="偏好品类", multi_select=True)
    return {name: factories.TagFactory(group=group, name=name) for name in ("护肤", "彩妆")}


def test_good_rows_are_kept_and_every_bad_row_is_reported():
    factories.StoreFactory(code="SH01")
    report = _import(
        "phone,name,gender,birthday,store\n"
        "13812345678,张三,男,1990-01-02,SH01\n"
        "12345,李四,x,1990-13-01,NOPE\n"
        "13912345678,王五,女,,\n"
    )
    assert (report.rows, report.created, report.bad_rows) == (3, 2, 1)
    errors = {(e.line, e.field) for e in report.errors}
    assert errors == {(3, "phone"), (3, "gender"), (3, "birthday"), (3, "store")}
    assert all(e.reason for e in report.errors)
    assert set(Member.objects.values_list("name", flat=True)) == {"张三", "王五"}
    zhang = Member.objects.get(name="张三")
    assert (zhang.phone, zhang.gender, zhang.home_store.code) == ("+8613812345678", "male", "SH01")
    assert AuditLog.objects.get(action="members.import").data["bad_rows"] == 1


def test_a_bad_row_does_not_roll_back_the_good_rows_of_its_batch():
    report = _import(
        "phone,name\n13800000001,a\nnot-a-phone,b\n13800000002,c\n13800000003,d\n",
        batch_size=2,
    )
    assert report.created == 3
    assert [e.line for e in report.errors] == [3]
    assert Member.objects.count() == 3


def test_reimport_updates_instead_of_duplicating_whatever_the_phone_format():
    first = _import("phone,name\n13812345678,张三\n")
    again = _import(
        "手机号,姓名,城市\n"
        "+86 138 1234 5678,张三丰,杭州\n"
        "8613812345678,张三丰,杭州\n"
        "138-1234-5678,张三丰,杭州\n"
    )
    member = Member.objects.get()
    assert first.created == 1
    assert (again.created, again.updated, again.unchanged) == (0, 1, 2)
    assert (member.name, member.city) == ("张三丰", "杭州")
    kinds = list(Event.objects.order_by("pk").values_list("kind", flat=True))
    assert kinds == ["member.created", "member.updated"]


def test_empty_cells_never_erase_and_source_defaults_to_import_for_new_members():
    existing = factories.MemberFactory(phone="+8613812345678", name="张三", source="douyin")
    _import("phone,name,city,source\n13812345678,,上海,\n13912345678,新会员,,\n")
    existing.refresh_from_db()
    assert (existing.name, existing.city, existing.source) == ("张三", "上海", "douyin")
    assert Member.objects.get(phone="+8613912345678").source == "import"


def test_identities_resolve_to_the_member_who_owns_them():
    member = factories.MemberFactory(phone="+8613812345678", unionid=None)
    report = _import("unionid,phone,name\nU1,13812345678,A\nU1,,B\n")
    member.refresh_from_db()
    assert report.created == 0
    assert (member.unionid, member.name) == ("U1", "B")


def test_identities_of_two_different_members_are_a_bad_row_not_a_merge():
    factories.MemberFactory(phone="+8613812345678", unionid=None)
    factories.MemberFactory(phone="+8613912345678", unionid="U2")
    report = _import("phone,unionid,name\n13812345678,U2,X\n")
    assert [(e.line, e.field) for e in report.errors] == [(2, "identity")]
    assert not Member.objects.filter(name="X").exists()


def test_tags_single_select_replaces_and_multi_select_adds(skin, category):
    member = factories.MemberFactory(phone="+8613812345678")
    MemberTag.objects.create(member=member, tag=skin["干性"])
    MemberTag.objects.create(member=member, tag=category["彩妆"])
    report = _import('phone,tags\n13812345678,"肤质:油性;偏好品类:护肤"\n')
    assert report.ok
    tags = set(member.member_tags.values_list("tag__name", "source"))
    assert tags == {("油性", TagSource.IMPORT), ("护肤", TagSource.IMPORT), ("彩妆", "manual")}


def test_last_row_wins_within_a_single_select_group(skin):
    _import("phone,tags\n13812345678,肤质:油性\n13812345678,肤质:干性\n")
    assert list(MemberTag.objects.values_list("tag__name", flat=True)) == ["干性"]


def test_unknown_tag_or_two_tags_of_a_single_select_group_are_bad_rows(skin):
    report = _import(
        "phone,tags\n13812345678,肤质:不存在\n13912345678,肤质:油性;肤质:干性\n13712345678,油性\n"
    )
    assert [(e.line, e.field) for e in report.errors] == [(2, "tags"), (3, "tags"), (4, "tags")]
    assert "不存在" in report.errors[0].reason
    assert not Member.objects.exists()


def test_consents_are_granted_and_withdrawn_with_events():
    member = factories.MemberFactory(phone="+8613812345678")
    report = _import("phone,consent_sms,consent_wecom\n13812345678,1,granted\n")
    assert report.updated == 1
    _import("phone,consent_sms\n13812345678,withdrawn\n")
    consents = dict(Consent.objects.filter(member=member).values_list("channel", "status"))
    assert consents == {"sms": ConsentStatus.WITHDRAWN, "wecom": ConsentStatus.GRANTED}
    methods = set(Consent.objects.values_list("method", flat=True))
    assert methods == {"import"}
    assert Event.objects.filter(member=member, kind="consent.changed").count() == 3
    again = _import("phone,consent_sms\n13812345678,0\n")
    assert again.unchanged == 1


def test_guide_by_username_sets_the_home_store_and_must_match_the_store():
    guide = factories.GuideFactory(user__username="lily")
    other = factories.StoreFactory(code="BJ01")
    report = _import(f"phone,guide,store\n13812345678,lily,\n13912345678,lily,{other.code}\n")
    member = Member.objects.get()
    assert (member.guide, member.home_store) == (guide, guide.store)
    assert [(e.line, e.field) for e in report.errors] == [(3, "guide")]


def test_line_numbers_count_physical_lines_of_quoted_multiline_values():
    report = _import('phone,name\n13812345678,"two\nlines"\n\nbad,x\n')
    assert [e.line for e in report.errors] == [5]
    assert Member.objects.get().name == "two\nlines"


def test_a_row_with_more_values_than_columns_is_bad():
    report = _import("phone,name\n13812345678,a,extra\n13912345678,b,\n")
    assert [(e.line, e.field) for e in report.errors] == [(2, "")]
    assert Member.objects.get().name == "b"


def _snapshot():
    members = {
        m.phone: (m.name, m.gender, m.city, m.source, m.home_store_id, m.unionid)
        for m in Member.objects.all()
    }
    consents = set(Consent.objects.values_list("member__phone", "channel", "status", "method"))
    events = sorted(
        (e.member.phone, e.kind, str(sorted(e.data.items())))
        for e in Event.objects.select_related("member")
    )
    return members, consents, events


def test_batch_writer_gives_what_the_services_give_row_by_row(monkeypatch):
    factories.StoreFactory(code="SH01")
    factories.MemberFactory(phone="+8613800000009", name="老会员", source="wecom")
    text = (
        "phone,unionid,name,gender,city,store,source,consent_sms,consent_wecom\n"
        "13800000001,U1,甲,女,上海,SH01,douyin,1,\n"
        "13800000002,,乙,,北京,,,0,1\n"
        "13800000001,,甲二,,,,,0,\n"
        "13800000009,U9,,男,,,,,granted\n"
        "13800000002,U1,丙,,,,,,\n"
    )
    bulk = _import(text)
    bulk_state = _snapshot()
    Member.objects.exclude(phone="+8613800000009").delete()
    Member.objects.update(unionid=None, gender="unknown", name="老会员")
    Event.objects.all().delete()
    Consent.objects.all().delete()

    def refuse(*args, **kwargs):
        raise IntegrityError("forced")

    monkeypatch.setattr(members_module, "members_write_batch", refuse)
    one_by_one = _import(text)
    assert (bulk.created, bulk.updated, bulk.unchanged, bulk.bad_rows) == (
        one_by_one.created,
        one_by_one.updated,
        one_by_one.unchanged,
        one_by_one.bad_rows,
    )
    assert [(e.line, e.field) for e in bulk.errors] == [(6, "identity")]
    assert [(e.line, e.field) for e in one_by_one.errors] == [(6, "identity")]
    assert _snapshot() == bulk_state


def test_updates_of_dates_and_references_are_written():
    store = factories.StoreFactory(code="BJ01")
    tier = factories.TierFactory(code="gold", name="金卡")
    member = factories.MemberFactory(phone="+8613812345678", birthday=None, home_store=None)
    report = _import("phone,birthday,store,tier,gender\n13812345678,1990/5/17,BJ01,金卡,female\n")
    member.refresh_from_db()
    assert report.updated == 1
    assert (str(member.birthday), member.home_store, member.tier) == ("1990-05-17", store, tier)
    assert member.gender == "female"
    event = Event.objects.get(member=member, kind="member.updated")
    assert event.data == {"fields": ["birthday", "gender", "home_store", "tier"]}
