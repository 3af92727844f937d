"""Members API: list, retrieve, update, upsert, per role."""

from datetime import timedelta

import pytest
from django.utils import timezone

from members.choices import ConsentChannel
from members.models import Event, Member, MemberTag
from members.services.members import consent_set
from members.services.tags import members_tag
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"


def ids(response):
    return [row["id"] for row in response.json()["results"]]


# --- who sees what -----------------------------------------------------------------------------


def test_operator_lists_every_member_newest_first(operator_api, member, other_member):
    response = operator_api.get(URL)
    assert response.status_code == 200
    assert ids(response) == [other_member.pk, member.pk]
    assert response.json()["results"][1]["phone"] == member.phone


def test_guide_lists_only_their_store_with_masked_identities(guide_api, member, other_member):
    Member.objects.filter(pk=member.pk).update(
        phone="+8613812341234", unionid="oUnion1234567890abcd"
    )
    response = guide_api.get(URL)
    assert ids(response) == [member.pk]
    row = response.json()["results"][0]
    assert row["phone"] == "138****1234"
    assert row["unionid"] == "oUni…abcd"


def test_guide_gets_404_for_another_stores_member(guide_api, other_member):
    assert guide_api.get(f"{URL}{other_member.pk}/").status_code == 404
    response = guide_api.patch(f"{URL}{other_member.pk}/", {"name": "改名"}, format="json")
    assert response.status_code == 404
    other_member.refresh_from_db()
    assert other_member.name != "改名"


def test_guide_filtering_by_another_store_sees_nobody(guide_api, other_member, other_store):
    response = guide_api.get(URL, {"store": other_store.code})
    assert response.status_code == 200
    assert ids(response) == []


def test_guide_with_unmask_permission_sees_full_phone(guide, member):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    guide.user.user_permissions.add(Permission.objects.get(codename="view_unmasked_phone"))
    client = APIClient()
    client.force_authenticate(guide.user)
    assert client.get(f"{URL}{member.pk}/").json()["phone"] == member.phone


def test_api_key_needs_members_read_to_list(make_key_api, member):
    assert make_key_api("orders:write").get(URL).status_code == 403
    response = make_key_api("members:read").get(URL)
    assert response.status_code == 200
    assert ids(response) == [member.pk]


def test_member_token_and_anonymous_are_refused(member_api, api, member):
    assert member_api.get(URL).status_code == 403
    assert member_api.get(f"{URL}{member.pk}/").status_code == 403
    assert api.get(URL).status_code == 401


def test_retrieve_shows_tags_and_consent(operator_api, member):
    tag = factories.TagFactory(name="敏感肌")
    members_tag(members=Member.objects.filter(pk=member.pk), tag=tag)
    consent_set(member=member, channel=ConsentChannel.SMS, granted=True, method="test")
    body = operator_api.get(f"{URL}{member.pk}/").json()
    assert [t["name"] for t in body["tags"]] == ["敏感肌"]
    assert body["consents"] == {"sms": "granted"}


def test_put_is_not_allowed(operator_api, member):
    assert operator_api.put(f"{URL}{member.pk}/", {}, format="json").status_code == 405


# --- filters and paging ------------------------------------------------------------------------


def test_phone_filter_accepts_any_format(operator_api):
    wanted = factories.MemberFactory(phone="+8613912345678")
    factories.MemberFactory()
    for raw in ("13912345678", "+86 139 1234 5678", "139-1234-5678"):
        assert ids(operator_api.get(URL, {"phone": raw})) == [wanted.pk]


def test_invalid_phone_filter_is_a_400(operator_api):
    response = operator_api.get(URL, {"phone": "12345"})
    assert response.status_code == 400
    assert "phone" in response.json()


def test_tag_filter_requires_all_tags(operator_api):
    a, b = factories.TagFactory(), factories.TagFactory()
    both, only_a, _none = factories.MemberFactory.create_batch(3)
    members_tag(members=Member.objects.filter(pk__in=[both.pk, only_a.pk]), tag=a)
    members_tag(members=Member.objects.filter(pk=both.pk), tag=b)
    assert ids(operator_api.get(URL, {"tag": [a.pk, b.pk]})) == [both.pk]
    assert ids(operator_api.get(URL, {"tag": a.pk})) == [only_a.pk, both.pk]


def test_unknown_tag_filter_is_a_400(operator_api):
    response = operator_api.get(URL, {"tag": 999999})
    assert response.status_code == 400
    assert "tag" in response.json()


