"""Replies to our SMS: an opt-out word withdraws the member's SMS consent at once, so the next
dispatch (which re-checks consent at send time) sends them nothing more."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from campaigns.models import SmsReply
from members.choices import ConsentChannel, MemberStatus
from members.identity import phone_normalise
from members.models import Member
from members.services.members import consent_set

_NOISE = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class InboundSms:
    reply_id: str
    phone: str
    content: str


def sms_opt_out_word(text: str) -> str | None:
    """The opt-out word ``text`` says, if any: a reply that is one of the words (case, spaces
    and punctuation ignored: "td", "T。", " R "), or contains one of the Chinese ones
    ("退订谢谢"). Erring towards opting out is the safe side of the marketing rules."""
    normalised = _NOISE.sub("", text or "").upper()
    for word in settings.SCRM_SMS_OPT_OUT_WORDS:
        word = word.upper()
        if normalised == word or (not word.isascii() and word in normalised):
            return word
    return None


def sms_reply_id(*, provider_id: str, phone: str, content: str, sent_at: str) -> str:
    """The reply's id: the provider's, else one made from what identifies the message."""
    if provider_id:
        return f"{provider_id}"[:100]
    return hashlib.sha256(f"{phone}|{sent_at}|{content}".encode()).hexdigest()


def sms_replies_receive(*, replies: list[InboundSms]) -> int:
    """Act on the opt-outs among ``replies``: withdraw the SMS consent of the member with that
    phone, once per reply (a reply delivered again does nothing, even if the member has since
    consented again). Other replies are not kept: nothing here needs them. Returns how many
    members withdrew their consent."""
    withdrawn = 0
    for reply in replies:
        word = sms_opt_out_word(reply.content)
        if word is None:
            continue
        try:
            phone = phone_normalise(reply.phone)
        except ValidationError:
            continue
        member = Member.objects.filter(phone=phone, status=MemberStatus.ACTIVE).first()
        if member is None:
            continue
        try:
            with transaction.atomic():
                SmsReply.objects.create(
                    reply_id=reply.reply_id,
                    phone=phone,
                    content=reply.content[:500],
                    member=member,
                    opted_out=True,
                )
                consent_set(
                    member=member,
                    channel=ConsentChannel.SMS,
                    granted=False,
                    method=f"sms_reply:{word}",
                )
        except IntegrityError:
            continue  # the same reply delivered again
        withdrawn += 1
    return withdrawn
