"""The campaigns admin, used the way operators use it: real forms posted with their variants
and messages, bad campaigns refused on the form with nothing saved, launch / pause / cancel,
the list's figures, the results and preview pages, read-only touchpoints; guides see none."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.admin import helpers
from django.test import Client
from django.urls import reverse

from campaigns.models import (
    Campaign,
    CampaignStatus,
    Content,
    SkipReason,
    Touchpoint,
    TouchpointState,
    Variant,
)
from campaigns.services.campaigns import campaign_create, campaign_launch
from members.management.commands.setup_roles import OPERATORS, SHOP_GUIDES, role_group
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on

pytestmark = pytest.mark.django_db

EN = {"HTTP_ACCEPT_LANGUAGE": "en"}
ADD = reverse("admin:campaigns_campaign_add")
CHANGELIST = reverse("admin:campaigns_campaign_changelist")
TOUCHPOINTS = reverse("admin:campaigns_touchpoint_changelist")
_keys = itertools.count()


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


@pytest.fixture
def operator_admin():
    user = factories.OperatorFactory()
    user.groups.add(role_group(OPERATORS))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


@pytest.fixture
def guide_admin():
    guide = factories.GuideFactory()
    guide.user.groups.add(role_group(SHOP_GUIDES))
    client = Client()
    client.force_login(guide.user)
    client.user = guide.user
    return client


def variant_rows(rows, initial=0) -> dict:
    data = {
        "variants-TOTAL_FORMS": str(len(rows)),
        "variants-INITIAL_FORMS": str(initial),
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        for key, value in row.items():
            data[f"variants-{i}-{key}"] = value
    return data


def message_rows(rows, initial=0) -> dict:
    data = {
        "messages-TOTAL_FORMS": str(len(rows)),
        "messages-INITIAL_FORMS": str(initial),
        "messages-MIN_NUM_FORMS": "0",
        "messages-MAX_NUM_FORMS": "1000",
    }
    for i, row in enumerate(rows):
        row = {"step": "1", "delay_days": "0", "variant": "A", **row}
        for key, value in row.items():
            data[f"messages-{i}-{key}"] = value
    return data


def form_data(variants=None, messages=None, initial=(1, 1), **fields) -> dict:
    """What the add/change form posts: the campaign's fields, then its two tables
    (``initial``: how many rows of each the page showed filled in, as the browser says)."""
    data = {
        "name": "会员日",
        "goal": "",
        "kind": "recurring",
        "channel": "console",
        "segment": "",
        "coupon_template": "",
        "send_at_0": "",
        "send_at_1": "",
        "cron_minute": "0",
        "cron_hour": "10",
        "cron_day_of_month": "18",
        "cron_month": "*",
        "cron_day_of_week": "*",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
        "entry_event": "",
        "entry_match": "",
        "exit_on_order": "on",
        "lifecycle_stage": "",
        "min_p_alive": "",
        "holdout_percent": "10",
        "attribution_days": "7",
    }
    data.update(fields)
    data.update(variant_rows(variants or [{"code": "A", "weight": "100"}], initial[0]))
    data.update(message_rows(messages or [{"body": "{{ member_name }}，会员日快乐"}], initial[1]))
    return {key: value for key, value in data.items() if value is not None}


def ab_campaign(**fields) -> Campaign:
    return campaign_create(
        name="AB",
        kind=fields.pop("kind", "one_off"),
        channel="console",
        variants={"A": 50, "B": 50},
        steps=[{"contents": {"A": {"body": "文案A"}, "B": {"body": "文案B"}}}],
        **fields,
    )


def touch(campaign, code="A", n=1, **values):
    variant = campaign.variants.get(code=code)
    step = campaign.steps.get()
    members = factories.MemberFactory.create_batch(n)
    return Touchpoint.objects.bulk_create(
        Touchpoint(
            key=f"adm:{next(_keys)}",
            campaign=campaign,
            step=step,
            variant=variant,
            member=member,
            channel=campaign.channel,
            send_after=NOON,
            **values,
        )
        for member in members
    )


def errors_of(response) -> dict:
    """The form's field errors, its non-field errors and those of its rows."""
    form = response.context["adminform"].form
    return {
        "form": {k: [str(m) for m in v] for k, v in form.errors.items()},
        "variants": form.variant_errors,
        "messages": form.message_errors,
        "variant_rows": [dict(f.errors) for f in form.variant_forms],
        "message_rows": [dict(f.errors) for f in form.message_forms],
    }


