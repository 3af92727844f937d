"""Webhook channel: an HTTP POST per message to the brand's own system, signed with HMAC.

The receiver verifies ``X-SCRM-Signature: sha256=<hex>`` = HMAC-SHA256(secret, timestamp + "." +
body) with ``X-SCRM-Timestamp``, and deduplicates on ``Idempotency-Key`` (the touchpoint key):
after a worker crash the same message may be posted again with the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from campaigns.channels.base import Channel, Message, Outcome, Result


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


class WebhookChannel(Channel):
    code = "webhook"
    label = _("webhook (HTTP POST)")
    address_column = "id"
    consent = None

    def is_configured(self) -> bool:
        return bool(settings.SCRM_WEBHOOK_URL and settings.SCRM_WEBHOOK_SECRET)

    def send(self, message: Message) -> Result:
        return self.send_batch([message])[0]

    def send_batch(self, messages: list[Message]) -> list[Result]:
        """POST each message over one kept-alive connection (a new TCP connection per message
        would cost more than the message)."""
        url = urlsplit(settings.SCRM_WEBHOOK_URL)
        connection_class = (
            http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        )
        path = url.path or "/"
        if url.query:
            path += "?" + url.query
        timeout = settings.SCRM_WEBHOOK_TIMEOUT
        connection = None
        results = []
        for message in messages:
            if connection is None:
                connection = connection_class(url.hostname, url.port, timeout=timeout)
            result = self._post(connection, path, message)
            if result.outcome == Outcome.RETRY:
                # The connection may be broken; the next message opens a fresh one.
                connection.close()
                connection = None
            results.append(result)
        if connection is not None:
            connection.close()
        return results

    def _post(self, connection, path: str, message: Message) -> Result:
        body = json.dumps(
            {
                "key": message.key,
                "member_id": message.member_id,
                "subject": message.subject,
                "body": message.body,
                "options": message.options,
            },
            ensure_ascii=False,
        ).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": message.key,
            "X-SCRM-Timestamp": timestamp,
            "X-SCRM-Signature": webhook_signature(settings.SCRM_WEBHOOK_SECRET, timestamp, body),
        }
        try:
            connection.request("POST", path, body=body, headers=headers)
            reply = connection.getresponse()
            text = reply.read(300).decode(errors="replace")
            reply.read()  # drain, so the connection can carry the next request
        except (OSError, http.client.HTTPException) as exc:
            return Result(Outcome.RETRY, reason=f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= reply.status < 300:
            return Result(Outcome.SENT, provider_id=reply.headers.get("X-Request-Id", ""))
        # 4xx other than 408/429 will not get better by retrying; 5xx and throttling might.
        retry = reply.status >= 500 or reply.status in (408, 429)
        reason = f"HTTP {reply.status}: {text}"
        return Result(Outcome.RETRY if retry else Outcome.FAILED, reason=reason[:300])
