"""Bulk actions of the member list: tag, untag, assign guide, export, merge; tagging one member
from their page."""

import csv
import io

import pytest
from django.contrib.admin import helpers
from django.urls import reverse

from members.choices import MemberStatus, TagSource
from members.events import EventKind
from members.models import AuditLog, Event, Member, MemberMerge, MemberTag
from members.services.exports import EXPORT_COLUMNS
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:members_member_changelist")


def act(client, action, members, *, apply=None, url=CHANGELIST, select_across=False):
    data = {
        "action": action,
        helpers.ACTION_CHECKBOX_NAME: [m.pk for m in members],
        "select_across": "1" if select_across else "0",
    }
    if apply is not None:
        data.update(apply, apply="1")
    return client.post(url, data)


def test_tag_action_shows_a_form_then_tags(operator_admin, operator):
    members = factories.MemberFactory.create_batch(3)
    other = factories.MemberFactory()
    tag = factories.TagFactory()

    page = act(operator_admin, "tag_members", members[:2])
    assert page.status_code == 200
    assert "admin/members/member/action_form.html" in [t.name for t in page.templates]
    assert page.context["count"] == 2

    response = act(operator_admin, "tag_members", members[:2], apply={"tag": tag.pk})
    assert response.status_code == 302
    rows = MemberTag.objects.filter(tag=tag)
    assert {r.member_id for r in rows} == {members[0].pk, members[1].pk}
    assert {(r.source, r.tagged_by_id) for r in rows} == {(TagSource.MANUAL, operator.pk)}
    assert Event.objects.filter(kind=EventKind.TAGGED).count() == 2
    assert not MemberTag.objects.filter(member=other).exists()


def test_tag_action_across_a_filtered_list_is_set_based(operator_admin, store, other_store):
    mine = factories.MemberFactory.create_batch(3, home_store=store)
    factories.MemberFactory.create_batch(2, home_store=other_store)
    tag = factories.TagFactory()
    url = f"{CHANGELIST}?home_store__id__exact={store.pk}"
    act(operator_admin, "tag_members", mine[:1], apply={"tag": tag.pk}, url=url, select_across=True)
    assert set(MemberTag.objects.values_list("member_id", flat=True)) == {m.pk for m in mine}


def test_guide_tags_only_own_store_members(guide_admin, guide, store, other_store):
    mine = factories.MemberFactory(home_store=store)
    theirs = factories.MemberFactory(home_store=other_store)
    tag = factories.TagFactory()
    act(guide_admin, "tag_members", [mine, theirs], apply={"tag": tag.pk})
    assert list(MemberTag.objects.values_list("member_id", "tagged_by_id")) == [
        (mine.pk, guide.user.pk)
    ]


def test_untag_action(operator_admin):
    members = factories.MemberFactory.create_batch(2)
    keep, drop = factories.TagFactory.create_batch(2)
    for tag in (keep, drop):
        members_tag(members=Member.objects.all(), tag=tag)
    act(operator_admin, "untag_members", members[:1], apply={"tags": [drop.pk]})
    assert set(MemberTag.objects.values_list("member_id", "tag_id")) == {
        (members[0].pk, keep.pk),
        (members[1].pk, keep.pk),
        (members[1].pk, drop.pk),
    }
    assert Event.objects.filter(kind=EventKind.UNTAGGED, member=members[0]).count() == 1


def test_assign_guide_action(operator_admin, other_store):
    members = factories.MemberFactory.create_batch(2)
    guide = factories.GuideFactory(store=other_store)
    response = act(operator_admin, "assign_guide", members, apply={"guide": guide.pk})
    assert response.status_code == 302
    assert set(Member.objects.values_list("guide_id", "home_store_id")) == {
        (guide.pk, other_store.pk)
    }
    assert Event.objects.filter(kind=EventKind.GUIDE_ASSIGNED).count() == 2


