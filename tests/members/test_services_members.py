"""Member creation, identity resolution, updates, consent and merges."""

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from members.choices import ConsentStatus, MemberStatus
from members.events import EventKind
from members.models import AuditLog, Consent, Event, Member, MemberMerge, MemberTag
from members.services.members import consent_set, member_merge, member_update, member_upsert
from members.services.orders import order_upsert
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db


def test_new_member_is_created_with_normalised_phone_and_an_event():
    member, created = member_upsert(phone="138 1234 5678", name="张三", source="douyin")
    assert created
    assert member.phone == "+8613812345678"
    assert Event.objects.filter(member=member, kind=EventKind.MEMBER_CREATED).exists()


def test_same_phone_in_another_format_updates_instead_of_duplicating():
    first, _ = member_upsert(phone="13812345678", name="张三")
    again, created = member_upsert(phone="+86 138-1234-5678", unionid="union-1", city="杭州")
    assert not created
    assert again.pk == first.pk
    assert Member.objects.count() == 1
    again.refresh_from_db()
    assert again.unionid == "union-1"
    assert again.city == "杭州"
    assert again.name == "张三"  # empty values never erase what is known


def test_union_id_finds_the_member_created_by_phone():
    member, _ = member_upsert(phone="13812345678", unionid="u-9")
    found, created = member_upsert(unionid="u-9", name="新名字")
    assert (found.pk, created) == (member.pk, False)
    assert found.name == "新名字"


def test_identities_of_two_members_are_a_conflict_not_a_silent_merge():
    member_upsert(phone="13812345678")
    member_upsert(unionid="u-2")
    with pytest.raises(ValidationError) as err:
        member_upsert(phone="13812345678", unionid="u-2")
    assert "identity" in err.value.message_dict
    assert Member.objects.count() == 2


@pytest.mark.parametrize(
    "values, field",
    [
        ({"phone": "12345"}, "phone"),
        ({"phone": "13812345678", "source": "myspace"}, "source"),
        ({"phone": "13812345678", "gender": "x"}, "gender"),
        ({"name": "no identity"}, "identity"),
    ],
)
def test_bad_input_is_refused_with_the_field_and_nothing_written(values, field):
    with pytest.raises(ValidationError) as err:
        member_upsert(**values)
    assert field in err.value.message_dict
    assert Member.objects.count() == 0


def test_guide_assignment_sets_the_home_store():
    guide = factories.GuideFactory()
    member, _ = member_upsert(phone="13812345678", guide=guide)
    assert member.home_store_id == guide.store_id


def test_update_refuses_an_identity_owned_by_someone_else():
    a = factories.MemberFactory(phone="+8613812345678")
    b = factories.MemberFactory()
    with pytest.raises(ValidationError) as err:
        member_update(member=b, phone="13812345678")
    assert "phone" in err.value.message_dict
    b.refresh_from_db()
    assert b.phone != a.phone


def test_update_records_changed_fields_on_the_timeline():
    member = factories.MemberFactory(city="上海")
    member_update(member=member, city="北京", name=member.name)
    event = Event.objects.get(member=member, kind=EventKind.MEMBER_UPDATED)
    assert event.data["fields"] == ["city"]


def test_consent_withdrawal_is_recorded_once():
    member = factories.MemberFactory()
    consent_set(member=member, channel="sms", granted=True, method="miniprogram")
    consent_set(member=member, channel="sms", granted=False, method="sms_reply:TD")
    consent_set(member=member, channel="sms", granted=False, method="sms_reply:TD")
    consent = Consent.objects.get(member=member, channel="sms")
    assert consent.status == ConsentStatus.WITHDRAWN
    assert Event.objects.filter(member=member, kind=EventKind.CONSENT_CHANGED).count() == 2


def test_unknown_consent_channel_is_refused():
    with pytest.raises(ValidationError):
        consent_set(member=factories.MemberFactory(), channel="fax", granted=True)


def test_merge_moves_everything_to_the_survivor_and_keeps_a_tombstone():
    operator = factories.OperatorFactory()
    survivor, _ = member_upsert(phone="13812345678", name="张三")
    other, _ = member_upsert(unionid="u-merge", name="张三(小程序)")
    order_upsert(
        source="pos", external_id="M1", member=other, paid_amount="100", paid_at=timezone.now()
    )
    tag = factories.TagFactory()
    members_tag(members=Member.objects.filter(pk=other.pk), tag=tag)
    consent_set(member=other, channel="wecom", granted=True)

    record = member_merge(survivor=survivor, merged=other, actor=operator)

    survivor.refresh_from_db()
    other.refresh_from_db()
    assert survivor.unionid == "u-merge"
    assert survivor.order_count == 1
    assert survivor.points_balance == 100
    assert MemberTag.objects.filter(member=survivor, tag=tag).exists()
    assert Consent.objects.filter(member=survivor, channel="wecom").exists()
    assert other.status == MemberStatus.MERGED
    assert other.merged_into_id == survivor.pk
    assert other.unionid is None
    assert record.moved["orders"] == 1
    assert MemberMerge.objects.count() == 1
    assert AuditLog.objects.filter(action="member.merge", actor=operator).exists()
    # The merged member's identity now resolves to the survivor.
    assert member_upsert(unionid="u-merge")[0].pk == survivor.pk


def test_a_member_cannot_be_merged_into_itself():
    member = factories.MemberFactory()
    with pytest.raises(ValidationError):
        member_merge(survivor=member, merged=member)