# --- adding ----------------------------------------------------------------------------------


def test_the_add_page_has_the_schedule_variants_and_messages(operator_admin):
    response = operator_admin.get(ADD, **EN)
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("cron_day_of_month", "send_at_0", "entry_event", "min_p_alive", "lifecycle_stage"):
        assert f'name="{name}"' in html
    assert 'name="variants-0-code"' in html and 'value="A"' in html
    assert 'name="messages-0-body"' in html and 'name="messages-0-template_fields"' in html
    assert "Variants (A/B split)" in html


def test_an_operator_adds_an_ab_campaign_without_writing_json(operator_admin):
    data = form_data(
        variants=[{"code": "A", "weight": "60"}, {"code": "B", "weight": "40"}],
        messages=[
            {"variant": "A", "body": "{{ member_name }}，18号会员日"},
            {
                "variant": "B",
                "subject": "会员日",
                "body": "全场8折",
                "template_code": "SMS_1",
                "template_fields": "name = {{ member_name }}\nstore = {{ store_name }}",
            },
        ],
    )
    response = operator_admin.post(ADD, data, **EN)
    assert response.status_code == 302, errors_of(response)
    campaign = Campaign.objects.get()
    assert (campaign.name, campaign.kind, campaign.status) == ("会员日", "recurring", "draft")
    assert campaign.cron_day_of_month == "18" and campaign.holdout_percent == 10
    assert campaign.created_by == operator_admin.user
    assert {v.code: v.weight for v in campaign.variants.all()} == {"A": 60, "B": 40}
    b = Content.objects.get(variant__code="B")
    assert (b.subject, b.body) == ("会员日", "全场8折")
    assert b.options == {
        "template_code": "SMS_1",
        "fields": {"name": "{{ member_name }}", "store": "{{ store_name }}"},
    }


def test_a_journey_is_steps_numbered_with_their_days(operator_admin):
    data = form_data(
        kind="journey",
        entry_event="member.created",
        entry_match="source = miniprogram",
        messages=[
            {"step": "1", "delay_days": "0", "body": "欢迎"},
            {"step": "2", "delay_days": "3", "body": "护肤小贴士"},
            {"step": "3", "delay_days": "7", "body": "送你一张券 {{ coupon_code }}"},
        ],
    )
    response = operator_admin.post(ADD, data)
    assert response.status_code == 302, errors_of(response)
    campaign = Campaign.objects.get()
    assert campaign.entry_match == {"source": "miniprogram"}
    assert [(s.position, s.delay_days) for s in campaign.steps.order_by("position")] == [
        (0, 0),
        (1, 3),
        (2, 7),
    ]


@pytest.mark.parametrize(
    ("data", "where", "text"),
    [
        (
            form_data(messages=[{"body": "Hi {{ nickname }}"}]),
            lambda e: e["message_rows"][0]["body"][0],
            "nickname",
        ),
        (
            form_data(
                variants=[{"code": "A", "weight": "50"}, {"code": "B", "weight": "30"}],
                messages=[{"variant": "A", "body": "a"}, {"variant": "B", "body": "b"}],
            ),
            lambda e: e["variants"][0],
            "add up to 100",
        ),
        (
            form_data(cron_day_of_month="31", cron_month="2"),
            lambda e: e["form"]["__all__"][0],
            "never occurs",
        ),
        (
            form_data(cron_hour="25"),
            lambda e: e["form"]["__all__"][0],
            "Invalid schedule",
        ),
        (
            form_data(variants=[{"code": "A", "weight": "50"}, {"code": "B", "weight": "50"}]),
            lambda e: e["messages"][0],
            "Step 1: Give a message for every variant",
        ),
        (
            form_data(kind="journey"),
            lambda e: e["form"]["entry_event"][0],
            "journey needs the event",
        ),
        (
            form_data(messages=[{"body": ""}]),
            lambda e: e["message_rows"][0]["body"][0],
            "empty",
        ),
        (
            form_data(holdout_percent="60"),
            lambda e: e["form"]["holdout_percent"][0],
            "50",
        ),
    ],
)
def test_bad_campaigns_come_back_on_the_form_and_nothing_is_saved(
    operator_admin, data, where, text
):
    response = operator_admin.post(ADD, data, **EN)
    assert response.status_code == 200
    assert text in where(errors_of(response))
    assert "Please correct" in response.content.decode()
    assert not Campaign.objects.exists() and not Variant.objects.exists()