def test_guide_cannot_run_operator_actions(guide_admin, store):
    members = factories.MemberFactory.create_batch(2, home_store=store)
    for action in ("export_csv", "merge_members", "assign_guide", "delete_selected"):
        response = act(guide_admin, action, members, apply={"survivor": members[0].pk})
        assert response.status_code == 302, action
    assert not AuditLog.objects.exists()
    assert not MemberMerge.objects.exists()
    assert Member.objects.filter(status=MemberStatus.ACTIVE).count() == 2


def test_export_action_streams_csv_and_audits(operator_admin, operator, store):
    members = factories.MemberFactory.create_batch(3, home_store=store)
    factories.MemberFactory()
    response = act(operator_admin, "export_csv", members)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(EXPORT_COLUMNS)
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(m.pk for m in members)
    assert members[0].phone in text

    audit = AuditLog.objects.get(action="members.export")
    assert audit.actor == operator
    assert audit.data["count"] == 3
    assert audit.data["filters"]["selected"] == 3
    assert audit.data["masked"] is False


def test_export_across_a_filter_records_the_filter(operator_admin, store, other_store):
    mine = factories.MemberFactory.create_batch(2, home_store=store)
    factories.MemberFactory(home_store=other_store)
    url = f"{CHANGELIST}?home_store__id__exact={store.pk}"
    response = act(operator_admin, "export_csv", mine[:1], url=url, select_across=True)
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert len(rows) == 3
    audit = AuditLog.objects.get(action="members.export")
    assert audit.data["count"] == 2
    assert audit.data["filters"]["select_across"] is True
    assert f"home_store__id__exact={store.pk}" in audit.data["filters"]["query"]


def test_export_needs_the_export_permission(operator, roles):
    from django.test import Client

    client = Client()
    operator.groups.add(roles["operators"])
    roles["operators"].permissions.remove(
        *roles["operators"].permissions.filter(codename="export_members")
    )
    client.force_login(operator)
    members = factories.MemberFactory.create_batch(1)
    response = act(client, "export_csv", members)
    assert response.status_code == 302
    assert not AuditLog.objects.exists()


def test_merge_action(operator_admin, operator):
    survivor, merged = factories.MemberFactory.create_batch(2)
    factories.OrderFactory(member=merged)
    page = act(operator_admin, "merge_members", [survivor, merged])
    assert page.status_code == 200 and len(page.context["members"]) == 2

    response = act(
        operator_admin, "merge_members", [survivor, merged], apply={"survivor": survivor.pk}
    )
    assert response.status_code == 302
    merged.refresh_from_db()
    assert merged.status == MemberStatus.MERGED and merged.merged_into_id == survivor.pk
    record = MemberMerge.objects.get()
    assert (record.survivor_id, record.merged_by_id) == (survivor.pk, operator.pk)
    assert survivor.orders.count() == 1


def test_merge_needs_exactly_two(operator_admin):
    members = factories.MemberFactory.create_batch(3)
    response = act(operator_admin, "merge_members", members, apply={"survivor": members[0].pk})
    assert response.status_code == 302
    assert not MemberMerge.objects.exists()


def test_tag_and_untag_one_member_from_their_page(guide_admin, guide, store):
    member = factories.MemberFactory(home_store=store)
    tag = factories.TagFactory()
    url = reverse("admin:members_member_tag", args=[member.pk])
    assert guide_admin.post(url, {"tag": tag.pk}).status_code == 302
    assert MemberTag.objects.get(member=member).tagged_by == guide.user
    guide_admin.post(url, {"untag": tag.pk})
    assert not MemberTag.objects.filter(member=member).exists()
    assert guide_admin.get(url).status_code == 405


def test_guide_cannot_tag_another_stores_member_from_its_page(guide_admin, other_store):
    theirs = factories.MemberFactory(home_store=other_store)
    tag = factories.TagFactory()
    url = reverse("admin:members_member_tag", args=[theirs.pk])
    assert guide_admin.post(url, {"tag": tag.pk}).status_code == 404
    assert not MemberTag.objects.exists()
