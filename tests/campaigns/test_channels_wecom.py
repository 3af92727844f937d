"""WeCom channels against a fake WeCom API: 1:1 messages handed to the owning guide as tasks
(with and without WeCom's add_msg_template), the guide confirming them, and group broadcasts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone, translation
from rest_framework.test import APIClient

from campaigns.channels import Message, Outcome, channel_get
from campaigns.models import GuideTask, GuideTaskStatus, SkipReason, Touchpoint, TouchpointState
from campaigns.services.guide_tasks import guide_tasks_expire
from tests import factories
from tests.campaigns.helpers import NOON, campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db

TASKS = "/api/v1/guide-tasks/"


def guide_client(guide) -> APIClient:
    client = APIClient()
    client.force_authenticate(guide.user)
    return client


@pytest.fixture
def guide():
    return factories.GuideFactory(wecom_userid="zhangsan")


def customers(n, guide, **values):
    """Members owned by ``guide``, WeCom contacts who consented to WeCom messages."""
    return [
        members_with_consent(1, "wecom", guide=guide, wecom_external_userid=f"wm-{uuid.uuid4()}")[0]
        for _ in range(n)
    ]


class FakeWeCom:
    """WeCom's gettoken and add_msg_template as documented; ``answer`` is what the next
    add_msg_template calls get (a status and body), ``refuse`` the external ids it fails."""

    def __init__(self, server):
        self.server = server
        self.tokens = 0
        self.answer: tuple[int, dict] | None = None
        self.refuse: set[str] = set()
        self.expire_next_token_use = False
        server.route("GET", "/cgi-bin/gettoken", self.gettoken)
        server.route("POST", "/cgi-bin/externalcontact/add_msg_template", self.add)

    def gettoken(self, call):
        self.tokens += 1
        return 200, {
            "errcode": 0,
            "errmsg": "ok",
            "access_token": f"T{self.tokens}",
            "expires_in": 7200,
        }

    def add(self, call):
        if call.query.get("access_token") != f"T{self.tokens}":
            return 200, {"errcode": 40014, "errmsg": "invalid access_token"}
        if self.expire_next_token_use:
            self.expire_next_token_use = False
            return 200, {"errcode": 42001, "errmsg": "access_token expired"}
        if self.answer:
            return self.answer
        failed = [u for u in call.json.get("external_userid", []) if u in self.refuse]
        return 200, {
            "errcode": 0,
            "errmsg": "ok",
            "fail_list": failed,
            "msgid": f"msg{len(self.server.calls)}",
        }

    @property
    def created(self):
        return [c.json for c in self.server.calls_to("/cgi-bin/externalcontact/add_msg_template")]


@pytest.fixture
def wecom(fake_server, settings):
    settings.SCRM_WECOM_API_BASE = fake_server.url
    settings.SCRM_WECOM_CORP_ID = f"ww{uuid.uuid4().hex[:8]}"  # its own cached token
    settings.SCRM_WECOM_SECRET = "secret"
    return FakeWeCom(fake_server)


# --- through the guide's workspace (no WeCom API) -------------------------------------------


def test_each_customer_becomes_a_task_for_their_guide_and_others_are_unreachable(guide):
    (owned,) = customers(1, guide)
    (no_guide,) = members_with_consent(1, "wecom", wecom_external_userid="wm-orphan")
    (no_wecom,) = members_with_consent(1, "wecom", guide=guide)
    (no_consent,) = factories.MemberFactory.create_batch(
        1, guide=guide, wecom_external_userid="wm-x"
    )
    campaign = launch(campaign_on("wecom", body="{{ member_name }}，会员日见！"))
    run_all()
    task = GuideTask.objects.get()
    assert (task.guide, task.member, task.status) == (guide, owned, GuideTaskStatus.PENDING)
    assert task.text == f"{owned.name}，会员日见！"
    states = {
        t.member_id: (t.state, t.skip_reason, t.provider_id)
        for t in Touchpoint.objects.filter(campaign=campaign)
    }
    assert states[owned.pk] == (TouchpointState.SENT, "", f"guide-task:{task.pk}")
    assert states[no_guide.pk][1] == states[no_wecom.pk][1] == SkipReason.NO_IDENTITY
    assert states[no_consent.pk][1] == SkipReason.NO_CONSENT


def test_the_guide_lists_and_confirms_their_tasks_once(guide):
    (customer,) = customers(1, guide)
    other_guide = factories.GuideFactory(store=guide.store)
    launch(campaign_on("wecom"))
    run_all()
    (task,) = GuideTask.objects.all()
    listed = guide_client(guide).get(TASKS).json()["results"]
    assert [
        (t["id"], t["member"], t["member_name"], t["campaign"], t["in_wecom"]) for t in listed
    ] == [(task.pk, customer.pk, customer.name, "Member day", False)]
    assert guide_client(other_guide).get(TASKS).json()["results"] == []
    assert guide_client(other_guide).post(f"{TASKS}{task.pk}/confirm/").status_code == 404

    first = guide_client(guide).post(f"{TASKS}{task.pk}/confirm/")
    again = guide_client(guide).post(f"{TASKS}{task.pk}/confirm/")
    assert first.status_code == again.status_code == 200
    assert first.json()["status"] == "confirmed"
    assert first.json()["confirmed_at"] == again.json()["confirmed_at"]
    assert guide_client(guide).get(TASKS).json()["results"] == []


def test_only_guides_have_a_task_list(operator_client, member_client):
    assert operator_client.get(TASKS).status_code == 403
    assert member_client.get(TASKS).status_code in (401, 403)
    assert APIClient().get(TASKS).status_code in (401, 403)


def test_a_task_nobody_sent_in_time_expires(guide):
    customers(1, guide)
    launch(campaign_on("wecom"))
    run_all()
    (task,) = GuideTask.objects.all()
    GuideTask.objects.filter(pk=task.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    assert guide_client(guide).get(TASKS).json()["results"] == []
    assert guide_tasks_expire() == 1
    answer = guide_client(guide).post(f"{TASKS}{task.pk}/confirm/")
    assert answer.status_code == 409
    task.refresh_from_db()
    assert task.status == GuideTaskStatus.EXPIRED


def test_sending_the_same_touchpoint_again_finds_its_task(guide):
    (customer,) = customers(1, guide)
    launch(campaign_on("wecom"))
    run_all()
    touchpoint = Touchpoint.objects.get()
    message = Message(
        key=touchpoint.key,
        member_id=customer.pk,
        address=customer.wecom_external_userid,
        subject="",
        body="again",
        guide_id=guide.pk,
    )
    (result,) = channel_get("wecom").send_batch([message])
    assert result.outcome == Outcome.SENT
    assert result.provider_id == touchpoint.provider_id
    assert GuideTask.objects.count() == 1


def test_a_message_longer_than_wecom_takes_is_refused_at_save():
    with pytest.raises(ValidationError) as caught:
        campaign_on("wecom", body="好" * 1400)  # 4200 bytes
    assert "steps[0].A.body" in caught.value.message_dict


# --- created in WeCom as well --------------------------------------------------------------


def test_one_wecom_task_per_guide_and_text_with_the_tokens_cached(wecom, guide):
    mine = customers(2, guide)
    other_guide = factories.GuideFactory(wecom_userid="lisi")
    theirs = customers(1, other_guide)
    launch(campaign_on("wecom", body="会员日全场8折"))
    run_all()
    created = sorted(wecom.created, key=lambda body: body["sender"])
    assert [(b["sender"], b["chat_type"], b["text"]) for b in created] == [
        ("lisi", "single", {"content": "会员日全场8折"}),
        ("zhangsan", "single", {"content": "会员日全场8折"}),
    ]
    assert sorted(created[1]["external_userid"]) == sorted(m.wecom_external_userid for m in mine)
    assert created[0]["external_userid"] == [theirs[0].wecom_external_userid]
    assert wecom.tokens == 1
    assert set(GuideTask.objects.values_list("status", flat=True)) == {GuideTaskStatus.PENDING}
    assert all(t.wecom_msgid for t in GuideTask.objects.all())
    assert guide_client(guide).get(TASKS).json()["results"][0]["in_wecom"] is True
    # A second campaign reuses the cached token.
    launch(campaign_on("wecom", body="第二条"))
    run_all(now=NOON + timedelta(days=3))
    assert wecom.tokens == 1


def test_customers_wecom_refuses_fail_with_its_reason(wecom, guide):
    ok, refused = customers(2, guide)
    wecom.refuse = {refused.wecom_external_userid}
    launch(campaign_on("wecom"))
    with translation.override("en"):  # the stored reason is in the worker's language
        run_all()
    assert Touchpoint.objects.get(member=ok).state == TouchpointState.SENT
    failed = Touchpoint.objects.get(member=refused)
    assert failed.state == TouchpointState.FAILED and "limit" in failed.error
    assert GuideTask.objects.get(member=refused).status == GuideTaskStatus.FAILED


def test_an_expired_token_is_renewed_once(wecom, guide):
    customers(1, guide)
    wecom.tokens = 0
    wecom.expire_next_token_use = True
    launch(campaign_on("wecom"))
    run_all()
    assert wecom.tokens == 2
    assert Touchpoint.objects.get().state == TouchpointState.SENT


def test_wecom_down_retries_later_without_a_second_task(wecom, guide):
    customers(1, guide)
    wecom.answer = (502, {"error": "bad gateway"})
    launch(campaign_on("wecom"))
    run_all()
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.state == TouchpointState.PENDING and "502" in touchpoint.error
    task = GuideTask.objects.get()
    assert task.status == GuideTaskStatus.WAITING
    assert guide_client(guide).get(TASKS).json()["results"] == []  # not the guide's yet
    wecom.answer = None
    run_all(now=touchpoint.send_after)
    touchpoint.refresh_from_db()
    assert touchpoint.state == TouchpointState.SENT
    assert GuideTask.objects.get().status == GuideTaskStatus.PENDING
    assert len(wecom.created) == 2


@pytest.mark.parametrize(
    "answer, reason",
    [((200, {"errcode": 40003, "errmsg": "invalid userid"}), "WeCom 40003: invalid userid")],
)
def test_a_documented_wecom_error_fails_with_its_reason(wecom, guide, answer, reason):
    customers(1, guide)
    wecom.answer = answer
    launch(campaign_on("wecom"))
    run_all()
    touchpoint = Touchpoint.objects.get()
    assert (touchpoint.state, touchpoint.error) == (TouchpointState.FAILED, reason)


def test_a_guide_without_a_wecom_user_id_cannot_be_the_sender(wecom):
    guide = factories.GuideFactory(wecom_userid="")
    customers(1, guide)
    launch(campaign_on("wecom"))
    with translation.override("en"):
        run_all()
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.state == TouchpointState.FAILED and "WeCom user id" in touchpoint.error
    assert wecom.created == []


# --- customer groups -------------------------------------------------------------------------


def group_message(key, owner, chat_ids, body="群公告：周六快闪"):
    return Message(
        key=key, member_id=0, address=owner, subject="", body=body, options={"chat_ids": chat_ids}
    )


def test_group_broadcast_is_one_wecom_task_per_owner_and_text(wecom):
    channel = channel_get("wecom_group")
    assert channel.is_configured()
    results = channel.send_batch(
        [
            group_message("g1", "zhangsan", ["wrA", "wrB"]),
            group_message("g2", "zhangsan", ["wrC"]),
            group_message("g3", "lisi", ["wrD"]),
            group_message("g4", "", ["wrE"]),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.SENT] * 3 + [Outcome.FAILED]
    created = sorted(wecom.created, key=lambda body: body["sender"])
    assert [(b["chat_type"], b["sender"], b["chat_id_list"]) for b in created] == [
        ("group", "lisi", ["wrD"]),
        ("group", "zhangsan", ["wrA", "wrB", "wrC"]),
    ]
    assert results[0].provider_id == results[1].provider_id != results[2].provider_id


def test_group_broadcast_errors(wecom):
    channel = channel_get("wecom_group")
    wecom.answer = (200, {"errcode": -1, "errmsg": "system busy"})
    (busy,) = channel.send_batch([group_message("g1", "zhangsan", ["wrA"])])
    wecom.answer = (200, {"errcode": 41048, "errmsg": "no permission of customer contact"})
    (refused,) = channel.send_batch([group_message("g1", "zhangsan", ["wrA"])])
    assert busy.outcome == Outcome.RETRY
    assert (refused.outcome, refused.reason) == (
        Outcome.FAILED,
        "WeCom 41048: no permission of customer contact",
    )


def test_member_campaigns_cannot_use_the_group_channel(wecom):
    with pytest.raises(ValidationError) as caught:
        campaign_on("wecom_group")
    assert "channel" in caught.value.message_dict
