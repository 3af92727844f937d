"""Tag groups, tags and bulk tagging through the API."""

import pytest

from members.models import Member, MemberTag, Tag, TagGroup
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db


def bulk(client, tag, body, untag=False):
    path = "bulk-untag" if untag else "bulk-tag"
    return client.post(f"/api/v1/tags/{tag.pk}/{path}/", body, format="json")


def tagged(tag):
    return set(MemberTag.objects.filter(tag=tag).values_list("member_id", flat=True))


def test_guide_reads_tag_groups_with_their_tags(guide_api):
    group = factories.TagGroupFactory(name="肤质")
    factories.TagFactory(group=group, name="油性")
    body = guide_api.get("/api/v1/tag-groups/").json()
    assert body["results"][0]["name"] == "肤质"
    assert [t["name"] for t in body["results"][0]["tags"]] == ["油性"]
    assert (
        guide_api.get("/api/v1/tags/", {"group": group.pk}).json()["results"][0]["name"] == "油性"
    )


def test_guide_cannot_create_tags(guide_api):
    group = factories.TagGroupFactory()
    assert guide_api.post("/api/v1/tag-groups/", {"name": "新组"}, format="json").status_code == 403
    response = guide_api.post("/api/v1/tags/", {"group": group.pk, "name": "新"}, format="json")
    assert response.status_code == 403
    assert not Tag.objects.exists()


def test_operator_creates_a_group_and_a_tag(operator_api):
    response = operator_api.post(
        "/api/v1/tag-groups/", {"name": "价值分层", "multi_select": False}, format="json"
    )
    assert response.status_code == 201
    group_id = response.json()["id"]
    response = operator_api.post(
        "/api/v1/tags/", {"group": group_id, "name": "高价值"}, format="json"
    )
    assert response.status_code == 201
    assert Tag.objects.get(pk=response.json()["id"]).group.name == "价值分层"


def test_keys_need_members_write_to_create_tags(make_key_api):
    group = factories.TagGroupFactory()
    body = {"group": group.pk, "name": "API"}
    assert (
        make_key_api("members:read").post("/api/v1/tags/", body, format="json").status_code == 403
    )
    assert (
        make_key_api("members:write").post("/api/v1/tags/", body, format="json").status_code == 201
    )


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "已有"}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 31}, "name"),
        ({"name": "新", "group": 999999}, "group"),
    ],
)
def test_bad_tag_is_a_field_error(operator_api, body, field):
    group = factories.TagGroupFactory()
    factories.TagFactory(group=group, name="已有")
    response = operator_api.post("/api/v1/tags/", {"group": group.pk, **body}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert Tag.objects.count() == 1


def test_duplicate_tag_group_is_a_field_error(operator_api):
    factories.TagGroupFactory(name="肤质")
    response = operator_api.post("/api/v1/tag-groups/", {"name": "肤质"}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert TagGroup.objects.count() == 1


def test_guide_bulk_tags_only_members_of_their_store(guide_api, member, other_member):
    tag = factories.TagFactory()
    response = bulk(guide_api, tag, {"members": [member.pk, other_member.pk, 999999]})
    assert response.status_code == 200
    assert response.json() == {"matched": 1, "changed": 1}
    assert tagged(tag) == {member.pk}
    assert MemberTag.objects.get(tag=tag).tagged_by_id is not None


def test_guide_bulk_tag_by_filter_stays_in_their_store(guide_api, store, other_store):
    mine = factories.MemberFactory.create_batch(3, home_store=store, source="douyin")
    factories.MemberFactory.create_batch(2, home_store=other_store, source="douyin")
    tag = factories.TagFactory()
    response = bulk(guide_api, tag, {"filter": {"source": "douyin"}})
    assert response.json() == {"matched": 3, "changed": 3}
    assert tagged(tag) == {m.pk for m in mine}


def test_guide_bulk_untag_leaves_other_stores_alone(guide_api, member, other_member):
    tag = factories.TagFactory()
    members_tag(members=Member.objects.all(), tag=tag)
    response = bulk(guide_api, tag, {"members": [member.pk, other_member.pk]}, untag=True)
    assert response.json() == {"matched": 1, "changed": 1}
    assert tagged(tag) == {other_member.pk}


def test_operator_bulk_tags_by_filter_with_tags(operator_api):
    a, b = factories.TagFactory(), factories.TagFactory()
    members = factories.MemberFactory.create_batch(4)
    members_tag(members=Member.objects.filter(pk__in=[m.pk for m in members[:2]]), tag=a)
    response = bulk(operator_api, b, {"filter": {"tag": [a.pk]}})
    assert response.json() == {"matched": 2, "changed": 2}
    again = bulk(operator_api, b, {"filter": {"tag": [a.pk]}})
    assert again.json() == {"matched": 2, "changed": 0}


def test_api_key_bulk_tag_is_recorded_as_api(make_key_api, member):
    tag = factories.TagFactory()
    assert bulk(make_key_api("members:read"), tag, {"members": [member.pk]}).status_code == 403
    assert bulk(make_key_api("members:write"), tag, {"members": [member.pk]}).status_code == 200
    assert MemberTag.objects.get(tag=tag).source == "api"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "non_field_errors"),
        ({"members": [1], "filter": {"source": "douyin"}}, "non_field_errors"),
        ({"members": list(range(1, 10_002))}, "members"),
        ({"members": []}, "members"),
        ({"members": ["x"]}, "members"),
        ({"filter": {}}, "filter"),
        ({"filter": {"colour": "red"}}, "filter"),
        ({"filter": {"tag": [999999]}}, "filter"),
        ({"filter": {"phone": "12"}}, "filter"),
    ],
)
def test_bad_bulk_target_is_a_400_and_tags_nobody(operator_api, member, body, field):
    tag = factories.TagFactory()
    response = bulk(operator_api, tag, body)
    assert response.status_code == 400
    assert field in response.json()
    assert not MemberTag.objects.exists()


def test_bulk_tag_with_unknown_tag_is_a_404(operator_api, member):
    response = operator_api.post(
        "/api/v1/tags/999999/bulk-tag/", {"members": [member.pk]}, format="json"
    )
    assert response.status_code == 404
