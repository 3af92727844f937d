"""Tag groups, tags, and set-based tagging."""

import pytest
from django.core.exceptions import ValidationError

from members.events import EventKind
from members.models import Event, Member, MemberTag
from members.services.tags import (
    members_tag,
    members_untag,
    tag_create,
    tag_group_create,
    tag_resolve,
)
from tests import factories

pytestmark = pytest.mark.django_db


def test_bulk_tag_is_idempotent_and_reports_only_new_taggings():
    factories.MemberFactory.create_batch(5)
    tag = factories.TagFactory()
    assert members_tag(members=Member.objects.all(), tag=tag, source="import") == 5
    assert members_tag(members=Member.objects.all(), tag=tag) == 0
    assert MemberTag.objects.filter(tag=tag, source="import").count() == 5
    assert Event.objects.filter(kind=EventKind.TAGGED).count() == 5


def test_bulk_tag_touches_only_the_given_members():
    store = factories.StoreFactory()
    mine = factories.MemberFactory.create_batch(3, home_store=store)
    factories.MemberFactory.create_batch(2)
    tag = factories.TagFactory()
    members_tag(members=Member.objects.filter(home_store=store), tag=tag)
    assert set(MemberTag.objects.values_list("member_id", flat=True)) == {m.pk for m in mine}


def test_single_select_group_replaces_the_previous_tag():
    group = tag_group_create(name="肤质", multi_select=False)
    oily = tag_create(group=group, name="油性")
    dry = tag_create(group=group, name="干性")
    member = factories.MemberFactory()
    qs = Member.objects.filter(pk=member.pk)
    members_tag(members=qs, tag=oily)
    members_tag(members=qs, tag=dry)
    assert list(MemberTag.objects.filter(member=member).values_list("tag__name", flat=True)) == [
        "干性"
    ]
    assert Event.objects.filter(member=member, kind=EventKind.UNTAGGED).count() == 1


def test_multi_select_group_keeps_both_tags():
    group = tag_group_create(name="偏好品类", multi_select=True)
    a, b = tag_create(group=group, name="护肤"), tag_create(group=group, name="彩妆")
    member = factories.MemberFactory()
    members_tag(members=Member.objects.filter(pk=member.pk), tag=a)
    members_tag(members=Member.objects.filter(pk=member.pk), tag=b)
    assert MemberTag.objects.filter(member=member).count() == 2


def test_untag_removes_and_records():
    tag = factories.TagFactory()
    factories.MemberFactory.create_batch(3)
    members_tag(members=Member.objects.all(), tag=tag)
    assert members_untag(members=Member.objects.all(), tags=[tag]) == 3
    assert not MemberTag.objects.exists()


def test_duplicate_and_overlong_names_are_refused():
    group = tag_group_create(name="渠道")
    tag_create(group=group, name="抖音")
    with pytest.raises(ValidationError):
        tag_create(group=group, name="抖音")
    with pytest.raises(ValidationError):
        tag_create(group=group, name="x" * 31)
    with pytest.raises(ValidationError):
        tag_group_create(name="渠道")


def test_tag_resolve_by_group_and_name_and_unknown_tag_error():
    group = tag_group_create(name="肤质")
    tag = tag_create(group=group, name="敏感")
    assert tag_resolve(ref="肤质:敏感") == tag
    assert tag_resolve(ref=str(tag.pk)) == tag
    with pytest.raises(ValidationError) as err:
        tag_resolve(ref="肤质:不存在")
    assert "tag" in err.value.message_dict
