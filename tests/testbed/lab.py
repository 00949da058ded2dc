"""Assemble the DNS lab: a private signed root, BIND primary + secondary, Knot and Unbound."""

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.message
from dns.rdtypes.dnskeybase import Flag

from . import bind, unbound
from .knot import start_knot
from .model import DnsLab, Server, TsigKey, Zone
from .ports import free_port
from .probe import PROBE_TIMEOUT, query, signed_dnskeys
from .proc import Proc, run

BIND_ZONE = "example.test."
KNOT_ZONE = "knot.test."
BOGUS_ZONE = "bogus.test."
UNSIGNED_ZONE = "unsigned.test."
# A TLSA RRset at every port of mx1 in the unsigned zone: published, but not DANE (insecure).
UNSIGNED_TLSA = "*._tcp.mx1 TLSA 3 1 1 " + "ab" * 32 + "\n"


def child_zone_text(zone: str) -> str:
    """SOA, NS ns1/ns2, A records for ns1, ns2, mx1, mx2 and mail, and an MX to mx1 and mx2."""
    return f"""$ORIGIN {zone}
$TTL 60
@       SOA ns1 hostmaster 1 2 1 600 1
        NS ns1
        NS ns2
        MX 10 mx1
        MX 20 mx2
ns1     A 127.0.0.1
ns2     A 127.0.0.1
mx1     A 127.0.0.1
mx2     A 127.0.0.1
mail    A 127.0.0.1
"""


def root_zone_text(ds_records: dict[str, str]) -> str:
    """The root, delegating each zone of ds_records (zone -> its DS records, or "")."""
    lines = [
        "$TTL 60",
        ". SOA ns.root.test. hostmaster.root.test. 1 3600 600 86400 1",
        ". NS ns.root.test.",
        "ns.root.test. A 127.0.0.1",
    ]
    for zone, ds in ds_records.items():
        lines += [f"{zone} NS ns1.{zone}", f"{zone} NS ns2.{zone}"]
        lines += [f"ns1.{zone} A 127.0.0.1", f"ns2.{zone} A 127.0.0.1", ds]
    return "\n".join(lines) + "\n"


def served_ds(proc: Proc, zone: str) -> str:
    """Wait until proc serves zone signed; return DS records for its SEP keys."""
    keys = proc.wait_until(lambda: signed_dnskeys(proc.server, zone), f"serve {zone} signed")
    return "\n".join(
        f"{zone} IN DS {dns.dnssec.make_ds(zone, key, 'SHA256')}"
        for key in keys
        if key.flags & Flag.SEP
    )


def validated_root(resolver: Server) -> dns.message.Message | None:
    response = query(resolver, ".", "SOA", recurse=True, timeout=PROBE_TIMEOUT)
    return response if response.flags & dns.flags.AD else None


@contextmanager
def start_lab(workdir: Path, extra_records: str = "") -> Iterator[DnsLab]:
    """Start every server under workdir; stop them all when the context is left.

    extra_records: zone-file lines added to example.test. (e.g. many hosts, for a benchmark).
    """
    tsig_dir = workdir / "tsig"
    root_dir = workdir / "root"
    tsig_dir.mkdir(parents=True)
    root_dir.mkdir()
    key = bind.make_tsig_key("tlsagen-key.", tsig_dir)
    txt_only_key = bind.make_tsig_key("txt-only-key.", tsig_dir)
    primary_port, secondary_port, knot_port, root_port, resolver_port = (
        free_port() for _ in range(5)
    )
    with ExitStack() as stack:
        primary = stack.enter_context(
            bind.start_primary(
                workdir / "bind-primary",
                primary_port,
                BIND_ZONE,
                child_zone_text(BIND_ZONE) + extra_records,
                key,
                txt_only_key,
                secondary_port,
            )
        )
        knot = stack.enter_context(
            start_knot(
                workdir / "knot",
                knot_port,
                KNOT_ZONE,
                child_zone_text(KNOT_ZONE),
                key,
                txt_only_key,
            )
        )
        bind_ds = served_ds(primary, BIND_ZONE)
        secondary = stack.enter_context(
            bind.start_secondary(
                workdir / "bind-secondary", secondary_port, BIND_ZONE, key, primary_port
            )
        )
        knot_ds = served_ds(knot, KNOT_ZONE)

        bogus_file, _ = bind.sign_static_zone(root_dir, BOGUS_ZONE, child_zone_text(BOGUS_ZONE))
        wrong_ds = bind.new_ksk(root_dir / "keys-bogus-unpublished", BOGUS_ZONE)
        unsigned_file = root_dir / "unsigned.test.db"
        unsigned_file.write_text(child_zone_text(UNSIGNED_ZONE) + UNSIGNED_TLSA)
        root_text = root_zone_text(
            {BIND_ZONE: bind_ds, KNOT_ZONE: knot_ds, BOGUS_ZONE: wrong_ds, UNSIGNED_ZONE: ""}
        )
        root_file, root_ds = bind.sign_static_zone(root_dir, ".", root_text)
        root = stack.enter_context(
            bind.start_root(
                root_dir,
                root_port,
                {".": root_file, BOGUS_ZONE: bogus_file, UNSIGNED_ZONE: unsigned_file},
            )
        )
        root.wait_until(lambda: signed_dnskeys(root.server, "."), "serve the signed root")
        resolver = stack.enter_context(
            unbound.start_unbound(
                workdir / "unbound",
                resolver_port,
                root_ds,
                {
                    ".": [root.server],
                    BIND_ZONE: [primary.server, secondary.server],
                    KNOT_ZONE: [knot.server],
                    BOGUS_ZONE: [root.server],
                    UNSIGNED_ZONE: [root.server],
                },
            )
        )
        secondary.wait_until(
            lambda: signed_dnskeys(secondary.server, BIND_ZONE), "serve the transferred zone"
        )
        resolver.wait_until(lambda: validated_root(resolver.server), "validate the root")
        yield DnsLab(
            root=root.server,
            bind=Zone(
                BIND_ZONE, primary.server, (primary.server, secondary.server), key, txt_only_key
            ),
            knot=Zone(KNOT_ZONE, knot.server, (knot.server,), key, txt_only_key),
            bogus_zone=BOGUS_ZONE,
            unsigned_zone=UNSIGNED_ZONE,
            resolver=resolver.server,
            workdir=workdir,
        )


def nsupdate(zone: Zone, script_lines: Sequence[str], key: TsigKey | None = None) -> str:
    """Send one dynamic update to the zone's primary with the real `nsupdate -k KEYFILE` (TCP).

    script_lines are nsupdate commands such as "update add NAME TTL TLSA ..." or "prereq ...";
    the server, zone and final send commands are added. key defaults to zone.key.
    Returns nsupdate's output; raises LabError if the update fails (e.g. REFUSED).
    """
    key_file = (key or zone.key).key_file
    script = [f"server {zone.primary.host} {zone.primary.port}", f"zone {zone.name}"]
    script += [*script_lines, "send", ""]
    return run(
        ["nsupdate", "-v", "-t", "10", "-k", str(key_file)], key_file.parent, "\n".join(script)
    )


def flush_resolver(lab: DnsLab, zone: str) -> None:
    """Drop everything the resolver cached at or below zone, and its server timeouts."""
    unbound_dir = lab.workdir / "unbound"
    unbound.control(unbound_dir, "flush_zone", zone)
    unbound.control(unbound_dir, "flush_infra", "all")
