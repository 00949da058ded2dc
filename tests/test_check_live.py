"""`tlsagen check` against real servers: BIND + Unbound (DNSSEC), Postfix (STARTTLS, RSA + EC).

Verdicts are compared with `openssl s_client -dane_tlsa_rrdata`, an independent implementation.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding

from tests.helpers import Run
from tests.test_rollover_e2e import (
    GATE,
    HOST,
    TTL,
    Setup,
    mail_server,  # noqa: F401 - a Postfix of the test's own
)
from tests.testbed import DnsLab, Zone, flush_resolver, nsupdate, query
from tests.testbed.acme import Pebble
from tests.testbed.ports import free_port
from tests.testbed.postfix import Chain, PostfixLab, new_key
from tlsagen.check import HostReport, Job, _Run
from tlsagen.core.endpoint import Endpoint
from tlsagen.core.material import Material, read_source, spki_of_certificate
from tlsagen.core.tlsa import Params, compute

MX1 = "mx1.example.test"
Cli = Callable[..., Run]


@dataclass(frozen=True)
class Bed:
    dns: DnsLab
    mail: PostfixLab

    @property
    def resolver(self) -> str:
        return self.dns.resolver.address()

    def dns_args(self) -> list[str]:
        args = ["--resolver", self.resolver, "--timeout", "5"]
        for server in self.dns.bind.servers:
            args += ["--nameserver", server.address()]
        return args


@pytest.fixture(scope="module")
def bed(dns_lab: DnsLab, postfix_lab: PostfixLab) -> Bed:
    return Bed(dns_lab, postfix_lab)


def rec(params: str, chain: Chain, depth: int = 0) -> str:
    """A record for chain (leaf 0, intermediate 1, root 2), computed by tlsagen.core.tlsa."""
    certs = (chain.leaf, chain.intermediate, chain.root)
    material = Material("test", "certificate", spki_of_certificate(chain.leaf), certs, "")
    return compute(material, Params.parse(params), ta=str(depth) if depth else None).to_text()


def served_signed(zone: Zone, owner: str, records: list[str]) -> bool:
    for server in zone.servers:
        response = query(server, owner, "TLSA")
        held = {
            f"{rd.usage} {rd.selector} {rd.mtype} {rd.cert.hex()}"
            for rrset in response.answer
            if rrset.rdtype == dns.rdatatype.TLSA
            for rd in rrset
        }
        signed = any(rrset.rdtype == dns.rdatatype.RRSIG for rrset in response.answer)
        if held != set(records) or (records and not signed):
            return False
    return True


def publish(bed: Bed, owner: str, records: list[str], zone: Zone | None = None) -> None:
    """Replace the TLSA RRset at owner, wait until every server of the zone (default: BIND's
    example.test) serves it, flush Unbound."""
    zone = zone or bed.dns.bind
    lines = [f"update delete {owner} TLSA"] + [f"update add {owner} 60 TLSA {r}" for r in records]
    nsupdate(zone, lines)
    deadline = time.monotonic() + 15
    while not served_signed(zone, owner, records):
        assert time.monotonic() < deadline, f"{owner} not served in time"
        time.sleep(0.1)
    flush_resolver(bed.dns, zone.name)


def owner(port: int, host: str = MX1) -> str:
    return f"_{port}._tcp.{host}."


def check(cli: Cli, *args: str) -> tuple[Run, dict[str, Any]]:
    run = cli("check", *args, "--json")
    return run, json.loads(run.out)


def lives(data: dict[str, Any], host: str = MX1) -> dict[str, dict[str, Any]]:
    """'EC' / 'RSA' -> the live handshake of that key type on host."""
    found = {}
    for target in data["targets"]:
        for item in target["hosts"]:
            if item["host"] == host + ".":
                for probe in item["probes"]:
                    for live in probe["live"]:
                        found[live["key_type"].split()[0]] = live
    return found


def problems(data: dict[str, Any]) -> list[str]:
    found = []
    for target in data["targets"]:
        found += [f"{p['kind']}: {p['text']}" for p in target["problems"]]
        for host in target["hosts"]:
            found += [f"{p['kind']}: {p['text']}" for p in host["problems"]]
    return found


def openssl_verifies(port: int, key_type: str, records: list[str], starttls: bool = True) -> bool:
    """The verdict of `openssl s_client` with DANE, for the RSA or the ECDSA certificate."""
    argv = ["openssl", "s_client", "-brief", "-connect", f"127.0.0.1:{port}"]
    argv += ["-tls1_2", "-cipher", {"RSA": "aRSA", "EC": "aECDSA"}[key_type]]
    argv += ["-dane_tlsa_domain", MX1, "-dane_ee_no_namechecks"]
    argv += ["-starttls", "smtp"] if starttls else []
    for record in records:
        argv += ["-dane_tlsa_rrdata", record]
    done = subprocess.run(argv, input="", capture_output=True, text=True, timeout=30, check=False)
    return "Verification: OK" in done.stdout + done.stderr


def agree_with_openssl(bed: Bed, data: dict[str, Any], records: list[str], port: int) -> None:
    found = lives(data)
    assert set(found) == {"RSA", "EC"}, "both key types should be probed"
    for key_type, live in found.items():
        starttls = port != bed.mail.wrapper_port
        oracle = openssl_verifies(port, key_type, records, starttls)
        assert (live["matched"] is not None) is oracle, (key_type, live)


def test_both_keys_match(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    records = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), records)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 0, run.err
    found = lives(data)
    assert found["EC"]["tls"] == found["RSA"]["tls"] == "TLSv1.2"
    assert {live["depth"] for live in found.values()} == {0}
    host = data["targets"][0]["hosts"][0]
    assert host["tlsa"]["status"] == "secure" and host["dane"]
    assert [s["signed"] and s["ds_match"] and not s["invalid"] for s in host["servers"]] == [
        True,
        True,
    ]
    agree_with_openssl(bed, data, records, port)


def test_a_key_without_a_record_is_a_mismatch(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    records = [rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), records)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 7
    assert lives(data)["RSA"]["matched"] is None
    assert "RSA 2048: the live key matches no record" in run.err
    agree_with_openssl(bed, data, records, port)


def test_dane_ta_with_the_anchor_in_the_served_chain(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    records = [rec("2 1 1", bed.mail.rsa, 1), rec("2 1 1", bed.mail.ecdsa, 1)]
    publish(bed, owner(port), records)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 0, run.err
    assert {live["depth"] for live in lives(data).values()} == {1}
    agree_with_openssl(bed, data, records, port)


def test_dane_ta_with_the_anchor_not_served(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    digests = [rec("2 1 1", bed.mail.rsa, 2), rec("2 1 1", bed.mail.ecdsa, 2)]
    publish(bed, owner(port), digests)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 7
    agree_with_openssl(bed, data, digests, port)
    full = [rec("2 0 0", bed.mail.rsa, 2), rec("2 0 0", bed.mail.ecdsa, 2)]  # RFC 7671 §5.2.2
    publish(bed, owner(port), full)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 0, run.err
    assert {live["depth"] for live in lives(data).values()} == {2}
    agree_with_openssl(bed, data, full, port)


def test_digest_agility(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    records = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    records.append(rec("3 1 2", bed.mail.ecdsa))  # SHA-512 for one key only
    publish(bed, owner(port), records)
    run, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 7
    rsa = lives(data)["RSA"]
    assert "ignored" in {r["status"] for r in rsa["records"]}
    assert lives(data)["EC"]["matched"].startswith("3 1 2")
    agree_with_openssl(bed, data, records, port)


def test_implicit_tls(cli: Cli, bed: Bed) -> None:
    port = bed.mail.wrapper_port
    records = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), records)
    run, data = check(cli, f"{MX1}:{port}", *bed.dns_args())  # an unknown port: implicit TLS
    assert run.code == 0, run.err
    agree_with_openssl(bed, data, records, port)


def test_no_tlsa_is_not_dane(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    publish(bed, owner(port, "mx2.example.test"), [])
    args = ["mx2.example.test:" + str(port), "--starttls", "smtp", *bed.dns_args()]
    run, data = check(cli, *args)
    assert run.code == 0, run.err
    assert any("not DANE" in p and "no TLSA records" in p for p in problems(data))
    assert set(lives(data, "mx2.example.test")) == {"RSA", "EC"}
    assert cli("check", *args, "--strict").code == 6


def test_a_server_without_starttls(cli: Cli, bed: Bed) -> None:
    port = bed.mail.plain_port
    publish(bed, owner(port), [rec("3 1 1", bed.mail.ecdsa)])
    run = cli("check", f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 4
    assert "does not offer STARTTLS" in run.err and "DANE senders will not deliver" in run.err


def test_a_server_that_is_down(cli: Cli, bed: Bed) -> None:
    run = cli("check", f"{MX1}:{free_port()}", "--starttls", "smtp", *bed.dns_args())
    assert run.code == 4
    assert "cannot connect" in run.err


def test_one_wrong_mx_host(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    good = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), good)
    publish(bed, owner(port, "mx2.example.test"), ["3 1 1 " + "00" * 32])
    args = ["example.test", "--mx", "--port", str(port), "--starttls", "smtp"]
    run, data = check(cli, *args, *bed.dns_args())
    assert run.code == 7
    target = data["targets"][0]
    assert target["mx"]["status"] == "secure"
    assert [h["host"] for h in target["hosts"]] == ["mx1.example.test.", "mx2.example.test."]
    assert all(live["matched"] for live in lives(data).values())
    assert not any(live["matched"] for live in lives(data, "mx2.example.test").values())
    assert any("different TLSA RRsets" in p for p in problems(data))


def test_bogus_dnssec(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    args = [f"mx1.{bed.dns.bogus_zone}:{port}", "--starttls", "smtp", "--resolver", bed.resolver]
    run, data = check(cli, *args, "--nameserver", bed.dns.root.address())
    assert run.code == 6
    host = data["targets"][0]["hosts"][0]
    assert host["tlsa"]["status"] == "bogus" and "EDE" in host["tlsa"]["detail"]
    assert host["probes"] == []  # the address is bogus: no sender would connect
    assert any("no DNSKEY of bogus.test. matches a DS" in p for p in problems(data))


def test_unsigned_zone_is_not_dane(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    args = [f"mx1.{bed.dns.unsigned_zone}:{port}", "--starttls", "smtp", "--resolver", bed.resolver]
    run, data = check(cli, *args)
    assert run.code == 0, run.err
    host = data["targets"][0]["hosts"][0]
    assert host["tlsa"]["status"] == "insecure" and len(host["records"]) == 1
    assert "no DS at its parent" in host["insecure_reason"]
    assert "is not signed" in host["insecure_reason"]
    assert not host["dane"] and len(lives(data, "mx1.unsigned.test")) == 2


def write_chain(path: Path, *ders: bytes) -> Path:
    path.write_bytes(
        b"".join(x509.load_der_x509_certificate(d).public_bytes(Encoding.PEM) for d in ders)
    )
    return path


def test_offline_chain_with_records(cli: Cli, bed: Bed, tmp_path: Path) -> None:
    chain = write_chain(tmp_path / "chain.pem", *bed.mail.ecdsa.served)
    good = rec("3 1 1", bed.mail.ecdsa)
    run = cli("check", "--chain", chain, "--tlsa", good, "--tlsa", "3 1 1 " + "00" * 32)
    assert run.code == 0, run.err
    assert f"match, {good} at depth 0" in run.out
    run = cli("check", "--chain", chain, "--tlsa", rec("3 1 1", bed.mail.rsa))
    assert run.code == 7
    ta = rec("2 1 1", bed.mail.ecdsa, 1)
    run = cli("check", "--chain", chain, "--tlsa", ta, "--name", "mx2.example.test")
    assert run.code == 0 and f"{ta} at depth 1" in run.out
    run = cli("check", "--chain", chain, "--tlsa", ta, "--name", "mail.example.test")
    assert run.code == 7 and "not among the leaf's names" in run.out


def test_offline_chain_against_dns(cli: Cli, bed: Bed, tmp_path: Path) -> None:
    chain = write_chain(tmp_path / "chain.pem", *bed.mail.rsa.served)
    publish(bed, owner(25), [rec("3 1 1", bed.mail.rsa)])
    run = cli("check", "--chain", chain, "--name", MX1, "--resolver", bed.resolver)
    assert run.code == 0, run.err
    assert "TLSA: secure, 1 record(s)" in run.out
    assert cli("check", "--chain", chain, "--port", "26", "--resolver", bed.resolver).code == 0


def provider_table(name: str, zone: Zone) -> str:
    servers = ", ".join(f'"{server.address()}"' for server in zone.servers)
    return f"""[providers.{name}]
