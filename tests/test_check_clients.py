"""The real-client oracle: `tlsagen check` gives the verdict Postfix gives, case by case.

Every case publishes its TLSA records in the signed BIND zone (resolved by the lab's Unbound) and
has a Postfix smtpd send its chain (STARTTLS, and implicit TLS for ldns-dane). Beside
`tlsagen check` run Postfix's `posttls-finger` (dane level, the lab resolver in a private
resolv.conf), `openssl s_client -dane_tlsa_rrdata` and `ldns-dane verify`. tlsagen must equal
Postfix; OpenSSL and ldns-dane must too, except where a case names their difference (and then it
must really be there): docs/check.md says why Postfix is followed, and its verdict table is
checked against CASES here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tests.helpers import Cli, Run
from tests.testbed import DnsLab, flush_resolver, nsupdate, query
from tests.testbed.dane_clients import (
    MATCH,
    MISMATCH,
    NO_USABLE,
    ChainServer,
    dns_on_port_53,
    finger_config,
    ldns_dane,
    openssl_dane,
    posttls_finger,
    start_chain_postfix,
    write_chain_file,
)
from tests.testbed.postfix import issue, new_key
from tlsagen.core.material import spki_of_certificate

DOCS = Path(__file__).parent.parent / "docs" / "check.md"
TABLE_HEADING = "## What senders do, and what check says"
EXIT = {MATCH: 0, MISMATCH: 7, NO_USABLE: 0}
# posttls-finger's warning for each record it cannot use (tls_dane.c: parse_tlsa_rr, tlsa_carp)
UNUSABLE_SAID = (
    "unsupported TLSA certificate usage",
    "reserved private-use matching type",
    "unusable TLSA RR",
)
PAST = (datetime.now(UTC) - timedelta(days=400), datetime.now(UTC) - timedelta(days=10))


@dataclass(frozen=True)
class Pki:
    """Two CAs with the same names (Test Root, Test CA), leaves for mx1 and mail; the B side
    is the stranger: its keys are the wrong keys, its CA a decoy with the right name."""

    certs: dict[str, bytes]  # rootA intA leafA next expired, rootA-expired intA-expired intA-rsa, B
    keys: dict[str, CertificateIssuerPrivateKeyTypes]  # the leaves' keys


def make_pki() -> Pki:
    certs, keys = {}, {}
    for side in "AB":
        root_key, int_key = new_key("ecdsa"), new_key("ecdsa")
        root = issue("Test Root", root_key, None, root_key, ca=True)
        ca = issue("Test CA", int_key, root, root_key, ca=True)
        certs[f"root{side}"], certs[f"int{side}"] = (
            c.public_bytes(Encoding.DER) for c in (root, ca)
        )
        leaves = (
            {f"leaf{side}": None} if side == "B" else {"leafA": None, "next": None, "expired": PAST}
        )
        for name, valid in leaves.items():
            keys[name] = new_key("ecdsa")
            names = ("mx1.example.test", "mx2.example.test")
            leaf = issue(names[0], keys[name], ca, int_key, False, names, valid)
            certs[name] = leaf.public_bytes(Encoding.DER)
        if side == "A":  # the same CAs (names, keys), expired
            old_root = issue("Test Root", root_key, None, root_key, ca=True, valid=PAST)
            old_ca = issue("Test CA", int_key, root, root_key, ca=True, valid=PAST)
            certs["rootA-expired"] = old_root.public_bytes(Encoding.DER)
            certs["intA-expired"] = old_ca.public_bytes(Encoding.DER)
            rsa_ca = issue("Test CA", new_key("rsa"), root, root_key, ca=True)  # a decoy
            certs["intA-rsa"] = rsa_ca.public_bytes(Encoding.DER)
            certs |= key_id_chain(keys)
    return Pki(certs, keys)


def key_id_chain(keys: dict[str, CertificateIssuerPrivateKeyTypes]) -> dict[str, bytes]:
    """rootK -> intK -> leafK, with subject and authority key identifiers, and intK-decoy: a CA
    of the same name and issuer under another key (its key identifier differs)."""
    root_key, int_key, decoy_key = (new_key("ecdsa") for _ in range(3))
    keys["leafK"] = new_key("ecdsa")
    now = datetime.now(UTC)

    def make(
        subject: str,
        key: CertificateIssuerPrivateKeyTypes,
        issuer: str,
        issuer_key: CertificateIssuerPrivateKeyTypes,
        ca: bool,
    ) -> bytes:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if not ca:
            names = [x509.DNSName("mx1.example.test")]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)

    return {
        "rootK": make("Key Id Root", root_key, "Key Id Root", root_key, True),
        "intK": make("Key Id CA", int_key, "Key Id Root", root_key, True),
        "intK-decoy": make("Key Id CA", decoy_key, "Key Id Root", root_key, True),
        "leafK": make("mx1.example.test", keys["leafK"], "Key Id CA", int_key, False),
    }


Record = Callable[[Pki], str]


def tlsa(params: str, cert: str) -> Record:
    """`U S M` computed over one of the PKI's certificates."""

    def make(pki: Pki) -> str:
        _, selector, mtype = (int(f) for f in params.split())
        der = pki.certs[cert]
        selected = der if selector == 0 else spki_of_certificate(der)
        data = (selected, hashlib.sha256(selected).digest(), hashlib.sha512(selected).digest())
        return f"{params} {data[mtype].hex()}"

    return make


