"""Local stand-ins for providers: an HTTP server on 127.0.0.1 (random port) in a thread, and a
minimal SMTP server. Tests give them handlers that answer in the provider's documented format;
nothing leaves the machine."""

from __future__ import annotations

import json
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Call:
    """One request the fake server received."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body or b"null")


Handler = Callable[[Call], tuple[int, object]]


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A client that gave up (a timeout test) leaves a broken pipe: expected, not news.
        pass


@dataclass
class FakeHTTPServer:
    """Routes ``(method, path)`` to handlers returning ``(status, body)``; a dict or list body
    is sent as JSON. Every call is kept in ``calls``."""

    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)

    def start(self) -> FakeHTTPServer:
        fake = self

        class RequestHandler(BaseHTTPRequestHandler):
            def _handle(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                call = Call(
                    method=self.command,
                    path=parts.path,
                    query={k: v[0] for k, v in parse_qs(parts.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                fake.calls.append(call)
                handler = fake.routes.get((self.command, parts.path))
                status, body = handler(call) if handler else (404, {"error": "no route"})
                data = (
                    json.dumps(body, ensure_ascii=False).encode()
                    if isinstance(body, dict | list)
                    else body
                )
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, *args):  # keep test output quiet
                pass

        self.server = _QuietServer(("127.0.0.1", 0), RequestHandler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def calls_to(self, path: str) -> list[Call]:
        return [c for c in self.calls if c.path == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Mail:
    sender: str
    recipients: list[str]
    data: bytes


class FakeSMTPServer:
    """Enough SMTP for Django's backend (EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT, no TLS or
    AUTH). ``refuse`` maps a recipient to the (code, text) its RCPT gets, e.g. a permanent 550
    for a dead mailbox or a temporary 451; at a recipient in ``hang_up`` the server drops the
    connection."""

    def __init__(self):
        self.mails: list[Mail] = []
        self.refuse: dict[str, tuple[int, str]] = {}
        self.hang_up: set[str] = set()
        self.connections = 0

    def start(self) -> FakeSMTPServer:
        fake = self

        class Session(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                fake.connections += 1
                self.reply("220 fake.smtp ESMTP")
                sender, recipients = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    line = raw.decode().rstrip("\r\n")
                    verb = line[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 fake.smtp")
                    elif verb == "MAIL":
                        sender, recipients = line.split(":", 1)[1].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        address = line.split(":", 1)[1].strip(" <>")
                        if address in fake.hang_up:
                            return
                        code, text = fake.refuse.get(address, (250, "OK"))
                        if code == 250:
                            recipients.append(address)
                        self.reply(f"{code} {text}")
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = b""
                        while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                            data += chunk
                        fake.mails.append(Mail(sender, recipients, data))
                        self.reply("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Session)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