type = "rfc2136"
server = "{zone.primary.address()}"
nameservers = [{servers}]
key-file = "{zone.key.key_file}"
"""


def test_configured_services_in_two_zones(cli: Cli, bed: Bed, tmp_path: Path) -> None:
    """Each service with its own port and `starttls`, asking the servers its provider names
    for its zone: example.test on the two BINDs, knot.test on Knot. Neither port is a STARTTLS
    port by its number: mail says `starttls = "smtp"`, knot's port takes implicit TLS."""
    port = bed.mail.starttls_port  # no STARTTLS port by number: `starttls` must say so
    next_key = tmp_path / "next.key"
    next_key.write_bytes(
        new_key("ecdsa").private_bytes(
            Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    next_key.chmod(0o600)
    next_record = compute(read_source(str(next_key)), Params(3, 1, 1))
    stale = "3 1 1 " + "11" * 32
    live = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), [*live, next_record.to_text(), stale])
    knot_host, wrapper = "mx1.knot.test", bed.mail.wrapper_port
    publish(bed, owner(wrapper, knot_host), live, bed.dns.knot)
    certs = f'cert = ["{bed.mail.rsa.pem_file}", "{bed.mail.ecdsa.pem_file}"]'
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f"""[defaults]
resolver = "{bed.resolver}"
state = "{tmp_path / "state.json"}"
{provider_table("lab", bed.dns.bind)}
{provider_table("knot", bed.dns.knot)}
[[services]]
name = "mail"
hosts = ["{MX1}"]
ports = [{port}]
{certs}
next-key = "{next_key}"
starttls = "smtp"
provider = "lab"
[[services]]
name = "knot"
hosts = ["{knot_host}"]
ports = [{wrapper}]
{certs}
provider = "knot"
"""
    )
    run, data = check(cli, "--config", str(config), "--timeout", "5")
    assert run.code == 0, run.err
    assert data["resolver"] == bed.resolver
    by_label = {(t["label"], t["port"]): t for t in data["targets"]}
    assert set(by_label) == {("mail", port), ("knot", wrapper)}
    mail, knot = by_label["mail", port]["hosts"][0], by_label["knot", wrapper]["hosts"][0]
    assert (mail["protocol"], knot["protocol"]) == ("smtp", "none")
    bind_servers = [s.address() for s in bed.dns.bind.servers]
    assert sorted(s["server"] for s in mail["servers"]) == sorted(bind_servers)
    assert [s["server"] for s in knot["servers"]] == [bed.dns.knot.primary.address()]
    assert all(s["signed"] and not s["invalid"] and s["ds_match"] for s in knot["servers"])
    for host in (mail, knot):
        assert [p["error"] for p in host["probes"]] == [None]
        assert {live["matched"] is not None for p in host["probes"] for live in p["live"]} == {True}
    found = problems(data)
    assert any(p.startswith("warning: 3 1 1 11111111") and "stale" in p for p in found)
    assert any(f"next key ({next_key})" in p for p in found)
    assert not any("rollover" in p for p in found if "mx1.example.test" in p)
    assert cli("check", "--config", str(config), "--strict").code == 6  # the stale record
    # --starttls is for every service
    run, data = check(cli, "--config", str(config), "--timeout", "5", "--starttls", "none")
    assert run.code == 4
    assert {h["protocol"] for t in data["targets"] for h in t["hosts"]} == {"none"}


