"""HTTP exchanges with the PowerDNS API (standard library only): one deadline per exchange,
reads retried, errors turned into one-line tlsagen errors.

No message built here quotes the API key: it travels only in the X-API-Key header. Text from the
server (its error messages) is quoted with control characters escaped and a bounded length.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
import urllib.parse
from typing import Any

from tlsagen.provider import ProviderError
from tlsagen_powerdns.settings import Settings

log = logging.getLogger("tlsagen")

READ_ATTEMPTS = 3  # a GET that fails at the server or on the way is tried this often in all
BACKOFF = 0.5  # seconds before the second attempt; doubles after each
MAX_BODY = 64 * 2**20  # a zone of about 500,000 records; a larger answer is refused
QUOTED = 200  # characters of a server's message quoted in ours


def quoted(text: str) -> str:
    """Server text made safe for a terminal: control characters escaped, the length bounded."""
    shown = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text[: QUOTED + 1])
    return shown if len(text) <= QUOTED else shown[:QUOTED] + "..."


class ApiError(ProviderError):
    """The API answered with an error status; `status` and PowerDNS's message for the caller."""

    def __init__(self, text: str, status: int, message: str) -> None:
        super().__init__(text)
        self.status = status
        self.message = message


class Unanswered(ProviderError):
    """A request went out but no answer says what the server did with it."""


class NotSent(ProviderError):
    """The connection failed before the request went out: the server did nothing."""


class Api:
    """The endpoints of one PowerDNS server (`/api/v1/servers/SERVER-ID`)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        url = urllib.parse.urlsplit(settings.api_url)
        self._https = url.scheme == "https"
        self._host = url.hostname or ""
        self._port = url.port
        quoted_id = urllib.parse.quote(settings.server_id, safe="")
        self._prefix = f"{url.path}/api/v1/servers/{quoted_id}"
        self._origin = f"{url.scheme}://{url.netloc}"

    def get(self, path: str) -> Any:
        """The JSON answer to a GET, retried after a failure on the way or at the server."""
        delay = BACKOFF
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                status, body = self._exchange("GET", path, None)
            except (NotSent, Unanswered) as exc:
                failure: ProviderError = exc
            else:
                if status < 500:
                    return self._json(status, body, "GET", path)
                failure = self._error(status, body, "GET", path)
            if attempt < READ_ATTEMPTS:
                log.info("%s; trying again in %g s", failure, delay)
                time.sleep(delay)
                delay *= 2
        raise failure

    def patch(self, path: str, document: Any) -> None:
        """Send one PATCH, once. ApiError when the server refused it (nothing applied), NotSent,
        or Unanswered when it may or may not have been applied."""
        body = json.dumps(document).encode()
        status, answer = self._exchange("PATCH", path, body)
        if status >= 500:  # the server failed somewhere in the request: applied or not
            raise Unanswered(str(self._error(status, answer, "PATCH", path)))
        if status >= 300:
            raise self._error(status, answer, "PATCH", path)

    def _exchange(self, method: str, path: str, body: bytes | None) -> tuple[int, bytes]:
        """Status and body of one request, all within `timeout` seconds from the connect."""
        timeout = self.settings.timeout
        deadline = time.monotonic() + timeout
        target = self._target(method, path)
        kind = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        connection = kind(self._host, self._port, timeout=timeout)
        try:
            try:
                connection.connect()
            except OSError as exc:
                raise NotSent(f"cannot connect to PowerDNS for {target} ({_reason(exc)})") from None
            sock = connection.sock
            headers = {"X-API-Key": self.settings.api_key, "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                connection.request(method, self._prefix + path, body, headers)
                sock.settimeout(_remaining(deadline))
                response = connection.getresponse()
                chunks: list[bytes] = []
                size = 0
                while chunk := _read(response, sock, deadline):
                    size += len(chunk)
                    if size > MAX_BODY:
                        raise ProviderError(
                            f"the answer to {target} is over {MAX_BODY // 2**20} MiB; refused"
                        )
                    chunks.append(chunk)
            except (OSError, http.client.HTTPException) as exc:
                raise Unanswered(
                    f"PowerDNS gave no complete answer to {target} within {timeout:g} s "
                    f"({_reason(exc)})"
                ) from None
            return response.status, b"".join(chunks)
        finally:
            connection.close()

    def _target(self, method: str, path: str) -> str:
        return f"{method} {self._origin}{self._prefix}{path}"

    def _json(self, status: int, body: bytes, method: str, path: str) -> Any:
        if status >= 300:
            raise self._error(status, body, method, path)
        try:
            return json.loads(body)
        except ValueError:
            raise ProviderError(
                f"the answer to {self._target(method, path)} is not JSON: is api-url the "
                "PowerDNS webserver (api=yes)?"
            ) from None

    def _error(self, status: int, body: bytes, method: str, path: str) -> ApiError:
        message = _message(body)
        said = f": {quoted(message)}" if message else ""
        target = self._target(method, path)
        if status in (401, 403):
            text = (
                f"PowerDNS refused the API key (HTTP {status}) for {target}: check the key that "
                f"api-key names in {self.settings.where}, and the server's api-key setting"
            )
        elif status == 422:
            text = f"PowerDNS rejected {target} as invalid (HTTP 422){said}"
        else:
            text = f"PowerDNS answered HTTP {status} to {target}{said}"
        return ApiError(text, status, message)


def _message(body: bytes) -> str:
    """PowerDNS's `{"error": "..."}` text, else the start of the body as text."""
    try:
        document = json.loads(body)
    except ValueError:
        return body[:QUOTED].decode("utf-8", "replace").strip()
    if isinstance(document, dict) and isinstance(document.get("error"), str):
        return str(document["error"])
    return ""


def _remaining(deadline: float) -> float:
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimeoutError("timed out")
    return remaining


def _read(response: http.client.HTTPResponse, sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(_remaining(deadline))
    return response.read1(65536)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return quoted(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
