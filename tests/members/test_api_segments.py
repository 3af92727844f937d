"""Segments API: saved trees, live counts, previews, field catalogue, roles, bad trees."""

import pytest

from members.models import Member, Segment
from tests import factories

pytestmark = pytest.mark.django_db

URL = "/api/v1/segments/"
GOLD = {"all": [{"field": "tier", "op": "in", "value": ["gold"]}]}


@pytest.fixture
def gold_members(store):
    gold = factories.TierFactory(code="gold", name="金卡")
    return factories.MemberFactory.create_batch(3, tier=gold, home_store=store)


def test_operator_saves_a_segment_and_sees_its_count(operator_api, operator, gold_members):
    factories.MemberFactory()
    response = operator_api.post(URL, {"name": "金卡会员", "tree": GOLD}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["cached_count"] == 3 and body["counted_at"]
    assert body["owner"] == operator.username
    assert operator_api.get(URL).json()[0]["name"] == "金卡会员"


def test_count_follows_the_members(operator_api, gold_members):
    segment_id = operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json").json()["id"]
    Member.objects.filter(pk=gold_members[0].pk).update(tier=None)
    assert operator_api.post(f"{URL}{segment_id}/count/").json()["cached_count"] == 2


def test_changing_the_tree_recounts(operator_api, gold_members):
    segment_id = operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json").json()["id"]
    everyone = {"all": []}
    body = operator_api.patch(f"{URL}{segment_id}/", {"tree": everyone}, format="json").json()
    assert body["tree"] == everyone and body["cached_count"] == Member.objects.count()


def test_preview_counts_explains_and_samples(operator_api, gold_members):
    segment_id = operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json").json()["id"]
    body = operator_api.get(f"{URL}{segment_id}/preview/", {"sample": 2, "lang": "en"}).json()
    assert body["count"] == 3
    assert body["explanation"] == "All of:\n  tier is one of 金卡"
    assert [m["id"] for m in body["sample"]] == sorted((m.pk for m in gold_members), reverse=True)[
        :2
    ]
    assert body["sample"][0]["phone"].startswith("+86")


def test_evaluate_a_tree_without_saving(operator_api, gold_members):
    response = operator_api.post(f"{URL}evaluate/", {"tree": GOLD, "sample": 0}, format="json")
    assert response.status_code == 200
    assert response.json()["count"] == 3 and response.json()["sample"] == []
    assert not Segment.objects.exists()


def test_a_bad_tree_is_a_400_naming_the_node_and_nothing_is_saved(operator_api, gold_members):
    tree = {"all": [{"field": "tier", "op": "in", "value": ["gold"]}, {"field": "x", "op": "in"}]}
    response = operator_api.post(
        URL, {"name": "坏", "tree": tree}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert response.json()["tree"] == ["all[1].field: Unknown field: x."]
    assert not Segment.objects.exists()
    response = operator_api.post(f"{URL}evaluate/", {"tree": tree}, format="json")
    assert response.status_code == 400 and "all[1].field" in response.json()["tree"][0]


def test_a_tree_beyond_the_limits_is_refused(operator_api, settings):
    settings.SCRM_SEGMENT_MAX_CONDITIONS = 2
    tree = {"any": [{"field": "order_count", "op": "gte", "value": n} for n in range(3)]}
    response = operator_api.post(
        f"{URL}evaluate/", {"tree": tree}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "at most 2 conditions" in response.json()["tree"][0]


def test_duplicate_names_are_refused(operator_api, gold_members):
    operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json")
    response = operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json")
    assert response.status_code == 400 and "name" in response.json()


def test_field_catalogue_lists_fields_operators_and_choices(operator_api, gold_members):
    fields = {f["name"]: f for f in operator_api.get(f"{URL}fields/", {"lang": "en"}).json()}
    assert {"tier", "tags", "days_since_last_purchase", "consent", "purchased"} <= set(fields)
    assert {"value": "gold", "label": "金卡"} in fields["tier"]["choices"]
    assert [o["op"] for o in fields["tags"]["operators"]] == ["has_any", "has_all", "has_none"]
    assert fields["order_count"]["choices"] is None


def test_guides_members_and_unscoped_keys_cannot_reach_segments(
    guide_api, member_api, make_key_api, api
):
    for client in (guide_api, member_api, make_key_api("members:read"), api):
        assert client.get(URL).status_code in (401, 403)
        assert client.post(f"{URL}evaluate/", {"tree": GOLD}, format="json").status_code in (
            401,
            403,
        )


def test_keys_need_the_segment_scopes(make_key_api, gold_members):
    reader = make_key_api("segments:read")
    assert reader.get(URL).status_code == 200
    assert reader.post(URL, {"name": "金", "tree": GOLD}, format="json").status_code == 403
    writer = make_key_api("segments:write")
    assert writer.post(URL, {"name": "金", "tree": GOLD}, format="json").status_code == 201


def test_unknown_segment_is_404(operator_api):
    assert operator_api.get(f"{URL}999/").status_code == 404
