"""The campaigns API for operators: create in the nested shape (bad input is a 400 naming the
field, nothing written), change drafts and paused campaigns only, launch / pause / cancel,
results, preview, touchpoints; guides, members and unscoped keys are refused."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import (
    Campaign,
    CampaignStatus,
    Content,
    Run,
    SkipReason,
    Step,
    Touchpoint,
    TouchpointState,
    Variant,
)
from campaigns.services.campaigns import campaign_create, campaign_launch, campaign_pause
from campaigns.services.fanout import run_fan_out, runs_start_due
from scrm.api import keys
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on, members_with_consent, run_all

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/"
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def payload(**fields) -> dict:
    body = {
        "name": "会员日",
        "kind": "recurring",
        "channel": "console",
        "cron_minute": "0",
        "cron_hour": "10",
        "cron_day_of_month": "18",
        "holdout_percent": 10,
        "variants": {"A": 50, "B": 50},
        "steps": [
            {
                "contents": {
                    "A": {"body": "{{ member_name }}，会员日到了"},
                    "B": {"subject": "", "body": "会员日全场8折", "options": {}},
                }
            }
        ],
    }
    body.update(fields)
    return body


def create(client, **fields):
    return client.post(URL, payload(**fields), format="json", **EN)


@pytest.fixture
def guide_client():
    client = APIClient()
    client.force_authenticate(factories.GuideFactory().user)
    return client


@pytest.fixture
def key_client(monkeypatch):
    """A client with a real API key holding ``scopes``."""

    def make(*scopes):
        _key, secret = keys.api_key_create(name="BI", scopes=list(scopes))
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
        return client

    return make


# --- create and read -------------------------------------------------------------------------


def test_operator_creates_a_draft_in_the_nested_shape_and_reads_it_back(operator_client):
    response = create(operator_client)
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["kind"] == "recurring"
    assert body["variants"] == {"A": 50, "B": 50}
    assert body["steps"] == [
        {
            "delay_days": 0,
            "contents": {
                "A": {"subject": "", "body": "{{ member_name }}，会员日到了", "options": {}},
                "B": {"subject": "", "body": "会员日全场8折", "options": {}},
            },
        }
    ]
    assert body["created_by"].startswith("operator")
    assert operator_client.get(f"{URL}{body['id']}/").json() == body
    campaign = Campaign.objects.get()
    assert campaign.cron_day_of_month == "18" and campaign.holdout_percent == 10


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"variants": {"A": 50, "B": 30}}, "variants"),
        ({"cron_day_of_month": "31", "cron_month": "2"}, "schedule"),
        ({"cron_hour": "25"}, "schedule"),
        (
            {"steps": [{"contents": {"A": {"body": "{{ nickname }}"}, "B": {"body": "x"}}}]},
            "steps[0].A.body",
        ),
        ({"steps": [{"contents": {"A": {"body": "only A"}}}]}, "steps[0]"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"kind": "journey", "entry_event": ""}, "entry_event"),
    ],
)
def test_bad_campaigns_are_a_400_naming_the_field_and_write_nothing(operator_client, change, field):
    response = create(operator_client, **change)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Campaign.objects.exists()
    assert not Step.objects.exists() and not Variant.objects.exists()


def test_an_unknown_variable_is_named_in_the_error(operator_client):
    bad = [{"contents": {"A": {"body": "Hi {{ nickname }}"}, "B": {"body": "x"}}}]
    body = create(operator_client, steps=bad).json()
    assert "nickname" in body["steps[0].A.body"][0]


def test_status_and_other_read_only_fields_cannot_be_set(operator_client):
    response = create(operator_client, status="running", next_run_at="2026-01-01T00:00:00Z")
    assert response.status_code == 400
    assert set(response.json()) == {"status", "next_run_at"}
    assert not Campaign.objects.exists()


def test_list_filters_by_status_kind_and_channel(operator_client):
    draft = campaign_on("console")
    launched = campaign_launch(campaign=campaign_on("console"), now=NOON)
    journey = campaign_on("console", kind="journey", entry_event="member.created")

    def ids(**query):
        response = operator_client.get(URL, query)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids() == {draft.pk, launched.pk, journey.pk}
    assert ids(status="scheduled") == {launched.pk}
    assert ids(kind="journey") == {journey.pk}
    assert ids(channel="console", status="draft") == {draft.pk, journey.pk}
    assert ids(channel="sms") == set()
    assert operator_client.get(URL, {"status": "asleep"}).status_code == 400


def test_the_list_takes_the_same_queries_for_two_or_twenty_campaigns(
    operator_client, django_assert_num_queries
):
    for _i in range(2):
        create(operator_client)
    with django_assert_num_queries(4):  # campaigns, variants, steps, contents
        assert len(operator_client.get(URL).json()["results"]) == 2
    for _i in range(18):
        create(operator_client)
    with django_assert_num_queries(4):
        assert len(operator_client.get(URL).json()["results"]) == 20


# --- who may call ----------------------------------------------------------------------------


def test_guides_members_and_anonymous_callers_are_refused(guide_client, member_client):
    campaign = campaign_on("console")
    for client in (guide_client, member_client):
        assert client.get(URL).status_code == 403
        assert client.get(f"{URL}{campaign.pk}/results/").status_code == 403
        assert client.post(f"{URL}{campaign.pk}/launch/").status_code == 403
    assert APIClient().get(URL).status_code in (401, 403)
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_api_keys_need_the_campaigns_scopes(key_client):
    campaign = campaign_on("console")
    members_key = key_client("members:read", "members:write")
    assert members_key.get(URL).status_code == 403
    reader = key_client("campaigns:read")
    assert reader.get(f"{URL}{campaign.pk}/").status_code == 200
    assert reader.post(f"{URL}{campaign.pk}/launch/").status_code == 403
    writer = key_client("campaigns:read", "campaigns:write")
    assert writer.post(f"{URL}{campaign.pk}/launch/").json()["status"] == "scheduled"
    response = writer.post(URL, payload(), format="json")
    assert response.status_code == 201 and response.json()["created_by"] is None


# --- changing --------------------------------------------------------------------------------


def test_a_draft_changes_in_place(operator_client):
    campaign_id = create(operator_client).json()["id"]
    step_id = Step.objects.get().pk
    steps = [{"contents": {"A": {"body": "新文案A"}, "B": {"body": "新文案B"}}}]
    response = operator_client.patch(
        f"{URL}{campaign_id}/",
        {"name": "新名字", "cron_hour": "20", "variants": {"A": 70, "B": 30}, "steps": steps},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["name"] == "新名字" and body["cron_hour"] == "20"
    assert body["variants"] == {"A": 70, "B": 30}
    assert body["steps"][0]["contents"]["B"]["body"] == "新文案B"
    assert Step.objects.get().pk == step_id  # updated, not replaced
    assert Content.objects.count() == 2


def test_a_bad_change_is_a_400_and_changes_nothing(operator_client):
    campaign_id = create(operator_client).json()["id"]
    response = operator_client.patch(
        f"{URL}{campaign_id}/", {"name": "改了", "variants": {"A": 90, "B": 20}}, format="json"
    )
    assert response.status_code == 400 and "variants" in response.json()
    campaign = Campaign.objects.get()
    assert campaign.name == "会员日"
    assert {v.code: v.weight for v in campaign.variants.all()} == {"A": 50, "B": 50}


def test_only_drafts_and_paused_campaigns_change(operator_client):
    campaign_id = create(operator_client).json()["id"]
    operator_client.post(f"{URL}{campaign_id}/launch/")
    response = operator_client.patch(
        f"{URL}{campaign_id}/", {"cron_hour": "9"}, format="json", **EN
    )
    assert response.status_code == 409
    assert "pause" in response.json()["detail"]
    operator_client.post(f"{URL}{campaign_id}/pause/")
    response = operator_client.patch(f"{URL}{campaign_id}/", {"cron_hour": "9"}, format="json")
    assert response.status_code == 200 and response.json()["cron_hour"] == "9"
    # Resuming picks the new calendar up.
    body = operator_client.post(f"{URL}{campaign_id}/launch/").json()
    assert body["status"] == "scheduled" and "T09:00:00+08:00" in body["next_run_at"]


def test_a_launched_campaign_keeps_its_kind_channel_and_used_steps(operator_client, channel):
    members_with_consent(2, "sms")
    campaign = campaign_on("recording")
    campaign_launch(campaign=campaign, now=NOON - timedelta(hours=1))
    run_all()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.PAUSED)
    url = f"{URL}{campaign.pk}/"
    response = operator_client.patch(
        url, {"channel": "console", "kind": "recurring"}, format="json"
    )
    assert response.status_code == 400
    assert {"channel", "kind"} <= set(response.json())
    response = operator_client.patch(url, {"variants": {"B": 100}}, format="json", **EN)
    assert response.status_code == 400
    assert any("touchpoints" in m for m in response.json()["variants"])
    assert Variant.objects.filter(campaign=campaign).get().code == "A"


# --- launch, pause, cancel -------------------------------------------------------------------


def test_launching_twice_is_harmless(operator_client):
    campaign_id = create(operator_client).json()["id"]
    first = operator_client.post(f"{URL}{campaign_id}/launch/")
    second = operator_client.post(f"{URL}{campaign_id}/launch/")
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert first.json()["status"] == "scheduled" and first.json()["next_run_at"]


def test_pause_and_cancel_say_when_the_status_does_not_allow_it(operator_client):
    campaign_id = create(operator_client).json()["id"]
    response = operator_client.post(f"{URL}{campaign_id}/pause/", **EN)
    assert response.status_code == 409 and "paused" in response.json()["detail"]
    operator_client.post(f"{URL}{campaign_id}/launch/")
    assert operator_client.post(f"{URL}{campaign_id}/pause/").json()["status"] == "paused"
    Campaign.objects.filter(pk=campaign_id).update(status=CampaignStatus.COMPLETED)
    assert operator_client.post(f"{URL}{campaign_id}/cancel/").status_code == 409


def test_cancelling_skips_what_was_not_sent(operator_client, channel):
    members_with_consent(3, "sms")
    campaign = campaign_launch(campaign=campaign_on("recording"), now=NOON)
    for run in runs_start_due(now=NOON):
        run_fan_out(run=run)
    response = operator_client.post(f"{URL}{campaign.pk}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert set(Touchpoint.objects.values_list("skip_reason", flat=True)) == {"stopped"}
    assert operator_client.post(f"{URL}{campaign.pk}/cancel/").status_code == 200
    assert operator_client.post(f"{URL}{campaign.pk}/launch/").status_code == 400


def test_pausing_and_resuming_a_one_off_mid_send_reaches_each_member_once(operator_client, channel):
    members_with_consent(3, "sms")
    campaign = campaign_launch(campaign=campaign_on("recording"), now=NOON - timedelta(hours=1))
    for run in runs_start_due(now=NOON):
        run_fan_out(run=run)
    campaign_pause(campaign=campaign)
    assert operator_client.post(f"{URL}{campaign.pk}/launch/").status_code == 200
    for run in runs_start_due(now=timezone.now() + timedelta(minutes=1)):
        run_fan_out(run=run)
    assert Run.objects.filter(campaign=campaign).count() == 1
    assert Touchpoint.objects.filter(campaign=campaign).count() == 3


# --- results, preview, touchpoints -----------------------------------------------------------


def _rows(campaign, n, *, code="A", **values):
    members = factories.MemberFactory.create_batch(n)
    variant = campaign.variants.get(code=code)
    return Touchpoint.objects.bulk_create(
        Touchpoint(
            key=f"t:{campaign.pk}:{m.pk}",
            campaign=campaign,
            step=campaign.steps.get(),
            variant=variant,
            member=m,
            channel=campaign.channel,
            send_after=NOON,
            **values,
        )
        for m in members
    )


def test_results_in_numbers(operator_client):
    campaign = campaign_on("console", holdout_percent=10)
    _rows(
        campaign,
        2,
        state="sent",
        converted_at=NOON,
        bought_at=NOON,
        revenue=Decimal("99.50"),
        margin=10,
    )
    _rows(campaign, 1, state="sent")
    _rows(campaign, 1, state="skipped", skip_reason="holdout", bought_at=NOON)
    response = operator_client.get(f"{URL}{campaign.pk}/results/", **EN)
    assert response.status_code == 200
    body = response.json()
    total = body["total"]
    assert (total["audience"], total["sent"], total["converted"]) == (4, 3, 2)
    assert total["conversion_rate"] == pytest.approx(2 / 3)
    assert total["revenue"] == "199.00" and total["margin"] == "20.00"
    assert total["skipped_by_reason"] == {"holdout": 1}
    assert body["holdout"] == {"audience": 1, "rows": 1, "converted": 1, "rate": 1.0}
    uplift = body["uplift"]
    assert uplift["treatment"] == {"rows": 3, "converted": 2, "rate": pytest.approx(2 / 3)}
    assert uplift["difference"] is None and uplift["enough_data"] is False
    assert uplift["note"].startswith("Not enough data")
    assert [v["code"] for v in body["variants"]] == ["A"]
    assert body["variants"][0]["figures"]["sent"] == 3


def test_preview_for_a_member_or_with_samples(operator_client):
    member = factories.MemberFactory(name="王小明")
    campaign = campaign_on("console", subject="给{{ member_name }}", body="{{ member_name }}，您好")
    body = operator_client.get(f"{URL}{campaign.pk}/preview/", {"member": member.pk}).json()
    assert body["member"] == member.pk
    assert body["messages"] == [
        {
            "step": 0,
            "delay_days": 0,
            "variant": "A",
            "subject": "给王小明",
            "body": "王小明，您好",
            "fields": {},
        }
    ]
    sample = operator_client.get(f"{URL}{campaign.pk}/preview/").json()
    assert sample["member"] is None and sample["messages"][0]["body"] == "王小明，您好"
    for bad in ({"member": 10**9}, {"member": "abc"}, {"step": -1}):
        response = operator_client.get(f"{URL}{campaign.pk}/preview/", bad)
        assert response.status_code == 400
        assert set(response.json()) == set(bad)


def test_touchpoints_are_cursor_pages_filtered_by_state_and_variant(
    operator_client, django_assert_num_queries
):
    campaign = campaign_create(
        name="AB",
        kind="one_off",
        channel="console",
        variants={"A": 50, "B": 50},
        steps=[{"contents": {"A": {"body": "A"}, "B": {"body": "B"}}}],
    )
    sent_a = _rows(campaign, 3, state="sent", code="A")
    _rows(campaign, 2, state="pending", code="A")
    sent_b = _rows(campaign, 2, state="sent", code="B")
    url = f"{URL}{campaign.pk}/touchpoints/"
    operator_client.get(url)  # the permission check's "is a guide?" is cached on the user
    with django_assert_num_queries(2):  # the campaign, the page
        first = operator_client.get(url, {"page_size": 4}).json()
    assert len(first["results"]) == 4 and first["next"]
    with django_assert_num_queries(2):
        second = operator_client.get(first["next"]).json()
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert len(seen) == len(set(seen)) == 7
    rows = operator_client.get(url, {"state": "sent", "variant": "A"}).json()["results"]
    assert {row["id"] for row in rows} == {t.pk for t in sent_a}
    row = operator_client.get(url, {"variant": "B"}).json()["results"][0]
    assert row["id"] == max(t.pk for t in sent_b)
    assert (row["variant"], row["step"], row["state"], row["coupon"]) == ("B", 0, "sent", None)
    assert row["member_name"] and row["revenue"] == "0.00"
    assert operator_client.get(url, {"state": "lost"}).status_code == 400
    assert operator_client.get(f"{URL}999999/touchpoints/").status_code == 404
    assert operator_client.get(f"{URL}999999/results/").status_code == 404


def test_skipped_touchpoints_carry_their_reason(operator_client):
    campaign = campaign_on("console")
    _rows(campaign, 1, state=TouchpointState.SKIPPED, skip_reason=SkipReason.NO_CONSENT)
    body = operator_client.get(f"{URL}{campaign.pk}/touchpoints/", {"skip_reason": "no_consent"})
    assert body.json()["results"][0]["skip_reason"] == "no_consent"
