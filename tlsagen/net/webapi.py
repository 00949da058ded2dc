"""JSON over HTTPS for the providers that speak a web API (Cloudflare, deSEC); stdlib only.

Used by provider distributions only; the core never imports it. It holds what those providers
share and nothing of either API:
- `JsonApi.call`: one request and its JSON answer, with the retries that are always safe: a 429
  answer (the request was not processed) after its Retry-After, and, for reads only, 5xx answers
  and lost connections. A write whose outcome is unknown is never resent here; the provider
  reads back instead.
- `compare_and_swap`: neither API has a conditional write, so both read before the write, write
  atomically, and read back: a stale plan is refused before anything is sent, a write whose
  answer was lost is judged by what the API holds afterwards, and another writer's change that
  lands right after the write is reported (exit 5).
- `ApiSettings`: the keys both providers take (`token`, `endpoint-url`, `timeout`,
  `nameservers`), and `addresses`, turning server names into addresses for the propagation wait.
No message built here quotes a header: the API token travels only in the request headers.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tlsagen.config_values import check_keys, get_float, get_str, get_str_list, read_secret
from tlsagen.core.endpoint import Endpoint, parse_endpoint
from tlsagen.core.records import Change, ChangeSet, Owner, RRset, already_applied
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.registry import ProviderSettings

ATTEMPTS = 5  # tries of one request in all
MAX_WAIT = 60.0  # seconds: a longer Retry-After is reported, not waited for
BACKOFF = 1.0  # seconds before the first retry of a read after a 5xx or a lost connection


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # the parsed JSON; None when the body is not JSON
    retry_after: float | None  # seconds, from the Retry-After header
    link: str | None = None  # the Link header (pagination)


class Unanswered(ProviderError):
    """No usable answer (refused, reset, timed out, 5xx, garbage): a write may or may not have
    been applied."""


class JsonApi:
    """Requests to one web API. `name` ("Cloudflare") introduces every message."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        name: str,
        needs: str,
        timeout: float = 30.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._headers = {"Accept": "application/json", **headers}
        self.name = name
        self._needs = needs  # what the token must allow, for a 401/403
        self._timeout = timeout

    def refusal(self, answer: Answer, what: str, reason: str) -> ProviderError:
        """The error for an answer that refused `what`, with the API's `reason`."""
        status, name = answer.status, self.name
        if status in (401, 403):
            text = f"{name} refused the token on {what} (HTTP {status}: {reason}); {self._needs}"
        elif status == 404:
            text = f"{name} found no such zone on {what} (HTTP 404: {reason})"
        elif status == 429:
            wait = f"{answer.retry_after:.0f} s" if answer.retry_after is not None else "a while"
            text = f"{name} still limits the request rate on {what} (HTTP 429); run again in {wait}"
        else:
            text = f"{name} refused {what} (HTTP {status}: {reason})"
        return ProviderError(text)

    def garbage(self, answer: Answer) -> ProviderError:
        return ProviderError(
            f"the answer from {self._base} (HTTP {answer.status}) is not a {self.name} API "
            "answer; check endpoint-url and any proxy"
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
        read: bool = True,
    ) -> Answer:
        """The answer to `method path`; `read`: the request changes nothing, so a 5xx answer
        or a lost connection is retried too. Unanswered when no answer came at all."""
        url = self._base + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        delay = BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            last = attempt == ATTEMPTS
            try:
                answer = self._send(method, url, body)
            except Unanswered:
                if not read or last:
                    raise
                time.sleep(delay)
                delay *= 2
                continue
            if answer.status == 429 and not last:
                wait = BACKOFF if answer.retry_after is None else answer.retry_after
                if wait > MAX_WAIT:
                    return answer
                time.sleep(wait)
            elif answer.status >= 500 and read and not last:
                time.sleep(delay)
                delay *= 2
            else:
                return answer
        raise AssertionError("unreachable: the last attempt returns")

    def _send(self, method: str, url: str, body: Any) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self._headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data, headers, method=method)
        try:
            return self._exchange(request)
        except urllib.error.URLError as exc:
            raise Unanswered(f"cannot reach {self.name} at {self._base} ({exc.reason})") from None
        except (OSError, http.client.HTTPException) as exc:
            what = "no answer in time" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise Unanswered(f"{self.name} at {self._base} gave no answer ({what})") from None

    def _exchange(self, request: urllib.request.Request) -> Answer:
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                return _answer(response.status, response.headers, response.read())
        except urllib.error.HTTPError as exc:
            with exc:  # an error status: its body is read like any other (or fails like one)
                return _answer(exc.code, exc.headers, exc.read())


