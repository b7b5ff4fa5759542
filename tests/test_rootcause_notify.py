"""The outbox: signed webhooks retried with backoff against a real local receiver, and e-mail to a
real local SMTP server. Network only to 127.0.0.1."""

from __future__ import annotations

import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session

from rootline.rootcause.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SmtpConfig,
    backoff,
    deliver_due,
    enqueue,
    verify_signature,
)

SECRET = "s3cret"
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


class _Receiver(ThreadingHTTPServer):
    """Answers 500 to the first ``fail_first`` requests, then 204; keeps what it got."""

    def __init__(self, fail_first: int) -> None:
        self.fail_first = fail_first
        self.requests: list[tuple[dict[str, str], bytes, int]] = []
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 500 if len(self.server.requests) < self.server.fail_first else 204
        self.server.requests.append((dict(self.headers), body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver(fail_first=2)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def _url(server: _Receiver) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/hook"


def test_webhook_is_retried_with_backoff_until_the_receiver_accepts(
    session: Session, receiver: _Receiver
) -> None:
    row = enqueue(
        session,
        "webhook",
        _url(receiver),
        "problem.reopened",
        {"text": "back", "problem": {"id": 7}},
    )
    row.next_attempt_at = NOW
    session.flush()

    first = deliver_due(session, secret=SECRET, now=NOW)
    assert (first.sent, first.retrying) == (0, 1)
    assert row.status == "pending" and row.attempts == 1 and "500" in (row.last_error or "")
    assert row.next_attempt_at == NOW + backoff(1) == NOW + timedelta(seconds=30)
    # Not due yet: nothing is sent before the backoff has passed.
    assert deliver_due(session, secret=SECRET, now=NOW + timedelta(seconds=10)).retrying == 0
    second = deliver_due(session, secret=SECRET, now=NOW + timedelta(seconds=30))
    assert second.retrying == 1 and row.next_attempt_at == NOW + timedelta(seconds=90)
    third = deliver_due(session, secret=SECRET, now=NOW + timedelta(seconds=90))
    assert third.sent == 1 and row.status == "sent" and row.attempts == 3
    assert row.last_error is None

    assert [status for _, _, status in receiver.requests] == [500, 500, 204]
    headers, body, _ = receiver.requests[-1]
    assert headers["X-Rootline-Event"] == "problem.reopened"
    assert headers["X-Rootline-Delivery"] == str(row.id)
    assert verify_signature(SECRET, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature("wrong", headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])
    assert not verify_signature(
        SECRET, headers[TIMESTAMP_HEADER], body + b" ", headers[SIGNATURE_HEADER]
    )
    assert json.loads(body) == {"id": row.id, "text": "back", "problem": {"id": 7}}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_nothing_is_lost_while_the_receiver_is_down(session: Session) -> None:
    row = enqueue(session, "webhook", f"http://127.0.0.1:{_closed_port()}/", "x", {})
    row.next_attempt_at = NOW
    session.flush()
    for attempt in range(1, 4):
        deliver_due(session, secret=SECRET, now=row.next_attempt_at, max_attempts=4, timeout=2)
        assert row.status == "pending" and row.attempts == attempt
    deliver_due(session, secret=SECRET, now=row.next_attempt_at, max_attempts=4, timeout=2)
    assert row.status == "failed" and row.attempts == 4  # kept, for a manual retry
    assert row.last_error  # why it failed, for whoever retries it


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4)] == [30, 60, 120, 240]
    assert backoff(30) == timedelta(hours=6)


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greet, EHLO, MAIL, RCPT, DATA, QUIT."""

    def _say(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        server: Any = self.server
        envelope: dict[str, Any] = {"rcpt": []}
        self._say("220 localhost test SMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                self._say("250 localhost")
            elif verb == "MAIL":
                envelope["from"] = command
                self._say("250 OK")
            elif verb == "RCPT":
                envelope["rcpt"].append(command)
                self._say("250 OK")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = b""
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                envelope["data"] = data
                server.messages.append(envelope)
                envelope = {"rcpt": []}
                self._say("250 queued")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 OK")


def test_email_goes_through_a_local_smtp_server(session: Session) -> None:
    server: Any = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _SmtpHandler)
    server.messages = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        row = enqueue(
            session,
            "email",
            "owner@example.com",
            "problem.sla_breached",
            {"text": "SLA breached on problem #3"},
            subject="[Rootline] SLA",
        )
        row.next_attempt_at = NOW
        waiting = deliver_due(session, secret=SECRET, now=NOW)  # no SMTP configured: it waits
        assert (waiting.sent, row.status) == (0, "pending")
        smtp = SmtpConfig("127.0.0.1", server.server_address[1], "rootline@example.com")
        report = deliver_due(session, secret=SECRET, smtp=smtp, now=NOW)
        assert report.sent == 1 and row.status == "sent"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    (message,) = server.messages
    assert "owner@example.com" in message["rcpt"][0]
    parsed = message_from_bytes(message["data"])
    assert parsed["Subject"] == "[Rootline] SLA" and parsed["From"] == "rootline@example.com"
    assert "SLA breached on problem #3" in parsed.get_payload()