# --- changing --------------------------------------------------------------------------------


def test_a_draft_is_changed_through_the_form(operator_admin):
    campaign = ab_campaign()
    page = operator_admin.get(change_url(campaign), **EN)
    assert 'value="文案B"' in page.content.decode() or "文案B" in page.content.decode()
    data = form_data(
        name="AB 改",
        kind="one_off",
        variants=[{"code": "A", "weight": "80"}, {"code": "B", "weight": "20"}],
        messages=[{"variant": "A", "body": "新A"}, {"variant": "B", "body": "新B"}],
        initial=(2, 2),
    )
    response = operator_admin.post(change_url(campaign), data)
    assert response.status_code == 302, errors_of(response)
    campaign.refresh_from_db()
    assert campaign.name == "AB 改"
    assert {v.code: v.weight for v in campaign.variants.all()} == {"A": 80, "B": 20}
    assert sorted(Content.objects.values_list("body", flat=True)) == ["新A", "新B"]


def test_the_calendar_help_shows_the_next_runs(operator_admin):
    campaign = campaign_on("console", kind="recurring", cron_day_of_month="18", cron_hour="10")
    html = operator_admin.get(change_url(campaign), **EN).content.decode()
    assert "Next runs (Asia/Shanghai):" in html
    assert "-18 10:00" in html


def test_a_scheduled_campaign_opens_read_only_until_paused(operator_admin):
    campaign = campaign_launch(campaign=ab_campaign(kind="recurring"), now=NOON)
    page = operator_admin.get(change_url(campaign), **EN)
    html = page.content.decode()
    assert page.status_code == 200
    assert 'name="messages-0-body"' not in html and "文案B" in html  # shown, not editable
    assert "Pause" in html and "Cancel" in html
    before = Content.objects.get(variant__code="A").body
    response = operator_admin.post(change_url(campaign), form_data(initial=(2, 2)))
    assert response.status_code == 403
    assert Content.objects.get(variant__code="A").body == before
    # Pause, then the schedule can change; resuming picks it up.
    state = reverse("admin:campaigns_campaign_state", args=[campaign.pk, "pause"])
    assert operator_admin.post(state).status_code == 302
    data = form_data(
        name="AB",
        kind="recurring",
        cron_hour="20",
        variants=[{"code": "A", "weight": "50"}, {"code": "B", "weight": "50"}],
        messages=[{"variant": "A", "body": "文案A"}, {"variant": "B", "body": "文案B"}],
        initial=(2, 2),
    )
    response = operator_admin.post(change_url(campaign), data)
    assert response.status_code == 302, errors_of(response)
    operator_admin.post(reverse("admin:campaigns_campaign_state", args=[campaign.pk, "launch"]))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    assert campaign.next_run_at.astimezone(NOON.tzinfo).hour == 20


# --- launch, pause, cancel -------------------------------------------------------------------


def _action(client, action, campaigns, *, follow=False, **extra):
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [c.pk for c in campaigns], **extra}
    return client.post(CHANGELIST, data, follow=follow, **EN)


def test_launch_and_pause_actions_call_the_services(operator_admin):
    good, other = campaign_on("console"), campaign_on("console")
    Campaign.objects.filter(pk=other.pk).update(status=CampaignStatus.CANCELLED)
    response = _action(operator_admin, "launch_selected", [good, other], follow=True)
    text = response.content.decode()
    assert "Launched 1 campaign" in text and "cannot be launched again" in text
    good.refresh_from_db()
    assert good.status == CampaignStatus.SCHEDULED and good.next_run_at
    _action(operator_admin, "launch_selected", [good])  # again: harmless
    assert Campaign.objects.get(pk=good.pk).status == CampaignStatus.SCHEDULED
    _action(operator_admin, "pause_selected", [good])
    assert Campaign.objects.get(pk=good.pk).status == CampaignStatus.PAUSED


