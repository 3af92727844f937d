"""SMS through a fake Aliyun SendSms that checks the request signature, the marketing rules
(signature, opt-out text), and opt-out replies arriving through the SmsUp callback."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from urllib.parse import parse_qsl

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from campaigns.channels import Message, Outcome, channel_get
from campaigns.channels.sms import aliyun_signature, sms_number
from campaigns.models import SkipReason, SmsReply, Touchpoint, TouchpointState
from campaigns.services.sms_replies import sms_opt_out_word
from members.choices import ConsentStatus
from members.models import Consent
from members.services.members import consent_set
from tests.campaigns.helpers import NOON, campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db

BODY = "{{ member_name }}您好，会员日全场8折，拒收请回复R"
OPTIONS = {"template_code": "SMS_123456789", "fields": {"name": "{{ member_name }}"}}
SECRET = "test-secret"


class FakeAliyun:
    """SendSms as documented: a form POST signed with the key's secret, answered with
    {"Code": "OK", "BizId"} or an error code. ``answers`` maps a phone number (as sent) to
    the (status, body) it gets instead; ``delay`` holds every answer back."""

    def __init__(self, server):
        self.server = server
        self.answers: dict[str, tuple[int, dict]] = {}
        self.delay = 0.0
        server.route("POST", "/", self.send)

    def send(self, call):
        params = dict(parse_qsl(call.body.decode("ascii"), keep_blank_values=True))
        signature = params.pop("Signature")
        if signature != aliyun_signature(params, SECRET, "POST"):
            return 400, {
                "Code": "SignatureDoesNotMatch",
                "Message": "Specified signature is not matched",
            }
        time.sleep(self.delay)
        answer = self.answers.get(params["PhoneNumbers"])
        return answer or (
            200,
            {"Code": "OK", "Message": "OK", "BizId": f"biz-{params['OutId']}", "RequestId": "r1"},
        )

    @property
    def sent(self) -> list[dict]:
        return [dict(parse_qsl(c.body.decode("ascii"))) for c in self.server.calls]


@pytest.fixture
def aliyun(fake_server, settings):
    settings.SCRM_SMS_ENDPOINT = fake_server.url + "/"
    settings.SCRM_SMS_ACCESS_KEY_ID = "LTAI-test"
    settings.SCRM_SMS_ACCESS_KEY_SECRET = SECRET
    settings.SCRM_SMS_SIGN_NAME = "好物会员"
    return FakeAliyun(fake_server)


@pytest.fixture
def callback(settings):
    settings.SCRM_SMS_INBOUND_TOKEN = token = uuid.uuid4().hex
    client = APIClient()

    def post(replies, token=token):
        return client.post(f"/api/v1/sms/replies/{token}/", replies, format="json")

    return post


def message(phone="+8613900000001", key="tp-1") -> Message:
    return Message(
        key=key,
        member_id=1,
        address=phone,
        subject="",
        body="",
        options=OPTIONS,
        fields={"name": "王"},
    )


# --- signing ---------------------------------------------------------------------------------


def test_signatures_match_aliyuns_documented_examples():
    send_sms = {
        "AccessKeyId": "testId",
        "Action": "SendSms",
        "Format": "XML",
        "OutId": "123",
        "PhoneNumbers": "15300000001",
        "RegionId": "cn-hangzhou",
        "SignName": "阿里云短信测试专用",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
        "SignatureVersion": "1.0",
        "TemplateCode": "SMS_71390007",
        "TemplateParam": '{"customer":"test"}',
        "Timestamp": "2017-07-12T02:42:19Z",
        "Version": "2017-05-25",
    }
    assert aliyun_signature(send_sms, "testSecret", "GET") == "zJDF+Lrzhj/ThnlvIToysFRq6t4="
    describe_regions = {
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "SignatureVersion": "1.0",
        "Version": "2014-05-26",
        "Timestamp": "2016-02-23T12:46:24Z",
    }
    assert aliyun_signature(describe_regions, "testsecret", "GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_numbers_go_out_as_aliyun_takes_them():
    assert sms_number("+8613912345678") == "13912345678"
    assert sms_number("+85291234567") == "85291234567"


# --- sending ---------------------------------------------------------------------------------


def test_a_campaign_sends_the_approved_template_with_the_brand_signature(aliyun):
    (member,) = members_with_consent(1, "sms")
    members_with_consent(1, "email")  # no SMS consent
    campaign = launch(campaign_on("sms", body=BODY, options=OPTIONS))
    run_all()
    (sent,) = aliyun.sent
    touchpoint = Touchpoint.objects.get(campaign=campaign, member=member)
    assert sent["PhoneNumbers"] == member.phone.removeprefix("+86")
    assert sent["SignName"] == "好物会员"
    assert sent["TemplateCode"] == "SMS_123456789"
    assert sent["TemplateParam"] == f'{{"name": "{member.name}"}}'
    assert sent["OutId"] == touchpoint.key
    assert (sent["Action"], sent["Version"], sent["SignatureMethod"]) == (
        "SendSms",
        "2017-05-25",
        "HMAC-SHA1",
    )
    assert (touchpoint.state, touchpoint.provider_id) == (
        TouchpointState.SENT,
        f"biz-{touchpoint.key}",
    )
    assert Touchpoint.objects.exclude(pk=touchpoint.pk).get().skip_reason == SkipReason.NO_CONSENT


@pytest.mark.parametrize(
    "answer, outcome, reason",
    [
        (
            (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "非法手机号"}),
            Outcome.FAILED,
            "Aliyun isv.MOBILE_NUMBER_ILLEGAL: 非法手机号",
        ),
        (
            (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控"}),
            Outcome.FAILED,
            "Aliyun isv.BUSINESS_LIMIT_CONTROL: 触发分钟级流控",
        ),
        (
            (200, {"Code": "isp.SYSTEM_ERROR", "Message": "system error"}),
            Outcome.RETRY,
            "Aliyun isp.SYSTEM_ERROR: system error",
        ),
        (
            (400, {"Code": "Throttling.User", "Message": "Request was denied"}),
            Outcome.RETRY,
            "Aliyun Throttling.User: Request was denied",
        ),
        ((503, {"Code": "ServiceUnavailable"}), Outcome.RETRY, "HTTP 503"),
        ((200, b"<html>bad gateway</html>"), Outcome.RETRY, "not JSON"),
    ],
)
def test_provider_errors_are_retried_or_failed_as_documented(aliyun, answer, outcome, reason):
    aliyun.answers["13900000001"] = answer
    (result,) = channel_get("sms").send_batch([message()])
    assert result.outcome == outcome
    assert reason in result.reason


def test_a_wrong_secret_is_a_permanent_failure_and_a_timeout_a_retry(aliyun, settings):
    settings.SCRM_SMS_ACCESS_KEY_SECRET = "wrong"
    (bad_key,) = channel_get("sms").send_batch([message()])
    assert (bad_key.outcome, bad_key.reason.split(":")[0]) == (
        Outcome.FAILED,
        "Aliyun SignatureDoesNotMatch",
    )
    settings.SCRM_SMS_ACCESS_KEY_SECRET = SECRET
    settings.SCRM_CHANNEL_HTTP_TIMEOUT = 0.2
    aliyun.delay = 0.5
    (slow,) = channel_get("sms").send_batch([message()])
    assert slow.outcome == Outcome.RETRY


def test_a_batch_is_sent_concurrently_and_answered_in_order(aliyun, settings):
    settings.SCRM_CHANNEL_HTTP_CONCURRENCY = 4
    aliyun.answers["13900000003"] = (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "x"})
    batch = [message(f"+861390000000{i}", key=f"tp-{i}") for i in range(1, 7)]
    results = channel_get("sms").send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.SENT] * 2 + [Outcome.FAILED] + [
        Outcome.SENT
    ] * 3
    assert [r.provider_id for r in results if r.outcome == Outcome.SENT] == [
        f"biz-tp-{i}" for i in (1, 2, 4, 5, 6)
    ]


# --- marketing rules at save -----------------------------------------------------------------


def test_marketing_sms_must_carry_the_opt_out_instruction(aliyun):
    with pytest.raises(ValidationError) as caught:
        campaign_on("sms", body="会员日全场8折", options=OPTIONS)
    assert "拒收请回复R" in caught.value.message_dict["steps[0].A.body"][0]
    # Service messages (an order shipped) are not marketing.
    campaign_on("sms", body="您的订单已发货", options=OPTIONS, transactional=True)


def test_sms_needs_a_template_code_and_a_configured_signature(aliyun, settings):
    with pytest.raises(ValidationError) as caught:
        campaign_on("sms", body=BODY, options={})
    assert "steps[0].A.options" in caught.value.message_dict
    settings.SCRM_SMS_SIGN_NAME = ""
    with pytest.raises(ValidationError) as caught:
        campaign_on("sms", body=BODY, options=OPTIONS)
    assert "channel" in caught.value.message_dict


# --- opting out by reply -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, word",
    [
        ("TD", "TD"),
        ("td", "TD"),
        (" t ", "T"),
        ("R。", "R"),
        ("退订", "退订"),
        ("退订，谢谢", "退订"),
        ("拒收", "拒收"),
        ("Thanks", None),
        ("好的", None),
        ("RT", None),
        ("", None),
    ],
)
def test_opt_out_words(text, word):
    assert sms_opt_out_word(text) == word


def test_replying_td_stops_the_next_campaign(aliyun, callback):
    (member,) = members_with_consent(1, "sms")
    launch(campaign_on("sms", body=BODY, options=OPTIONS))
    run_all()
    assert len(aliyun.sent) == 1
    reply = [
        {
            "phone_number": member.phone.removeprefix("+86"),
            "content": "TD",
            "send_time": "2026-06-15 10:05:00",
            "dest_code": "1234",
            "sequence_id": 1234567890,
        }
    ]
    answer = callback(reply)
    assert (answer.status_code, answer.json()) == (200, {"code": 0, "msg": "接收成功"})
    consent = Consent.objects.get(member=member, channel="sms")
    assert (consent.status, consent.method) == (ConsentStatus.WITHDRAWN, "sms_reply:TD")
    second = launch(campaign_on("sms", body=BODY, options=OPTIONS))
    run_all(now=NOON + timedelta(days=3))
    assert len(aliyun.sent) == 1
    assert Touchpoint.objects.get(campaign=second).skip_reason == SkipReason.NO_CONSENT


def test_a_reply_delivered_again_acts_once(callback):
    (member,) = members_with_consent(1, "sms")
    reply = [{"phone_number": member.phone, "content": "退订", "sequence_id": "42"}]
    assert callback(reply).status_code == 200
    consent_set(member=member, channel="sms", granted=True, method="miniprogram")  # changed mind
    assert callback(reply).status_code == 200  # Aliyun pushing the old reply again
    assert Consent.objects.get(member=member, channel="sms").status == ConsentStatus.GRANTED
    assert SmsReply.objects.count() == 1


def test_other_replies_and_unknown_numbers_change_nothing(callback):
    (member,) = members_with_consent(1, "sms")
    answer = callback(
        [
            {"phone_number": member.phone, "content": "好的谢谢", "sequence_id": "1"},
            {"phone_number": "13700000000", "content": "TD", "sequence_id": "2"},
        ]
    )
    assert answer.status_code == 200
    assert Consent.objects.get(member=member, channel="sms").status == ConsentStatus.GRANTED
    assert not SmsReply.objects.exists()


def test_the_callback_needs_its_secret_and_a_list(callback, settings):
    good = [{"phone_number": "13700000000", "content": "TD"}]
    assert callback(good, token="guess").status_code == 404
    assert callback({"phone_number": "1"}).status_code == 400
    assert callback([{"content": "TD"}]).status_code == 400
    settings.SCRM_SMS_INBOUND_TOKEN = ""
    assert callback(good, token="").status_code == 404