def test_profile_filters(operator_api, store, guide):
    gold = factories.TierFactory(code="gold")
    now = timezone.now()
    match = factories.MemberFactory(
        name="张三", home_store=store, guide=guide, tier=gold, source="douyin"
    )
    Member.objects.filter(pk=match.pk).update(last_purchase_at=now - timedelta(days=3))
    consent_set(member=match, channel=ConsentChannel.WECOM, granted=True)
    other = factories.MemberFactory(name="李四", source="weibo")
    Member.objects.filter(pk=other.pk).update(
        last_purchase_at=now - timedelta(days=60), created_at=now - timedelta(days=10)
    )
    filters = {
        "name": "张",
        "tier": "gold",
        "store": store.code,
        "guide": guide.pk,
        "source": "douyin",
        "consent": "wecom",
        "last_purchase_after": (now - timedelta(days=7)).isoformat(),
        "created_after": (now - timedelta(days=1)).isoformat(),
    }
    for name, value in filters.items():
        assert ids(operator_api.get(URL, {name: value})) == [match.pk], name
    assert ids(operator_api.get(URL, filters)) == [match.pk]
    before = {
        "last_purchase_before": (now - timedelta(days=30)).isoformat(),
        "created_before": (now - timedelta(days=5)).isoformat(),
    }
    for name, value in before.items():
        assert ids(operator_api.get(URL, {name: value})) == [other.pk], name


def test_withdrawn_consent_does_not_match(operator_api, member):
    consent_set(member=member, channel=ConsentChannel.SMS, granted=True)
    consent_set(member=member, channel=ConsentChannel.SMS, granted=False)
    assert ids(operator_api.get(URL, {"consent": "sms"})) == []


def test_page_size_is_capped_at_200(operator_api, store):
    Member.objects.bulk_create(
        [Member(phone=f"+86137{n:08d}", home_store=store) for n in range(205)]
    )
    response = operator_api.get(URL, {"page_size": 1000})
    assert len(response.json()["results"]) == 200
    assert response.json()["next"]


def test_cursor_pages_walk_every_member_once(operator_api, store):
    created = factories.MemberFactory.create_batch(7, home_store=store)
    seen, url, params = [], URL, {"page_size": 3}
    while url:
        body = operator_api.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        url, params = body["next"], None
    assert seen == sorted((m.pk for m in created), reverse=True)


def _populate(count, store):
    tag = factories.TagFactory()
    members = factories.MemberFactory.create_batch(count, home_store=store)
    members_tag(members=Member.objects.filter(pk__in=[m.pk for m in members]), tag=tag)
    for m in members:
        consent_set(member=m, channel=ConsentChannel.SMS, granted=True)
    return tag


@pytest.mark.parametrize("role", ["operator", "guide"])
def test_member_list_query_count_does_not_grow_with_the_page(
    role, operator_api, guide_api, store, django_assert_num_queries
):
    client = operator_api if role == "operator" else guide_api
    _populate(2, store)
    client.get(URL)  # warm the user's cached guide lookup, as any second request would
    # one statement finds the page and renders it with its tags and consents
    with django_assert_num_queries(1):
        assert len(client.get(URL).json()["results"]) == 2
    tag = _populate(30, store)
    with django_assert_num_queries(1):
        assert len(client.get(URL).json()["results"]) == 32
    with django_assert_num_queries(1):  # store codes are checked by the statement itself
        assert len(client.get(URL, {"store": store.code}).json()["results"]) == 32
    with django_assert_num_queries(2):  # + validating the tag id of the filter (MemberFilter)
        assert len(client.get(URL, {"tag": tag.pk}).json()["results"]) == 30


# --- PATCH -------------------------------------------------------------------------------------