def test_cancelling_asks_first(operator_admin):
    campaign = campaign_launch(campaign=campaign_on("console"), now=NOON)
    pending = touch(campaign, state=TouchpointState.PENDING)[0]
    page = _action(operator_admin, "cancel_selected", [campaign])
    assert page.status_code == 200 and "Yes, cancel them" in page.content.decode()
    assert Campaign.objects.get().status == CampaignStatus.SCHEDULED
    _action(operator_admin, "cancel_selected", [campaign], confirm="yes")
    assert Campaign.objects.get().status == CampaignStatus.CANCELLED
    pending.refresh_from_db()
    assert (pending.state, pending.skip_reason) == ("skipped", "stopped")


def test_the_cancel_button_of_the_campaign_page_asks_first(operator_admin):
    campaign = campaign_launch(campaign=campaign_on("console"), now=NOON)
    url = reverse("admin:campaigns_campaign_state", args=[campaign.pk, "cancel"])
    question = operator_admin.get(url, **EN)
    assert question.status_code == 200 and "Yes, cancel them" in question.content.decode()
    assert operator_admin.post(url).status_code == 200  # no answer yet: asked again
    assert Campaign.objects.get().status == CampaignStatus.SCHEDULED
    response = operator_admin.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response.url == change_url(campaign)
    assert Campaign.objects.get().status == CampaignStatus.CANCELLED
    launch = reverse("admin:campaigns_campaign_state", args=[campaign.pk, "launch"])
    assert operator_admin.get(launch).status_code == 405


def test_only_drafts_can_be_deleted(operator_admin):
    draft = campaign_on("console")
    launched = campaign_launch(campaign=campaign_on("console"), now=NOON)
    delete = reverse("admin:campaigns_campaign_delete", args=[launched.pk])
    assert operator_admin.post(delete, {"post": "yes"}).status_code == 403
    delete = reverse("admin:campaigns_campaign_delete", args=[draft.pk])
    assert operator_admin.post(delete, {"post": "yes"}).status_code == 302
    assert list(Campaign.objects.all()) == [launched]


# --- the list, results, preview --------------------------------------------------------------


def test_the_list_shows_sent_and_converted_without_a_query_per_row(
    operator_admin, django_assert_num_queries
):
    first = ab_campaign()
    touch(first, n=3, state=TouchpointState.SENT, converted_at=NOON)
    touch(first, n=2, state=TouchpointState.SENT)
    operator_admin.get(CHANGELIST)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as few:
        page = operator_admin.get(CHANGELIST)
    for _i in range(6):
        touch(ab_campaign(), n=1, state=TouchpointState.SENT)
    with django_assert_num_queries(len(few)):
        more = operator_admin.get(CHANGELIST)
    row = next(r for r in page.context["cl"].result_list if r.pk == first.pk)
    assert (row.sent_count, row.converted_count) == (5, 3)
    assert len(more.context["cl"].result_list) == 7


def test_the_results_page_has_the_variant_table_and_the_uplift(operator_admin):
    campaign = ab_campaign(holdout_percent=10)
    touch(campaign, "A", n=60, state=TouchpointState.SENT)
    touch(
        campaign,
        "A",
        n=20,
        state=TouchpointState.SENT,
        converted_at=NOON,
        bought_at=NOON,
        revenue=100,
    )
    touch(
        campaign,
        "B",
        n=40,
        state=TouchpointState.SENT,
        converted_at=NOON,
        bought_at=NOON,
        revenue=10,
    )
    touch(campaign, "A", n=45, state="skipped", skip_reason=SkipReason.HOLDOUT)
    touch(campaign, "B", n=5, state="skipped", skip_reason=SkipReason.HOLDOUT, bought_at=NOON)
    url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])
    response = operator_admin.get(url, **EN)
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [r["label"] for r in rows] == ["Variant A (50%)", "Variant B (50%)", rows[2]["label"]]
    assert (rows[0]["sent"], rows[0]["converted"], rows[0]["conversion_rate"]) == (80, 20, "25.0%")
    assert str(rows[0]["revenue"]) == "2000.00" and str(rows[2]["revenue"]) == "2400.00"
    uplift = {r["label"]: r for r in response.context["uplift_rows"]}
    # A: 25% against the holdout's 10% of 50 rows; B: 40 of 40 converted: too few
    # non-conversions for an interval.
    assert uplift["Variant A"]["difference"] == "+15.0 pp" and uplift["Variant A"]["ci"]
    assert uplift["Variant B"]["ci"] == ""
    assert uplift["Variant B"]["note"].startswith("Not enough data")
    html = response.content.decode()
    assert "Uplift against the holdout" in html and "Not enough data" in html


