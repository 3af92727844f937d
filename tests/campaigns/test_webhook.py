"""The webhook channel signs each POST and reports the receiver's answer faithfully."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from campaigns.channels import Message, Outcome
from campaigns.channels.webhook import WebhookChannel, webhook_signature


@pytest.fixture
def receiver(settings):
    seen: list[dict] = []
    answers: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"headers": dict(self.headers), "body": body})
            status = answers.get(json.loads(body)["key"], 200)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"no")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.SCRM_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/scrm"
    settings.SCRM_WEBHOOK_SECRET = "topsecret"
    yield seen, answers
    server.shutdown()


def message(key: str) -> Message:
    return Message(key=key, member_id=7, address="7", subject="", body="你好")


def test_posts_are_signed_and_carry_the_key(receiver):
    seen, _answers = receiver
    (result,) = WebhookChannel().send_batch([message("r1:s1:m7")])
    assert result.outcome == Outcome.SENT
    headers, body = seen[0]["headers"], seen[0]["body"]
    assert headers["Idempotency-Key"] == "r1:s1:m7"
    expected = webhook_signature("topsecret", headers["X-SCRM-Timestamp"], body)
    assert headers["X-SCRM-Signature"] == expected
    assert json.loads(body)["body"] == "你好"


def test_server_errors_retry_and_client_errors_fail_with_the_reason(receiver):
    _seen, answers = receiver
    answers.update({"a": 503, "b": 400, "c": 429})
    results = WebhookChannel().send_batch([message("a"), message("b"), message("c"), message("d")])
    assert [r.outcome for r in results] == [
        Outcome.RETRY,
        Outcome.FAILED,
        Outcome.RETRY,
        Outcome.SENT,
    ]
    assert results[1].reason == "HTTP 400: no"


def test_an_unreachable_receiver_is_a_retry(settings):
    settings.SCRM_WEBHOOK_URL = "http://127.0.0.1:9/nothing-listens"
    settings.SCRM_WEBHOOK_SECRET = "x"
    (result,) = WebhookChannel().send_batch([message("k")])
    assert result.outcome == Outcome.RETRY and result.reason