def test_a_resolver_that_does_not_validate_fails_the_check(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    publish(bed, owner(port), [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)])
    target = f"{MX1}:{port}"
    run, data = check(cli, target, "--starttls", "smtp", *bed.dns_args())
    assert run.code == 0, run.err
    assert data["resolver"] == bed.resolver and data["problems"] == []
    text = cli("check", target, "--starttls", "smtp", *bed.dns_args())
    assert text.out.startswith(f"resolver: {bed.resolver} (validates DNSSEC)\n")
    # the BIND serving the root answers for it, but does not validate: no AD bit
    plain = bed.dns.root.address()
    run, data = check(cli, target, "--starttls", "smtp", "--resolver", plain)
    assert run.code == 4
    assert data["resolver"] == plain
    assert f"resolver {plain} does not validate DNSSEC (no AD bit for the root zone)" in run.err
    assert "give one with --resolver IP[:PORT] or [defaults] resolver" in run.err
    assert [p["kind"] for p in data["problems"]] == ["failure"]
    text = cli("check", target, "--starttls", "smtp", "--resolver", plain)
    assert text.code == 4 and text.out.startswith(f"resolver: {plain}\nfailure: resolver")


def test_a_resolver_that_refuses_fails_at_once(cli: Cli, bed: Bed) -> None:
    started = time.monotonic()
    run = cli("check", f"{MX1}:25", "--resolver", f"127.0.0.1:{free_port()}", "--timeout", "30")
    assert time.monotonic() - started < 10  # not after the 30 s timeout
    assert run.code == 4
    assert "refused the query (nothing listens there)" in run.err