def raw(text: str) -> Record:
    return lambda pki: text


@dataclass(frozen=True)
class Case:
    situation: str  # a row of the table in docs/check.md
    chain: tuple[str, ...]  # what the server sends, in order: names of Pki.certs
    records: tuple[Record, ...]
    postfix: str  # Postfix's verdict: MATCH, MISMATCH or NO_USABLE
    host: str = "mx1.example.test"
    differs: dict[str, str] = field(default_factory=dict)  # client -> its (other) verdict
    label: str = ""

    @property
    def leaf(self) -> str:
        return self.chain[0]


SENT = ("leafA", "intA")
PKIX_USABLE = {"openssl": MISMATCH, "ldns-dane": MISMATCH}  # they take usages 0/1 as usable
CASES = [
    *(
        Case(
            "DANE-EE record of the leaf (3 S M, every selector and matching type)",
            SENT,
            (tlsa(f"3 {s} {m}", "leafA"),),
            MATCH,
            label=f"3 {s} {m}",
        )
        for s in (0, 1)
        for m in (0, 1, 2)
    ),
    *(
        Case(
            "DANE-TA record of a CA the server sends (2 S M)",
            SENT,
            (tlsa(f"2 {s} {m}", "intA"),),
            MATCH,
            label=f"2 {s} {m}",
        )
        for s in (0, 1)
        for m in (0, 1, 2)
    ),
    Case("DANE-EE record of another key", SENT, (tlsa("3 1 1", "leafB"),), MISMATCH),
    Case("DANE-TA record of another CA", SENT, (tlsa("2 1 1", "intB"),), MISMATCH),
    Case(
        "DANE-EE, expired leaf or name not in it (dates and names ignored)",
        ("expired", "intA"),
        (tlsa("3 1 1", "expired"),),
        MATCH,
        label="expired",
    ),
    Case(
        "DANE-EE, expired leaf or name not in it (dates and names ignored)",
        SENT,
        (tlsa("3 1 1", "leafA"),),
        MATCH,
        host="mail.example.test",
        label="name",
        differs={"ldns-dane": MISMATCH},  # it checks the name for DANE-EE too (without -n)
    ),
    Case(
        "DANE-TA, expired leaf or name not in it",
        ("expired", "intA"),
        (tlsa("2 1 1", "intA"),),
        MISMATCH,
        label="expired",
    ),
    Case(
        "DANE-TA, expired leaf or name not in it",
        SENT,
        (tlsa("2 1 1", "intA"),),
        MISMATCH,
        host="mail.example.test",
        label="name",
    ),
    Case(
        "current and next key published, either served",
        SENT,
        (tlsa("3 1 1", "leafA"), tlsa("3 1 1", "next")),
        MATCH,
        label="current served",
    ),
    Case(
        "current and next key published, either served",
        ("next", "intA"),
        (tlsa("3 1 1", "leafA"), tlsa("3 1 1", "next")),
        MATCH,
        label="next served",
    ),
    Case(
        "next key served before its record is published",
        ("next", "intA"),
        (tlsa("3 1 1", "leafA"),),
        MISMATCH,
    ),
    Case(
        "SHA2-256 and SHA2-512 records of one usage and selector, the SHA2-512 one wrong",
        SENT,
        (tlsa("3 1 1", "leafA"), raw("3 1 2 " + "00" * 64)),
        MISMATCH,
    ),
    Case(
        "SHA2-256 and SHA2-512 records of one usage and selector, the SHA2-256 one wrong",
        SENT,
        (raw("3 1 1 " + "00" * 32), tlsa("3 1 2", "leafA")),
        MATCH,
    ),
    Case(
        "chain sent in another order",
        ("leafA", "rootA", "intA"),
        (tlsa("2 1 1", "intA"),),
        MATCH,
        label="anchor CA",
    ),
    Case(
        "chain sent in another order",
        ("leafA", "rootA", "intA"),
        (tlsa("2 1 1", "rootA"),),
        MATCH,
        label="anchor root",
    ),
    Case(
        "chain with extra and repeated certificates",
        ("leafA", "leafB", "leafA", "intA"),
        (tlsa("2 1 1", "intA"),),
        MATCH,
    ),
    Case(
        "root sent, DANE-TA record of the root",
        ("leafA", "intA", "rootA"),
        (tlsa("2 1 1", "rootA"),),
        MATCH,
    ),
    Case(
        "DANE-TA digest of an anchor not sent",
        SENT,
        (tlsa("2 1 1", "rootA"),),
        MISMATCH,
        label="2 1 1",
    ),
    Case(
        "DANE-TA digest of an anchor not sent",
        SENT,
        (tlsa("2 0 2", "rootA"),),
        MISMATCH,
        label="2 0 2",
    ),
    Case(
        "DANE-TA full certificate or key of an anchor not sent (2 0 0, 2 1 0)",
        SENT,
        (tlsa("2 0 0", "rootA"),),
        MATCH,
        label="2 0 0",
    ),
    Case(
        "DANE-TA full certificate or key of an anchor not sent (2 0 0, 2 1 0)",
        SENT,
        (tlsa("2 1 0", "rootA"),),
        MATCH,
        label="2 1 0",
    ),
    Case(
        "DANE-TA full certificate or key of an anchor not sent (2 0 0, 2 1 0)",
        ("leafA",),
        (tlsa("2 0 0", "intA"),),
        MATCH,
        label="leaf alone",
    ),
    Case(
        "DANE-TA record of the leaf itself (DANE-TA matches only above the leaf)",
        SENT,
        (tlsa("2 1 1", "leafA"),),
        MISMATCH,
    ),
    Case(
        "DANE-TA anchor: an expired CA that is not self-signed (its dates are not checked)",
        ("leafA", "intA-expired"),
        (tlsa("2 0 1", "intA-expired"),),
        MATCH,
    ),
    Case(
        "DANE-TA anchor: an expired self-signed root (its dates are checked)",
        ("leafA", "intA", "rootA-expired"),
        (tlsa("2 0 1", "rootA-expired"),),
        MISMATCH,
    ),
    Case(
        "DANE-TA, a CA with the anchor's name sent before it (no path to the anchor)",
        ("leafA", "intB", "intA"),
        (tlsa("2 1 1", "intA"),),
        MISMATCH,
    ),
    Case(
        "DANE-TA, a CA with the anchor's name but another key type sent before it (skipped)",
        ("leafA", "intA-rsa", "intA"),
        (tlsa("2 1 1", "intA"),),
        MATCH,
    ),
    Case(
        "DANE-TA, a CA with the anchor's name but another key identifier sent before it (skipped)",
        ("leafK", "intK-decoy", "intK"),
        (tlsa("2 1 1", "intK"),),
        MATCH,
    ),
    Case(
        "DANE-TA, an expired and a valid copy of the CA sent: the path takes the valid one",
        ("leafA", "intA-expired", "intA"),
        (tlsa("2 0 1", "intA"),),
        MATCH,
    ),
    Case(
        "DANE-TA record of the expired copy, a valid copy also sent (off the path)",
        ("leafA", "intA-expired", "intA"),
        (tlsa("2 0 1", "intA-expired"),),
        MISMATCH,
    ),
    Case(
        "usable and unusable records: the usable ones decide",
        SENT,
        (
            tlsa("3 1 1", "leafA"),
            raw("3 1 1 abcd"),
            raw("4 1 1 " + "00" * 32),
            raw("2 0 0 3003020100"),
            tlsa("0 1 1", "intA"),
        ),
        MATCH,
    ),
    Case(
        "no usable record: digest of the wrong length",
        SENT,
        (raw("3 1 1 abcd"),),
        NO_USABLE,
        label="3 1 1 2 bytes",
    ),
    Case(
        "no usable record: digest of the wrong length",
        SENT,
        (raw("3 1 2 " + "00" * 32),),
        NO_USABLE,
        label="3 1 2 32 bytes",
    ),
    Case(
        "no usable record: undefined usage, selector or matching type",
        SENT,
        (
            raw("4 1 1 " + "00" * 32),
            raw("3 2 1 " + "00" * 32),
            raw("3 1 9 " + "00" * 32),
            raw("3 1 255 " + "00" * 32),
        ),
        NO_USABLE,
    ),
    Case(
        "no usable record: Full(0) data that is no certificate or key",
        SENT,
        (raw("2 0 0 3003020100"), raw("3 1 0 3003020100")),
        NO_USABLE,
    ),
    Case(
        "no usable record: PKIX usages (0, 1) in SMTP",
        SENT,
        (tlsa("0 1 1", "intA"), tlsa("1 1 1", "leafA")),
        NO_USABLE,
        differs=PKIX_USABLE,
    ),
    *(
        Case(
            "no usable record: PKIX usages (0, 1) in SMTP",
            SENT,
            (tlsa(f"{u} {s} {m}", "leafA" if u else "intA"),),
            NO_USABLE,
            differs=PKIX_USABLE,
            label=f"{u} {s} {m}",
        )
        for u in (0, 1)
        for s in (0, 1)
        for m in (0, 1, 2)
    ),
]