def test_guide_updates_a_member_of_their_store(guide_api, member):
    response = guide_api.patch(
        f"{URL}{member.pk}/",
        {"name": "王五", "city": "杭州", "birthday": "1990-05-01"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["name"] == "王五"
    member.refresh_from_db()
    assert (member.name, member.city, str(member.birthday)) == ("王五", "杭州", "1990-05-01")
    assert Event.objects.filter(member=member, kind="member.updated").exists()


@pytest.mark.parametrize("field", ["home_store", "guide", "tier"])
def test_guide_cannot_move_a_member(guide_api, member, other_store, field):
    value = {"home_store": other_store.code, "guide": None, "tier": "gold"}[field]
    response = guide_api.patch(f"{URL}{member.pk}/", {field: value}, format="json")
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.home_store_id != other_store.pk


def test_operator_moves_a_member_to_a_guide_and_their_store(operator_api, member, other_store):
    other_guide = factories.GuideFactory(store=other_store)
    response = operator_api.patch(
        f"{URL}{member.pk}/",
        {"guide": other_guide.pk, "home_store": other_store.code},
        format="json",
    )
    assert response.status_code == 200
    member.refresh_from_db()
    assert (member.guide_id, member.home_store_id) == (other_guide.pk, other_store.pk)


@pytest.mark.parametrize(
    "field, value",
    [("points_balance", 99999), ("status", "erased"), ("token_version", 5), ("order_count", 9)],
)
def test_patch_refuses_fields_that_are_not_profile(operator_api, member, field, value):
    response = operator_api.patch(f"{URL}{member.pk}/", {field: value, "name": "x"}, format="json")
    assert response.status_code == 400
    assert field in response.json()
    member.refresh_from_db()
    assert member.name != "x"
    assert member.points_balance == 0


def test_patch_with_invalid_phone_is_a_field_error(operator_api, member):
    response = operator_api.patch(f"{URL}{member.pk}/", {"phone": "abc"}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["phone"]


def test_patch_with_another_members_phone_is_refused(operator_api, member, other_member):
    response = operator_api.patch(
        f"{URL}{member.pk}/", {"phone": other_member.phone}, format="json"
    )
    assert response.status_code == 400
    assert "phone" in response.json()


def test_patch_with_unknown_store_is_a_field_error(operator_api, member):
    response = operator_api.patch(f"{URL}{member.pk}/", {"home_store": "NOPE"}, format="json")
    assert response.status_code == 400
    assert "home_store" in response.json()


def test_key_with_read_scope_cannot_patch(make_key_api, member):
    response = make_key_api("members:read").patch(
        f"{URL}{member.pk}/", {"name": "x"}, format="json"
    )
    assert response.status_code == 403


# --- upsert ------------------------------------------------------------------------------------


def test_upsert_creates_then_finds_the_same_member_by_phone(make_key_api, store):
    client = make_key_api("members:write")
    first = client.post(
        f"{URL}upsert/",
        {
            "phone": "13800001111",
            "name": "赵六",
            "source": "offline_store",
            "home_store": store.code,
        },
        format="json",
    )
    assert first.status_code == 201
    assert first.json()["phone"] == "+8613800001111"
    again = client.post(
        f"{URL}upsert/", {"phone": "+86 138 0000 1111", "city": "苏州"}, format="json"
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"] == "赵六"
    assert again.json()["city"] == "苏州"
    assert Member.objects.count() == 1


def test_upsert_without_identity_is_a_400(operator_api):
    response = operator_api.post(f"{URL}upsert/", {"name": "无名"}, format="json")
    assert response.status_code == 400
    assert "identity" in response.json()
    assert not Member.objects.exists()


def test_upsert_with_identities_of_two_members_is_refused(operator_api, member, other_member):
    Member.objects.filter(pk=other_member.pk).update(unionid="u-other")
    response = operator_api.post(
        f"{URL}upsert/", {"phone": member.phone, "unionid": "u-other", "name": "x"}, format="json"
    )
    assert response.status_code == 400
    assert "identity" in response.json()


def test_upsert_with_unknown_source_is_a_field_error(operator_api):
    response = operator_api.post(
        f"{URL}upsert/", {"phone": "13800001111", "source": "fax"}, format="json"
    )
    assert response.status_code == 400
    assert "source" in response.json()
    assert not Member.objects.exists()


def test_upsert_guide_of_another_store_than_home_store_is_refused(operator_api, guide, other_store):
    response = operator_api.post(
        f"{URL}upsert/",
        {"phone": "13800001111", "guide": guide.pk, "home_store": other_store.code},
        format="json",
    )
    assert response.status_code == 400
    assert "guide" in response.json()


def test_guides_and_read_keys_cannot_upsert(guide_api, make_key_api):
    body = {"phone": "13800001111"}
    assert guide_api.post(f"{URL}upsert/", body, format="json").status_code == 403
    assert (
        make_key_api("members:read").post(f"{URL}upsert/", body, format="json").status_code == 403
    )
    assert not Member.objects.exists()


@pytest.mark.parametrize("mask", [False, True])
def test_fast_rendering_matches_the_documented_serializer(member, other_member, guide, mask):
    """The endpoints render members in one SQL statement (members.api.member_rows) for speed;
    the schema is MemberSerializer. Both must produce the same JSON, masked or not, for a
    member with everything set and for a bare one (no tags, consents or purchases)."""
    from members.api.member_rows import render_members
    from members.api.serializers.members import MemberSerializer, member_api_queryset

    tier = factories.TierFactory(code="gold")
    whole_second = timezone.now().replace(microsecond=0)
    Member.objects.filter(pk=member.pk).update(
        guide=guide,
        tier=tier,
        birthday="1990-01-02",
        unionid="oUnion1234567890abcd",
        openid="oOpen1234567890abcd",
        email="xiaoming.wang@example.com",
        first_purchase_at=whole_second,
        last_purchase_at=timezone.now(),
        total_paid="1234.50",
        total_margin="0.05",
    )
    members_tag(members=Member.objects.filter(pk=member.pk), tag=factories.TagFactory())
    members_tag(members=Member.objects.filter(pk=member.pk), tag=factories.TagFactory())
    first_tag = MemberTag.objects.filter(member=member).order_by("pk").first()
    MemberTag.objects.filter(pk=first_tag.pk).update(created_at=whole_second)
    consent_set(member=member, channel=ConsentChannel.SMS, granted=True)
    consent_set(member=member, channel=ConsentChannel.EMAIL, granted=False)
    queryset = Member.objects.filter(pk__in=[member.pk, other_member.pk])
    reference = MemberSerializer(
        member_api_queryset(queryset).order_by("-pk"), many=True, context={"mask": mask}
    ).data
    assert render_members(queryset, mask=mask) == [dict(row) for row in reference]


@pytest.mark.parametrize("size", ["0", "-1", "abc", "", "null", "2.5"])
def test_a_page_size_that_is_not_a_whole_number_from_1_is_refused(operator_api, size):
    response = operator_api.get(URL, {"page_size": size}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 400
    assert response.json() == {"page_size": ["A whole number from 1 (at most 200 are served)."]}