class DenyingServer:
    """A DNS server that relays every UDP query to `upstream`, but answers NXDOMAIN for `denied`:
    an authoritative server that denies an empty non-terminal."""

    def __init__(self, upstream: tuple[str, int], denied: str) -> None:
        self.upstream, self.denied = upstream, dns.name.from_text(denied)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.stop = threading.Event()
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        while not self.stop.is_set():
            try:
                data, peer = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            question = dns.message.from_wire(data)
            if question.question[0].name == self.denied:
                response = dns.message.make_response(question)
                response.set_rcode(dns.rcode.NXDOMAIN)
                data = response.to_wire()
            else:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as relay:
                    relay.settimeout(5)
                    relay.sendto(data, self.upstream)
                    data = relay.recv(65535)
            self.sock.sendto(data, peer)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.sock.close()


def test_nxdomain_at_an_empty_non_terminal(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    publish(bed, owner(port), [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)])
    primary, secondary = bed.dns.bind.servers
    args = [f"{MX1}:{port}", "--starttls", "smtp", "--resolver", bed.resolver]
    run, data = check(cli, *args, "--nameserver", primary.address())
    assert run.code == 0 and not any("NXDOMAIN" in p for p in problems(data)), run.err
    rogue = DenyingServer((primary.host, primary.port), f"_tcp.{MX1}.")
    try:
        servers = ["--nameserver", rogue.address, "--nameserver", secondary.address()]
        run, data = check(cli, *args, *servers)
        strict = cli("check", *args, *servers, "--strict")
    finally:
        rogue.close()
    assert run.code == 0, run.err
    denied = [p for p in problems(data) if "NXDOMAIN" in p]
    assert denied == [
        f"warning: authoritative server {rogue.address} answers NXDOMAIN for _tcp.{MX1}., "
        f"above {owner(port)}: resolvers that minimise query names (RFC 9156) stop there and "
        "find no TLSA records (RFC 8020); the server must answer NOERROR for this empty "
        "non-terminal"
    ]
    assert strict.code == 6