def case_id(case: Case) -> str:
    return re.sub(r"[^a-z0-9]+", "-", f"{case.situation} {case.label}".lower()).strip("-")


assert len({case_id(case) for case in CASES}) == len(CASES), "every case needs its own id"


@dataclass(frozen=True)
class Oracle:
    dns: DnsLab
    pki: Pki
    servers: dict[str, ChainServer]  # case id -> its server
    relay: str  # the lab resolver on port 53
    finger: Path  # posttls-finger's configuration

    def records(self, case: Case) -> list[str]:
        return [make(self.pki) for make in case.records]


def publish_all(dns: DnsLab, pki: Pki, servers: dict[str, ChainServer]) -> None:
    """Every case's records at both its ports, in one update; wait for both servers to serve
    them signed, then flush the resolver."""
    lines, owners = [], []
    for case in CASES:
        server = servers[case_id(case)]
        for port in (server.starttls_port, server.wrapper_port):
            owner = f"_{port}._tcp.{case.host}."
            owners.append(owner)
            lines += [f"update add {owner} 60 TLSA {make(pki)}" for make in case.records]
    nsupdate(dns.bind, lines)
    deadline = time.monotonic() + 30
    last = owners[-1]
    while not all(
        any(r.rdtype == 46 for r in query(s, last, "TLSA").answer) for s in dns.bind.servers
    ):
        assert time.monotonic() < deadline, "the records were not served in time"
        time.sleep(0.2)
    flush_resolver(dns, dns.bind.name)


