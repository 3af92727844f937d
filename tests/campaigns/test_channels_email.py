"""Email through Django's SMTP backend against a local fake SMTP server: one connection per
batch, each message its own outcome, consent and address checked before."""

from __future__ import annotations

import email
from email.header import decode_header, make_header

import pytest
from django.core.exceptions import ValidationError

from campaigns.channels import Message, Outcome, channel_get
from campaigns.models import SkipReason, Touchpoint, TouchpointState
from tests import factories
from tests.campaigns.fakes import FakeSMTPServer
from tests.campaigns.helpers import campaign_on, launch, members_with_consent, run_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    server = FakeSMTPServer().start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 2
    settings.SCRM_EMAIL_FROM = "好物会员 <club@brand.example>"
    settings.SCRM_EMAIL_LIST_UNSUBSCRIBE = "<mailto:unsubscribe@brand.example>"
    yield server
    server.stop()


def parsed(mail):
    return email.message_from_bytes(mail.data)


def text(header) -> str:
    return str(make_header(decode_header(header)))


def message(address, key) -> Message:
    return Message(key=key, member_id=1, address=address, subject="会员日", body="全场8折")


def test_a_campaign_emails_each_consenting_member_over_one_connection(smtp):
    readers = members_with_consent(3, "email", email=None)
    for n, member in enumerate(readers):
        member.email = f"reader{n}@example.com"
        member.save(update_fields=["email"])
    (no_address,) = members_with_consent(1, "email")
    factories.MemberFactory(email="quiet@example.com")  # never consented
    campaign = launch(
        campaign_on(
            "email", subject="{{ member_name }}，会员日到了", body="全场8折\n\n{{ store_name }}"
        )
    )
    run_all()
    assert sorted(m.recipients[0] for m in smtp.mails) == [
        f"reader{n}@example.com" for n in range(3)
    ]
    assert smtp.connections == 1
    first = readers[0]
    (mail,) = [parsed(m) for m in smtp.mails if m.recipients == ["reader0@example.com"]]
    touchpoint = Touchpoint.objects.get(campaign=campaign, member=first)
    assert text(mail["Subject"]) == f"{first.name}，会员日到了"
    assert mail["Message-ID"] == f"<{touchpoint.key.replace(':', '.')}@brand.example>"
    assert mail["List-Unsubscribe"] == "<mailto:unsubscribe@brand.example>"
    assert touchpoint.state == TouchpointState.SENT
    skipped = dict(
        Touchpoint.objects.filter(campaign=campaign).values_list("member_id", "skip_reason")
    )
    assert skipped[no_address.pk] == SkipReason.NO_IDENTITY
    assert list(skipped.values()).count(SkipReason.NO_CONSENT) == 1


def test_member_values_are_escaped_in_the_html_part(smtp):
    (member,) = members_with_consent(1, "email", email="a@example.com", name="<b>王</b>")
    launch(campaign_on("email", subject="Hi", body="{{ member_name }}"))
    run_all()
    (mail,) = [parsed(m) for m in smtp.mails]
    plain, html = (part.get_payload(decode=True).decode() for part in mail.get_payload())
    assert "<b>王</b>" in plain
    assert "&lt;b&gt;王&lt;/b&gt;" in html and "<b>" not in html
    assert member.pk


def test_refused_mailboxes_fail_or_retry_by_the_servers_code(smtp):
    smtp.refuse = {
        "gone@example.com": (550, "no such user"),
        "full@example.com": (452, "mailbox full"),
    }
    results = channel_get("email").send_batch(
        [
            message("ok@example.com", "k1"),
            message("gone@example.com", "k2"),
            message("full@example.com", "k3"),
            message("ok2@example.com", "k4"),
        ]
    )
    assert [r.outcome for r in results] == [
        Outcome.SENT,
        Outcome.FAILED,
        Outcome.RETRY,
        Outcome.SENT,
    ]
    assert "550" in results[1].reason and "no such user" in results[1].reason
    assert smtp.connections == 1
    assert [m.recipients for m in smtp.mails] == [["ok@example.com"], ["ok2@example.com"]]


def test_a_dropped_connection_retries_that_message_and_carries_on_with_a_new_one(smtp):
    smtp.hang_up = {"drop@example.com"}
    results = channel_get("email").send_batch(
        [
            message("a@example.com", "k1"),
            message("drop@example.com", "k2"),
            message("b@example.com", "k3"),
        ]
    )
    assert [r.outcome for r in results] == [Outcome.SENT, Outcome.RETRY, Outcome.SENT]
    assert smtp.connections == 2
    assert [m.recipients for m in smtp.mails] == [["a@example.com"], ["b@example.com"]]


def test_a_mail_server_that_cannot_be_reached_is_retried(smtp, settings):
    smtp.stop()
    results = channel_get("email").send_batch(
        [message("a@example.com", "k1"), message("b@example.com", "k2")]
    )
    assert [r.outcome for r in results] == [Outcome.RETRY, Outcome.RETRY]
    assert results[0].reason.startswith("mail server:")


def test_an_email_needs_a_subject_and_a_sender(settings):
    settings.SCRM_EMAIL_FROM = "club@brand.example"
    with pytest.raises(ValidationError) as caught:
        campaign_on("email", subject="", body="hi")
    assert "steps[0].A.subject" in caught.value.message_dict
    settings.SCRM_EMAIL_FROM = ""
    with pytest.raises(ValidationError) as caught:
        campaign_on("email", subject="Hi", body="hi")
    assert "channel" in caught.value.message_dict
