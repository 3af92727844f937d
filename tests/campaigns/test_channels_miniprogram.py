"""Mini-program subscription messages against a fake WeChat API, and the count of one-time
subscriptions the mini-program reports: spent once per touchpoint, never twice."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from campaigns.channels import Message, Outcome, channel_get
from campaigns.models import (
    MiniProgramSubscription,
    SkipReason,
    SubscriptionSpend,
    Touchpoint,
    TouchpointState,
)
from campaigns.services.subscriptions import subscriptions_accept, subscriptions_left
from members.models import Member
from members.services.members import consent_set
from tests import factories
from tests.campaigns.helpers import campaign_on, launch, run_all

pytestmark = pytest.mark.django_db

SUBSCRIPTIONS = "/api/v1/me/subscriptions/"
SEND = "/cgi-bin/message/subscribe/send"
TEMPLATE = "tmpl-member-day"
OPTIONS = {
    "template_id": TEMPLATE,
    "page": "pages/coupon/index?from=member-day",
    "fields": {"thing1": "{{ member_name }}，会员日专享", "time2": "2026年6月18日"},
}


class FakeWeChat:
    """stable_token and subscribeMessage.send as documented; ``answers`` maps an open id to the
    (status, body) its sends get instead of success."""

    def __init__(self, server):
        self.server = server
        self.tokens = 0
        self.answers: dict[str, tuple[int, dict]] = {}
        self.refuse_token_once = False
        server.route("POST", "/cgi-bin/stable_token", self.stable_token)
        server.route("POST", SEND, self.send)

    def stable_token(self, call):
        assert call.json["grant_type"] == "client_credential"
        self.tokens += 1
        return 200, {"access_token": f"S{self.tokens}", "expires_in": 7200}

    def send(self, call):
        if call.query.get("access_token") != f"S{self.tokens}" or self.refuse_token_once:
            self.refuse_token_once = False
            return 200, {"errcode": 40001, "errmsg": "invalid credential"}
        answer = self.answers.get(call.json["touser"])
        return answer or (
            200,
            {"errcode": 0, "errmsg": "ok", "msgid": 1000 + len(self.server.calls)},
        )

    @property
    def sent(self):
        return [c.json for c in self.server.calls_to(SEND)]


@pytest.fixture
def wechat(fake_server, settings):
    settings.SCRM_WECHAT_API_BASE = fake_server.url
    settings.SCRM_WECHAT_APP_ID = f"wx{uuid.uuid4().hex[:12]}"  # its own cached token
    settings.SCRM_WECHAT_APP_SECRET = "secret"
    return FakeWeChat(fake_server)


def fans(n, *, subscribed: int = 1, template=TEMPLATE) -> list[Member]:
    """Members signed in from the mini-program who allow its messages, each having accepted
    ``subscribed`` messages of ``template``."""
    members = []
    for _ in range(n):
        member = factories.MemberFactory(openid=f"o-{uuid.uuid4().hex[:12]}")
        consent_set(member=member, channel="miniprogram", granted=True)
        for _ in range(subscribed):
            subscriptions_accept(member=member, template_ids=[template])
        members.append(member)
    return members


def left(member, template=TEMPLATE) -> int:
    return subscriptions_left(member=member, template_ids=[template])[template]


# --- end to end --------------------------------------------------------------------------------


def test_a_campaign_sends_the_template_and_spends_one_subscription_each(wechat):
    (fan,) = fans(1, subscribed=2)
    (used_up,) = fans(1, subscribed=0)
    (no_consent,) = fans(1)
    consent_set(member=no_consent, channel="miniprogram", granted=False)
    factories.MemberFactory()  # no open id
    campaign = launch(campaign_on("miniprogram", options=OPTIONS))
    run_all()
    (sent,) = wechat.sent
    assert sent == {
        "touser": fan.openid,
        "template_id": TEMPLATE,
        "page": "pages/coupon/index?from=member-day",
        "miniprogram_state": "formal",
        "lang": "zh_CN",
        "data": {
            "thing1": {"value": f"{fan.name}，会员日专享"},
            "time2": {"value": "2026年6月18日"},
        },
    }
    assert left(fan) == 1
    states = {
        t.member_id: (t.state, t.skip_reason) for t in Touchpoint.objects.filter(campaign=campaign)
    }
    assert states[fan.pk] == (TouchpointState.SENT, "")
    assert states[used_up.pk] == (TouchpointState.SKIPPED, SkipReason.NO_SUBSCRIPTION)
    assert states[no_consent.pk] == (TouchpointState.SKIPPED, SkipReason.NO_CONSENT)
    assert wechat.tokens == 1


def test_the_mini_program_reports_acceptances_once_per_request(wechat, member_client):
    body = {"template_ids": [TEMPLATE, "tmpl-order"], "accepted": [TEMPLATE]}
    first = member_client.post(SUBSCRIPTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    replay = member_client.post(SUBSCRIPTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == replay.status_code == 200
    assert first.json() == replay.json() == {"subscriptions": {TEMPLATE: 1, "tmpl-order": 0}}
    member_client.post(SUBSCRIPTIONS, body, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert member_client.get(SUBSCRIPTIONS).json() == {"subscriptions": {TEMPLATE: 2}}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"template_ids": ["a"], "accepted": ["b"]}, "accepted"),
        ({"template_ids": ["a", "b", "c", "d"], "accepted": []}, "template_ids"),
        ({"template_ids": [], "accepted": []}, "template_ids"),
        ({"template_ids": ["a"], "accepted": [], "remaining": 99}, "remaining"),
    ],
)
def test_bad_reports_are_refused(member_client, body, field):
    answer = member_client.post(SUBSCRIPTIONS, body, format="json")
    assert answer.status_code == 400 and field in answer.json()
    assert not MiniProgramSubscription.objects.exists()


def test_only_members_report_subscriptions(operator_client):
    assert operator_client.get(SUBSCRIPTIONS).status_code in (401, 403)


# --- never twice ---------------------------------------------------------------------------


def message_for(member, key="tp-1") -> Message:
    return Message(
        key=key,
        member_id=member.pk,
        address=member.openid,
        subject="",
        body="",
        options=OPTIONS,
        fields={"thing1": "会员日"},
    )


def test_a_resent_touchpoint_never_spends_a_second_subscription(wechat):
    (fan,) = fans(1, subscribed=2)
    channel = channel_get("miniprogram")
    (first,) = channel.send_batch([message_for(fan)])
    (again,) = channel.send_batch([message_for(fan)])  # a crash and a reclaim, say
    assert first.outcome == again.outcome == Outcome.SENT
    assert left(fan) == 1
    assert SubscriptionSpend.objects.filter(key="tp-1").count() == 1


def test_a_retry_uses_the_subscription_already_taken(wechat):
    (fan,) = fans(1, subscribed=1)
    wechat.answers[fan.openid] = (503, {"error": "unavailable"})
    launch(campaign_on("miniprogram", options=OPTIONS))
    run_all()
    touchpoint = Touchpoint.objects.get()
    assert touchpoint.state == TouchpointState.PENDING and "503" in touchpoint.error
    assert left(fan) == 0  # taken for this touchpoint, kept for its retry
    del wechat.answers[fan.openid]
    run_all(now=touchpoint.send_after)
    touchpoint.refresh_from_db()
    assert touchpoint.state == TouchpointState.SENT
    assert left(fan) == 0 and SubscriptionSpend.objects.count() == 1


def test_wechat_saying_no_subscription_fails_and_zeroes_the_count(wechat):
    (fan,) = fans(1, subscribed=3)
    wechat.answers[fan.openid] = (
        200,
        {"errcode": 43101, "errmsg": "user refuse to accept the msg"},
    )
    (result,) = channel_get("miniprogram").send_batch([message_for(fan)])
    assert result.outcome == Outcome.FAILED and result.reason.startswith("no subscription")
    assert left(fan) == 0


def test_a_message_wechat_refuses_for_its_data_gives_the_subscription_back(wechat):
    (fan,) = fans(1, subscribed=1)
    wechat.answers[fan.openid] = (200, {"errcode": 47003, "errmsg": "argument invalid!"})
    channel = channel_get("miniprogram")
    (result,) = channel.send_batch([message_for(fan)])
    assert (result.outcome, result.reason) == (Outcome.FAILED, "WeChat 47003: argument invalid!")
    assert left(fan) == 1
    channel.send_batch([message_for(fan)])  # the same touchpoint again: no second refund
    assert left(fan) == 1


def test_an_invalid_token_is_renewed_once_and_texts_are_cut_to_wechats_limits(wechat):
    (fan,) = fans(1)
    channel = channel_get("miniprogram")
    channel.send_batch([message_for(fan, key="warm-up")])  # caches a token
    subscriptions_accept(member=fan, template_ids=[TEMPLATE])
    wechat.refuse_token_once = True
    long = Message(**{**message_for(fan).__dict__, "fields": {"thing1": "一" * 30}})
    (result,) = channel.send_batch([long])
    assert result.outcome == Outcome.SENT
    assert wechat.tokens == 2
    assert wechat.sent[-1]["data"]["thing1"]["value"] == "一" * 20


def test_system_busy_is_retried(wechat):
    (fan,) = fans(1)
    wechat.answers[fan.openid] = (200, {"errcode": -1, "errmsg": "system error"})
    (result,) = channel_get("miniprogram").send_batch([message_for(fan)])
    assert (result.outcome, result.reason) == (Outcome.RETRY, "WeChat -1: system error")


# --- refused at save -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"fields": {"thing1": "x"}},
        {"template_id": TEMPLATE},
        {"template_id": TEMPLATE, "fields": {"title": "x"}},
        {"template_id": TEMPLATE, "fields": {"thing1": "x"}, "page": 3},
    ],
)
def test_incomplete_subscription_content_is_refused(wechat, options):
    with pytest.raises(ValidationError) as caught:
        campaign_on("miniprogram", options=options)
    assert "steps[0].A.options" in caught.value.message_dict


def test_the_channel_needs_the_mini_programs_app_id(settings):
    settings.SCRM_WECHAT_APP_ID = ""
    with pytest.raises(ValidationError) as caught:
        campaign_on("miniprogram", options=OPTIONS)
    assert "channel" in caught.value.message_dict


def test_a_worker_dying_after_the_send_never_costs_a_second_subscription(wechat, monkeypatch):
    from campaigns.services import dispatch
    from campaigns.services.dispatch import dispatch_once, touchpoints_reclaim_stale
    from campaigns.services.fanout import run_fan_out, runs_start_due
    from tests.campaigns.helpers import NOON

    (fan,) = fans(1, subscribed=2)
    launch(campaign_on("miniprogram", options=OPTIONS))
    (run,) = runs_start_due(now=NOON)
    run_fan_out(run=run)

    def die(outcome, now):
        raise SystemExit("worker killed before recording the outcome")

    with monkeypatch.context() as patch:
        patch.setattr(dispatch, "_record", die)
        with pytest.raises(SystemExit):
            dispatch_once(now=NOON)
    claimed = Touchpoint.objects.get()  # left claimed: still pending, with its claim stamped
    assert claimed.state == TouchpointState.PENDING and claimed.claimed_at is not None
    later = NOON + timedelta(minutes=10)
    assert touchpoints_reclaim_stale(now=later) == 1
    dispatch_once(now=later)
    assert Touchpoint.objects.get().state == TouchpointState.SENT
    assert len(wechat.sent) == 2  # WeChat has no idempotency key: the message went again...
    assert left(fan) == 1  # ...but the member's subscriptions were spent once