@pytest.fixture(scope="module")
def oracle(dns_lab: DnsLab) -> Iterator[Oracle]:
    if os.geteuid() != 0:
        pytest.fail(
            "the client suite needs root: posttls-finger runs in a private mount namespace, "
            "the lab resolver is relayed on port 53",
            pytrace=False,
        )
    pki = make_pki()
    with tempfile.TemporaryDirectory(prefix="tlsagen-clients-") as directory:
        work = Path(directory)
        work.chmod(0o755)  # the postfix user must reach its data directory
        files = [
            write_chain_file(
                work / f"{i}.pem", pki.keys[case.leaf], [pki.certs[c] for c in case.chain]
            )
            for i, case in enumerate(CASES)
        ]
        with (
            start_chain_postfix(work / "postfix", files) as started,
            dns_on_port_53(dns_lab.resolver) as relay,
        ):
            servers = {case_id(case): server for case, server in zip(CASES, started, strict=True)}
            publish_all(dns_lab, pki, servers)
            yield Oracle(dns_lab, pki, servers, relay, finger_config(work / "finger", relay))


def tlsagen_verdict(run: Run) -> str:
    data = json.loads(run.out)
    (host,) = data["targets"][0]["hosts"]
    lives = [live for probe in host["probes"] for live in probe["live"]]
    assert lives, run.err
    said = " ".join(problem["text"] for problem in host["problems"])
    if not host["usable"]:
        assert "DANE senders still require TLS but do not authenticate the server" in said
        return NO_USABLE
    return MATCH if all(live["matched"] for live in lives) else MISMATCH