def test_the_preview_page_renders_for_a_member(operator_admin):
    member = factories.MemberFactory(name="王小明")
    campaign = campaign_on("console", body="{{ member_name }}，您好")
    url = reverse("admin:campaigns_campaign_preview", args=[campaign.pk])
    page = operator_admin.get(url, {"member": member.pk}, **EN)
    assert page.status_code == 200
    assert [m.body for m in page.context["rendered"]] == ["王小明，您好"]
    missing = operator_admin.get(url, {"member": "999999"}, **EN)
    assert "showing sample values" in missing.content.decode()


# --- touchpoints, runs, guide tasks ----------------------------------------------------------


def test_touchpoints_are_read_only_and_filtered(operator_admin):
    campaign = ab_campaign()
    a = touch(campaign, "A", n=2, state=TouchpointState.SENT)
    b = touch(campaign, "B", n=1, state="skipped", skip_reason=SkipReason.NO_CONSENT)
    touch(ab_campaign(), "A", n=2, state=TouchpointState.SENT)

    def listed(**query):
        response = operator_admin.get(TOUCHPOINTS, query)
        assert response.status_code == 200
        return {t.pk for t in response.context["cl"].result_list}

    assert listed(campaign__id__exact=campaign.pk) == {t.pk for t in a + b}
    assert listed(campaign__id__exact=campaign.pk, variant__code="A") == {t.pk for t in a}
    assert listed(skip_reason="no_consent") == {b[0].pk}
    assert listed(state="sent", campaign__id__exact=campaign.pk) == {t.pk for t in a}
    assert listed(q=str(a[0].member_id)) == {a[0].pk}
    assert operator_admin.get(reverse("admin:campaigns_touchpoint_add")).status_code == 403
    detail = reverse("admin:campaigns_touchpoint_change", args=[a[0].pk])
    assert operator_admin.get(detail).status_code == 200
    assert operator_admin.post(detail, {"state": "pending"}).status_code == 403


def test_runs_and_guide_tasks_are_listed(operator_admin):
    assert operator_admin.get(reverse("admin:campaigns_run_changelist")).status_code == 200
    assert operator_admin.get(reverse("admin:campaigns_guidetask_changelist")).status_code == 200


# --- guides ----------------------------------------------------------------------------------


def test_guides_do_not_see_campaigns(guide_admin):
    campaign = campaign_on("console")
    index = guide_admin.get(reverse("admin:index"), **EN).content.decode()
    assert CHANGELIST not in index
    urls = [
        CHANGELIST,
        ADD,
        change_url(campaign),
        reverse("admin:campaigns_campaign_results", args=[campaign.pk]),
        reverse("admin:campaigns_campaign_preview", args=[campaign.pk]),
        TOUCHPOINTS,
        reverse("admin:campaigns_guidetask_changelist"),
    ]
    for url in urls:
        assert guide_admin.get(url).status_code == 403, url
    state = reverse("admin:campaigns_campaign_state", args=[campaign.pk, "launch"])
    assert guide_admin.post(state).status_code == 403
    assert Campaign.objects.get().status == CampaignStatus.DRAFT


def test_guides_stay_out_even_when_granted_campaign_permissions(guide_admin):
    from django.contrib.auth.models import Permission

    guide_admin.user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="campaigns")
    )
    assert guide_admin.get(CHANGELIST).status_code == 403
    assert guide_admin.get(TOUCHPOINTS).status_code == 403


def test_pages_are_in_chinese_by_default(operator_admin):
    campaign = ab_campaign()
    html = operator_admin.get(change_url(campaign)).content.decode()
    assert "版本（A/B 分流）" in html and "消息" in html
    url = reverse("admin:campaigns_campaign_results", args=[campaign.pk])
    assert "对照组" in operator_admin.get(url).content.decode()
