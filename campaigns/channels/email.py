"""Email through Django's email backend (settings from EMAIL_URL: SMTP in production, the
console in the embedded default).

A batch goes over one connection, one message at a time, so each message gets its own outcome:
a mailbox the server refuses permanently (5xx) fails, a temporary refusal (4xx) or a dropped
connection is retried. The Message-ID is made from the touchpoint key, so a message resent
after a crash carries the same id and mail systems that deduplicate on it drop the copy.
"""

from __future__ import annotations

import re
import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.utils.html import linebreaks
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from campaigns.channels.base import Channel, Message, Outcome, Result

# Characters a Message-ID's left part may hold (RFC 5322 dot-atom text).
_NOT_ATOM = re.compile(r"[^A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]")


def _outcome_for(code: int, reason: str) -> Result:
    if 400 <= code < 500:
        return Result(Outcome.RETRY, reason=reason)
    return Result(Outcome.FAILED, reason=reason)


class EmailChannel(Channel):
    code = "email"
    label = gettext_lazy("email")
    address_column = "email"
    consent = "email"

    def is_configured(self) -> bool:
        return bool(settings.SCRM_EMAIL_FROM)

    def check_content(self, *, subject, body, options, transactional):
        if not (subject or "").strip():
            return {"subject": [_("An email needs a subject.")]}
        return {}

    def _email(self, message: Message, connection) -> EmailMultiAlternatives:
        sender = settings.SCRM_EMAIL_FROM
        domain = sender.rpartition("@")[2].strip(" >") or "localhost"
        headers = {"Message-ID": f"<{_NOT_ATOM.sub('.', message.key)}@{domain}>"}
        if settings.SCRM_EMAIL_LIST_UNSUBSCRIBE:
            headers["List-Unsubscribe"] = settings.SCRM_EMAIL_LIST_UNSUBSCRIBE
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.body,
            from_email=sender,
            to=[message.address],
            headers=headers,
            connection=connection,
        )
        # The copy is plain text with member values in it: escaped, paragraphs kept.
        email.attach_alternative(linebreaks(message.body, autoescape=True), "text/html")
        return email

    def send_batch(self, messages: list[Message]) -> list[Result]:
        connection = get_connection(fail_silently=False)
        try:
            connection.open()
        except (OSError, smtplib.SMTPException) as exc:
            return [Result(Outcome.RETRY, reason=f"mail server: {exc}"[:300])] * len(messages)
        results: list[Result] = []
        try:
            for position, message in enumerate(messages):
                try:
                    sent = connection.send_messages([self._email(message, connection)])
                    results.append(
                        Result(Outcome.SENT, provider_id=message.key)
                        if sent
                        else Result(Outcome.FAILED, reason=_("The mail server took no recipient."))
                    )
                except smtplib.SMTPRecipientsRefused as exc:
                    code, text = next(iter(exc.recipients.values()))
                    results.append(_outcome_for(code, f"SMTP {code}: {text!r}"[:300]))
                except smtplib.SMTPResponseException as exc:
                    results.append(
                        _outcome_for(
                            exc.smtp_code, f"SMTP {exc.smtp_code}: {exc.smtp_error!r}"[:300]
                        )
                    )
                except (smtplib.SMTPException, OSError) as exc:
                    # The connection is gone: this message is retried, and so is the rest if a
                    # new connection cannot be had.
                    results.append(Result(Outcome.RETRY, reason=f"mail server: {exc}"[:300]))
                    connection.close()
                    try:
                        connection.open()
                    except (OSError, smtplib.SMTPException) as again:
                        rest = len(messages) - position - 1
                        reason = f"mail server: {again}"[:300]
                        results.extend([Result(Outcome.RETRY, reason=reason)] * rest)
                        break
        finally:
            connection.close()
        return results