def unusable_said(run: Run) -> int:
    """How many records the report calls unusable, each with its reason."""
    (host,) = json.loads(run.out)["targets"][0]["hosts"]
    return sum(" is unusable: " in problem["text"] for problem in host["problems"])


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_tlsagen_gives_postfix_verdict(cli: Cli, oracle: Oracle, case: Case) -> None:
    server = oracle.servers[case_id(case)]
    records = oracle.records(case)
    postfix, said = posttls_finger(oracle.finger, case.host, server.starttls_port)
    assert postfix == case.postfix, said
    args = [f"{case.host}:{server.starttls_port}", "--starttls", "smtp", "--timeout", "5"]
    args += ["--resolver", oracle.dns.resolver.address()]
    for ns in oracle.dns.bind.servers:
        args += ["--nameserver", ns.address()]
    run = cli("check", *args, "--json")
    assert tlsagen_verdict(run) == postfix, run.out
    unusable = sum(said.count(w) for w in UNUSABLE_SAID)
    assert unusable_said(run) == unusable, run.out  # each one Postfix skips, with its reason
    assert run.code == EXIT[postfix], run.err
    others = {
        "openssl": openssl_dane(case.host, server.starttls_port, records),
        "ldns-dane": ldns_dane(oracle.relay, case.host, server.wrapper_port, len(records)),
    }
    for client, (verdict, output) in others.items():
        assert verdict == case.differs.get(client, postfix), f"{client}:\n{output}"


# --- the verdict table of docs/check.md ---------------------------------------------------------


def doc_rows() -> dict[str, tuple[str, int]]:
    """situation -> (what check says, exit code), from the table under TABLE_HEADING."""
    text = DOCS.read_text().split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 5 and cells[4].isdigit():
            rows[cells[0]] = (cells[3], int(cells[4]))
    return rows


VERDICT_WORDS = {MATCH: "match", MISMATCH: "mismatch", NO_USABLE: "no usable record"}


def test_the_docs_table_holds_every_case_and_its_verdict() -> None:
    rows = doc_rows()
    situations = {case.situation: case.postfix for case in CASES}
    assert len({(case.situation, case.postfix) for case in CASES}) == len(situations)
    assert set(rows) == set(situations)
    for situation, verdict in situations.items():
        says, code = rows[situation]
        assert code == EXIT[verdict], situation
        assert VERDICT_WORDS[verdict] in says.lower(), situation
        assert verdict != MATCH or "mismatch" not in says, situation
