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


# --- bad values, broken saved trees, deleting, replacing, masking, languages ----------------

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
DATE_RANGE = "A date from 1900-01-01 to 9998-12-31 is required."


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "joined", "op": "between", "value": ["2026-01-01", "9999-12-31"]},
        {"field": "joined", "op": "before", "value": "0001-01-01"},
        {"field": "joined", "op": "after", "value": "0001-01-01"},
    ],
)
def test_dates_beyond_the_calendar_are_a_400_naming_the_node(operator_api, condition):
    tree = {"all": [GOLD["all"][0], {"any": [condition]}]}
    factories.TierFactory(code="gold")
    for method, url, body in (
        ("post", URL, {"name": "坏", "tree": tree}),
        ("post", f"{URL}evaluate/", {"tree": tree}),
    ):
        response = getattr(operator_api, method)(url, body, format="json", **EN)
        assert response.status_code == 400, response.content
        assert response.json()["tree"] == [f"all[1].any[0].value: {DATE_RANGE}"]
    segment_id = operator_api.post(URL, {"name": "好", "tree": GOLD}, format="json").json()["id"]
    response = operator_api.patch(f"{URL}{segment_id}/", {"tree": tree}, format="json", **EN)
    assert response.status_code == 400
    assert response.json()["tree"] == [f"all[1].any[0].value: {DATE_RANGE}"]
    assert Segment.objects.get().tree == GOLD


def test_tag_ids_beyond_bigint_are_a_400_naming_the_node(operator_api):
    tree = {"not": {"field": "tags", "op": "has_any", "value": [2**64]}}
    response = operator_api.post(f"{URL}evaluate/", {"tree": tree}, format="json", **EN)
    assert response.status_code == 400
    assert response.json()["tree"][0].startswith("not.value: Tags are given by their ids")


def test_counting_a_tree_whose_tag_was_deleted_is_a_400_with_the_reason(operator_api, store):
    tag = factories.TagFactory()
    tree = {"all": [{"field": "tags", "op": "has_any", "value": [tag.pk]}]}
    segment_id = operator_api.post(URL, {"name": "标签", "tree": tree}, format="json").json()["id"]
    tag_id = tag.pk
    tag.delete()
    response = operator_api.post(f"{URL}{segment_id}/count/", **EN)
    assert response.status_code == 400
    assert response.json() == {"tree": [f"all[0].value: Unknown tag id(s): {tag_id}."]}
    response = operator_api.get(f"{URL}{segment_id}/preview/", **EN)
    assert response.status_code == 400 and "all[0].value" in response.json()["tree"][0]


def test_a_segment_a_campaign_uses_is_not_deleted_and_the_409_names_it(operator_api, gold_members):
    from django.apps import apps

    segment_id = operator_api.post(URL, {"name": "金", "tree": GOLD}, format="json").json()["id"]
    campaign_model = apps.get_model("campaigns", "Campaign")
    campaign = campaign_model.objects.create(
        name="618 大促", kind="one_off", channel="sms", segment_id=segment_id
    )
    response = operator_api.delete(f"{URL}{segment_id}/", **EN)
    assert response.status_code == 409
    body = response.json()
    assert "618 大促" in body["detail"] and "in use" in body["detail"]
    assert body["used_by"] == [
        {"type": str(campaign_model._meta.verbose_name), "id": campaign.pk, "name": "618 大促"}
    ]
    assert Segment.objects.filter(pk=segment_id).exists()

    campaign.delete()
    assert operator_api.delete(f"{URL}{segment_id}/").status_code == 204
    assert not Segment.objects.exists()


def test_put_replaces_name_description_and_tree(operator_api, gold_members):
    created = operator_api.post(
        URL, {"name": "金", "description": "老的", "tree": GOLD}, format="json"
    ).json()
    url = f"{URL}{created['id']}/"
    everyone = {"all": []}
    response = operator_api.put(url, {"name": "全部", "tree": everyone}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["name"], body["description"], body["tree"]) == ("全部", "", everyone)
    assert body["cached_count"] == Member.objects.count()
    response = operator_api.put(url, {"name": "只有名字"}, format="json")
    assert response.status_code == 400 and "tree" in response.json()
    assert Segment.objects.get().name == "全部"


def test_a_segments_only_key_sees_masked_phones_in_samples(make_key_api, gold_members):
    segment = Segment.objects.create(name="金", tree=GOLD)
    newest = max(gold_members, key=lambda m: m.pk)
    for scopes, masked in (
        (("segments:read",), True),
        (("segments:read", "members:read"), False),
    ):
        body = make_key_api(*scopes).get(f"{URL}{segment.pk}/preview/", {"sample": 1}).json()
        phone = body["sample"][0]["phone"]
        assert (phone != newest.phone) is masked, (scopes, phone)
        if masked:
            assert "*" in phone and phone[-4:] == newest.phone[-4:]
    body = (
        make_key_api("segments:write")
        .post(f"{URL}evaluate/", {"tree": GOLD, "sample": 1}, format="json")
        .json()
    )
    assert body["sample"][0]["phone"] != newest.phone


def test_parameter_errors_speak_the_callers_language(operator_api, gold_members):
    segment = Segment.objects.create(name="金", tree=GOLD)
    url = f"{URL}{segment.pk}/preview/"
    english = operator_api.get(url, {"sample": 99}, **EN).json()
    chinese = operator_api.get(url, {"sample": 99}, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english == {"sample": ["A whole number from 0 to 50."]}
    assert chinese["sample"][0] != english["sample"][0] and "50" in chinese["sample"][0]
    english = operator_api.get(url, {"lang": "fr"}, **EN).json()
    chinese = operator_api.get(url, {"lang": "fr"}, HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert english == {"lang": ["Use zh-hans or en."]}
    assert chinese["lang"][0] != english["lang"][0] and "zh-hans" in chinese["lang"][0]