def test_check_names_the_keys_of_a_rollover(
    cli: Cli, dns_lab: DnsLab, pebble: Pebble, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Through a certbot renewal that tlsagen stages, deploys to Postfix and retires, `check
    --strict` stays green and names the records of the staged and of the retiring key; a
    record that no key explains turns it red."""
    setup = Setup(tmp_path, dns_lab, pebble, request.getfixturevalue("mail_server"))
    config = ["--config", str(setup.config), "--json"]

    def checked() -> tuple[Run, list[str]]:
        flush_resolver(dns_lab, dns_lab.bind.name)
        run = cli("check", *config, "--strict")
        return run, problems(json.loads(run.out))

    setup.certbot.certonly("mail", HOST, "--deploy-hook", str(setup.hook))
    assert "exit 0" in setup.hook_output()
    time.sleep(GATE + 0.5)
    assert setup.advance().returncode == 0  # deployed
    first = setup.lineage_key()
    run, found = checked()
    assert run.code == 0, run.err

    setup.certbot.renew("mail")
    assert "is staged" in setup.hook_output()
    second = setup.lineage_key()
    run, found = checked()
    assert run.code == 0, run.err
    staged = [p for p in found if p.startswith(f"note: {second[:6]}")]
    assert len(staged) == 1 and ": staged certificate (" in staged[0], found
    assert re.search(r", published \d+ s ago$", staged[0]), staged

    time.sleep(GATE + 0.5)
    done = setup.advance()
    assert "deployed and reloaded" in done.stdout and "retire waits until" in done.stdout
    run, found = checked()
    assert run.code == 0, run.err
    retiring = [p for p in found if p.startswith(f"note: {first[:6]}")]
    assert len(retiring) == 1, found
    assert re.search(r": retiring \(a former key\), removal due at [-\d]+ [:\d]+ UTC$", retiring[0])

    time.sleep(TTL + 0.5)
    assert setup.advance().returncode == 0  # retired
    run, found = checked()
    assert run.code == 0, run.err
    assert not any(first[6:22] in p for p in found)

    unknown = "3 1 1 " + "22" * 32
    nsupdate(dns_lab.bind, [f"update add {setup.owner.name} {TTL} TLSA {unknown}"])
    deadline = time.monotonic() + 15
    while not all(unknown in held for held in setup.served()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    run, found = checked()
    assert run.code == 6
    assert any(
        p.startswith("warning: 3 1 1 22222222")
        and "matches neither a live key nor any key the configuration or state file knows" in p
        for p in found
    ), found


def test_a_bug_in_one_job_leaves_the_rest_of_the_report(
    cli: Cli, bed: Bed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One host's job failing on a bug does not take the other targets' results with it: they
    are reported, the bug is named as a problem of the run, and the exit code is 1."""
    port = bed.mail.starttls_port
    records = [rec("3 1 1", bed.mail.rsa), rec("3 1 1", bed.mail.ecdsa)]
    publish(bed, owner(port), records)
    real = _Run.lookup_host

    def lookup_host(self: _Run, host: HostReport, nameservers: tuple[Endpoint, ...]) -> list[Job]:
        if host.host.startswith("broken."):
            raise KeyError("a bug")
        return real(self, host, nameservers)

    monkeypatch.setattr(_Run, "lookup_host", lookup_host)
    run, data = check(
        cli, f"{MX1}:{port}", f"broken.{MX1}:{port}", "--starttls", "smtp", *bed.dns_args()
    )
    assert run.code == 1, run.err
    assert [p["kind"] for p in data["problems"]] == ["internal"]
    assert "KeyError: 'a bug'" in data["problems"][0]["text"]
    assert lives(data)["EC"]["matched"] is not None  # the other target was checked in full
    assert "error: internal error in a check job (KeyError: 'a bug')" in run.err