def _answer(status: int, headers: Any, raw: bytes) -> Answer:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    return Answer(status, body, retry_after(headers.get("Retry-After")), headers.get("Link"))


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return float(min(int(text[:9]), 10**8))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass(frozen=True)
class ApiSettings:
    """The keys of a `[providers.NAME]` table that every web API provider takes."""

    where: str  # "tlsagen.toml [providers.NAME]", for error messages
    token: str = field(repr=False)
    endpoint_url: str
    timeout: float  # seconds for one HTTP request
    nameservers: tuple[Endpoint, ...] | None  # None: the provider's own name servers

    @classmethod
    def parse(
        cls, settings: ProviderSettings, keys: Collection[str], endpoint: str, token: str
    ) -> ApiSettings:
        """`keys`: every key the provider takes (these and its own); `token` says what token to
        make, for the message when it is missing."""
        options, where = settings.options, settings.where
        check_keys(options, keys, where)
        reference = get_str(options, "token", where)
        if reference is None:
            raise InputError(
                f"{where}: token is required: 'env:VARIABLE' or 'file:PATH' of {token}"
            )
        url = get_str(options, "endpoint-url", where, endpoint) or endpoint
        if not url.startswith(("http://", "https://")):
            raise InputError(f"{where} endpoint-url: expected an http:// or https:// URL")
        secret = read_secret(reference, f"{where} token", settings.base_dir)
        if not secret or not all("!" <= char <= "~" for char in secret):
            raise InputError(  # the secret itself is never shown
                f"{where} token: the secret {reference} names is empty or holds spaces or "
                "characters no API token has"
            )
        return cls(
            where=where,
            token=secret,
            endpoint_url=url,
            timeout=get_float(options, "timeout", where, 30.0),
            nameservers=_nameservers(options, where),
        )

    def client(self, name: str, scheme: str, needs: str) -> JsonApi:
        """The API client: the token in an `Authorization: <scheme> <token>` header, `needs`
        (what the token must allow) in the message of a 401/403."""
        headers = {"Authorization": f"{scheme} {self.token}"}
        return JsonApi(self.endpoint_url, headers, name, f"{needs} ({self.where})", self.timeout)


def _nameservers(options: Mapping[str, Any], where: str) -> tuple[Endpoint, ...] | None:
    """The addresses (IP or IP:PORT) to poll after a change; None when the key is absent (poll
    the provider's own name servers); an empty list: do not poll."""
    if "nameservers" not in options:
        return None
    key = f"{where} nameservers"
    return tuple(parse_endpoint(text, key) for text in get_str_list(options, "nameservers", where))


def addresses(names: Collection[str], port: int = 53) -> tuple[Endpoint, ...]:
    """Every address of each server name, in order, without repeats."""
    found: dict[Endpoint, None] = {}
    for name in names:
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            raise ProviderError(
                f"cannot find the addresses of name server {name} ({exc})"
            ) from None
        for info in infos:
            found[Endpoint(str(info[4][0]), port)] = None
    return tuple(found)


Held = Mapping[Owner, RRset]


def compare_and_swap(
    changes: ChangeSet,
    read: Callable[[], Held],
    write: Callable[[Sequence[Change]], None],
    name: str,
    groups: Sequence[Sequence[Change]] | None = None,
) -> None:
    """Apply `changes` through `write` (one atomic request per group; one group unless the API
    limits a request) only if `read` shows every `before`; return when it shows every `after`
    already (a retried run); otherwise ConflictError."""
    if already_applied(read(), changes.changes, f" in {name}"):
        return
    parts = groups or [changes.changes]
    for number, group in enumerate(parts, 1):
        done = f" (requests 1-{number - 1} of {len(parts)} were applied, each whole; run again)"
        try:
            write(group)
        except ProviderError as failure:
            held = _read_back(read, name, f"{failure}; ")
            if already_applied(held, group, f" in {name}"):
                continue
            if number > 1:
                raise ProviderError(f"{failure}{done}") from None
            if isinstance(failure, Unanswered):
                raise ProviderError(
                    f"{failure}; {name} holds what was read: nothing was applied"
                ) from None
            raise
    held = _read_back(read, name, f"{name} accepted the change, but ")
    moved = [change.owner for change in changes.changes if held.get(change.owner) != change.after]
    if moved:
        raise ConflictError(
            f"{moved[0]} holds other records right after tlsagen wrote it ({len(moved)} "
            f"owner(s)): another writer changed it at the same time; run again to plan anew"
        )


def _read_back(read: Callable[[], Held], name: str, prefix: str) -> Held:
    try:
        return read()
    except ProviderError as exc:
        raise ProviderError(
            f"{prefix}reading it back failed ({exc}): the change may have been applied; run "
            "again to check"
        ) from None
