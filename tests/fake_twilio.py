"""A small fake of Twilio's REST API (the ``2010-04-01`` Calls and Messages resources), served
over real HTTP on loopback, so that tests run the real ``twilio`` SDK and check the requests
it makes. Also signs webhooks the way Twilio does, for the callback tests.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 31 + "1"
AUTH_TOKEN = "jeton-de-test-twilio"
FROM_NUMBER = "+33900000000"
_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/(?P<kind>Calls|Messages)\.json$")


@dataclass
class Seen:
    """One request the SDK made."""

    method: str
    path: str
    form: dict[str, list[str]]
    query: dict[str, list[str]]
    authorization: str

    def one(self, name: str) -> str:
        (value,) = self.form[name]
        return value


@dataclass
class FakeTwilio:
    """Records every request; answers like Twilio (201 on create, pages on list, 401 when the
    credentials are wrong). ``fail_next`` answers the next creates with these statuses."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Seen] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def creates(self, kind: str) -> list[Seen]:
        return [r for r in self.requests
                if r.method == "POST" and r.path.endswith(f"/{kind}.json")]

    def __enter__(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    # --- the REST API ------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length).decode() if length else ""
        seen = Seen(method, parts.path, parse_qs(body), parse_qs(parts.query),
                    h.headers.get("Authorization", ""))
        with self._lock:
            self.requests.append(seen)
            status, payload = self._answer(seen)
        data = json.dumps(payload).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _answer(self, seen: Seen) -> tuple[int, dict[str, Any]]:
        expected = "Basic " + base64.b64encode(
            f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if seen.authorization != expected:
            return 401, {"code": 20003, "message": "Authenticate", "status": 401}
        m = _PATH.match(seen.path)
        if m is None or m.group("sid") != self.account_sid:
            return 404, {"code": 20404, "message": "not found", "status": 404}
        kind = m.group("kind")
        store = self.calls if kind == "Calls" else self.messages
        if seen.method == "GET":
            found = [r for r in reversed(store)
                     if _matches(r, "to", seen.query.get("To"))
                     and _matches(r, "from", seen.query.get("From"))]
            return 200, {kind.lower(): found, "page": 0, "page_size": 50, "start": 0,
                         "end": max(len(found) - 1, 0), "uri": seen.path,
                         "first_page_uri": seen.path, "next_page_uri": None,
                         "previous_page_uri": None}
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, {"code": 21211 if status == 400 else 20500, "status": status,
                            "message": "refusé par le faux Twilio"}
        if seen.form.get("To", [""])[0].startswith("+000"):
            return 400, {"code": 21211, "status": 400,
                         "message": "The 'To' number is not a valid phone number."}
        now = format_datetime(datetime.now(UTC))
        prefix = "CA" if kind == "Calls" else "SM"
        resource = {
            "sid": prefix + uuid.uuid4().hex,
            "account_sid": self.account_sid,
            "to": seen.one("To"),
            "from": seen.one("From"),
            "status": "queued",
            "date_created": now,
            "date_updated": now,
            "uri": f"{seen.path[:-5]}/{prefix}.json",
        }
        if kind == "Messages":
            resource["body"] = seen.one("Body")
            resource["direction"] = "outbound-api"
        store.append(resource)
        return 201, resource


def _matches(resource: dict[str, Any], key: str, wanted: list[str] | None) -> bool:
    return not wanted or resource[key] == wanted[0]


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    """The headers Twilio would send with a callback to ``url`` carrying ``params``."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}
