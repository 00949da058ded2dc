"""What both emulators share: a real HTTP server on loopback, in a thread of the test process,
and the faults a test can make it inject (an error status, garbage, a dropped or hung connection,
a request applied and then its answer lost, another writer's change just before a write)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.emulators.schema import Schema

Reply = tuple[int, dict[str, str], Any]  # status, headers, JSON body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """Spoil the requests `method` sends to a path matching `path` (a regex), `times` times
    (None: every time), after letting `skip` of them through. `action`: "status" (answer
    `status`, with `retry_after` and `body`, without acting), "garbage" (an HTML page with status
    `status`), "drop" (close the connection), "hang" (answer nothing for `seconds`), "slow"
    (answer after `seconds`), or "race" (run `before`, another writer's change, then act on the
    request as usual); with `applied`, act on the request first, then spoil (or, for "race", run
    `before` after acting on it, before answering)."""

    method: str
    path: str
    action: str = "status"
    status: int = 500
    retry_after: str | None = None
    body: Any = None
    applied: bool = False
    times: int | None = 1
    skip: int = 0  # let this many matching requests through first
    seconds: float = 2.0
    before: Callable[[], None] | None = None


class Hang(Exception):
    pass


@dataclass
class Emulator:
    """Subclasses answer `handle`; the schema excerpt named `schema` checks both directions."""

    schema_name: str
    token: str = "emulator-token-Zq4T"
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self.schema = Schema(self.schema_name)
        self.lock = threading.RLock()

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def error_body(self, status: int) -> Any:
        """The body the API sends with an error `status` (for a fault without its own body)."""
        raise NotImplementedError

    def check(self, value: Any, definition: str) -> list[str]:
        """Schema errors in `value`; they are also kept in `violations` for the test to see."""
        errors = self.schema.errors(value, definition)
        self.violations += errors
        return errors

    def inject(self, **kwargs: Any) -> Fault:
        fault = Fault(**kwargs)
        self.faults.append(fault)
        return fault

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and re.search(fault.path, path) and fault.times != 0:
                if fault.skip > 0:
                    fault.skip -= 1
                    continue
                if fault.times is not None:
                    fault.times -= 1
                return fault
        return None

    def serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = ...
        request = Request(
            method, parts.path, dict(parse_qsl(parts.query, True)), dict(handler.headers), body
        )
        with self.lock:
            self.requests.append((method, handler.path))
            fault = self._fault(method, parts.path)
        if fault is not None and fault.action == "slow":
            time.sleep(fault.seconds)
            fault = None
        race = fault.before if fault is not None and fault.action == "race" else None
        if race is not None and fault is not None:
            fault, after = None, fault.applied
            if not after:
                race()
        if fault is not None and not fault.applied:
            return self._spoil(handler, fault)
        with self.lock:
            reply = self.handle(request) if body is not ... else (400, {}, {"detail": "not JSON"})
        if race is not None and after:
            race()
        if fault is not None:
            return self._spoil(handler, fault)
        self._send(handler, reply)

    def _spoil(self, handler: BaseHTTPRequestHandler, fault: Fault) -> None:
        if fault.action == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            body = self.error_body(fault.status) if fault.body is None else fault.body
            return self._send(handler, (fault.status, headers, body))
        if fault.action == "hang":
            time.sleep(fault.seconds)
        elif fault.action == "garbage":
            page = b"<html><body>502 Bad Gateway</body></html>"
            handler.send_response(fault.status)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(page)))
            handler.end_headers()
            handler.wfile.write(page)
        handler.close_connection = True  # "drop": no answer at all

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        status, headers, body = reply
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def start(self) -> str:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                emulator.serve(self, "GET")

            def do_POST(self) -> None:
                emulator.serve(self, "POST")

            def do_PATCH(self) -> None:
                emulator.serve(self, "PATCH")

            def do_PUT(self) -> None:
                emulator.serve(self, "PUT")

            def do_DELETE(self) -> None:
                emulator.serve(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def written(self) -> int:
        """How many requests that change something reached the emulator."""
        return sum(method != "GET" for method, _ in self.requests)
