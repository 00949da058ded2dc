"""What tlsagen takes from a DNS answer, how long one exchange may last, and how remote text is
written (the hostile-server runs of the CLI are in tests/hostile/)."""

from __future__ import annotations

import time

import dns.message
import dns.rrset
import pytest

from tests.helpers import Cli
from tests.hostile.rogue import DRIPPING, rogue_dns
from tlsagen import registry
from tlsagen.core.text import escaped
from tlsagen.errors import ProviderError
from tlsagen.net.dns import ReplyError, exchange
from tlsagen.net.lookup import Resolver
from tlsagen.provider import Endpoint


def answer_of(query: str, rdtype: str, *rrsets: tuple[str, str, str]) -> dns.message.Message:
    response = dns.message.make_response(dns.message.make_query(query, rdtype))
    for owner, kind, data in rrsets:
        response.answer.append(dns.rrset.from_text(owner, 60, "IN", kind, data))
    return response


@pytest.mark.parametrize(
    ("rrsets", "expected"),
    [
        ([("other.test.", "A", "192.0.2.9")], []),
        ([("a.test.", "CNAME", "b.test."), ("b.test.", "A", "192.0.2.1")], ["192.0.2.1"]),
        ([("a.test.", "CNAME", "b.test."), ("c.test.", "A", "192.0.2.9")], []),
        ([("a.test.", "CNAME", "b.test."), ("b.test.", "CNAME", "a.test.")], []),
        ([("other.test.", "A", "192.0.2.9"), ("a.test.", "A", "192.0.2.1")], ["192.0.2.1"]),
    ],
    ids=["other owner", "CNAME chain", "CNAME to elsewhere", "CNAME loop", "both"],
)
def test_a_resolver_answer_is_used_for_the_name_asked_only(
    monkeypatch: pytest.MonkeyPatch, rrsets: list[tuple[str, str, str]], expected: list[str]
) -> None:
    resolver = Resolver(Endpoint("127.0.0.1", 53), 1.0)
    reply = answer_of("a.test.", "A", *rrsets)
    monkeypatch.setattr(resolver, "_send", lambda *args, **kwargs: reply)
    assert resolver.query("a.test.", "A").values() == expected


def test_udp_then_tcp_share_one_deadline() -> None:
    """Truncated over UDP after 1 s, then dripped over TCP: 1.5 s in all, not 1 s + 1.5 s."""
    query = dns.message.make_query("mx.hostile.test.", "TLSA")
    with rogue_dns(DRIPPING, udp_delay=1.0) as server:
        started = time.monotonic()
        with pytest.raises(ReplyError, match="in time"):
            exchange(query, Endpoint("127.0.0.1", server.port), 1.5)
        assert time.monotonic() - started < 2.2


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mx1.example.com ESMTP", "mx1.example.com ESMTP"),
        ("\x1b[2J\x1b]0;title\x07", "\\x1b[2J\\x1b]0;title\\x07"),
        ("ok\r\nerror: fake", "ok\\r\\nerror: fake"),
        ("\u202egnp.exe", "\\u202egnp.exe"),
        ("caf\u00e9 \x9b", "caf\u00e9 \\x9b"),
    ],
)
def test_remote_text_is_escaped(text: str, shown: str) -> None:
    assert escaped(text) == shown


@pytest.mark.parametrize(
    ("raised", "code", "said"),
    [
        (EOFError("EOF"), 1, "error: internal error (EOFError: EOF)"),
        (KeyboardInterrupt(), 130, ""),  # typer 0.2x says nothing, others "error: interrupted"
        (ProviderError("from \x1b[31mafar"), 4, "error: from \\x1b[31mafar"),
    ],
)
def test_only_ctrl_c_is_an_interrupt(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: int, said: str
) -> None:
    """click turns any EOFError into its Abort, as for Ctrl-C: tlsagen tells them apart."""

    def fail() -> dict[str, str]:
        raise raised

    monkeypatch.setattr(registry, "installed", fail)
    run = cli("providers")
    assert run.code == code
    assert said in run.err, run.err
    assert code == 130 or "interrupted" not in run.err, run.err
