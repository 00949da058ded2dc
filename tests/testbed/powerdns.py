"""PowerDNS Authoritative: gsqlite3 backend, HTTP API on, one zone signed live (secure-zone), and a
validating Unbound whose root, a signed one of this lab's own, delegates the zone with its DS (the
main lab's root knows nothing of it)."""

import json
import secrets
import sqlite3
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import pytest

from . import bind, unbound
from .lab import child_zone_text, root_zone_text, served_ds
from .model import Server
from .ports import free_port
from .probe import PROBE_TIMEOUT, query, signed_dnskeys
from .proc import LabError, Proc, binary, run
from .tiers import starts_servers

ZONE = "pdns.test."
SCHEMA = (
    Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql"),
    Path("/usr/share/doc/pdns-backend-sqlite3/schema.sqlite3.sql"),
)
INSTALL_HINT = "install pdns-server and pdns-backend-sqlite3 (scripts/install-test-deps.sh)"


@dataclass(frozen=True)
class PowerDns:
    zone: str
    dns: Server  # pdns_server's DNS port
    api_url: str  # http://127.0.0.1:PORT
    api_key: str
    resolver: Server  # an Unbound validating the zone from its DS
    config_dir: Path


def admin(lab: PowerDns, method: str, path: str, document: Any = None) -> Any:
    """A request to the API as an administrator would make it (the tests' writer behind
    tlsagen's back): `path` under /api/v1/servers/localhost; the JSON answer, or None."""
    body = None if document is None else json.dumps(document).encode()
    request = urllib.request.Request(
        f"{lab.api_url}/api/v1/servers/localhost{path}",
        data=body,
        method=method,
        headers={"X-API-Key": lab.api_key, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = response.read()
    return json.loads(answer) if answer else None


def write_tlsa(lab: PowerDns, owner: str, ttl: int, contents: Sequence[str]) -> None:
    """REPLACE the TLSA RRset at owner (DELETE it when contents is empty), through the API."""
    rrset: dict[str, Any] = {"name": owner, "type": "TLSA", "changetype": "DELETE"}
    if contents:
        records = [{"content": text, "disabled": False} for text in contents]
        rrset = {**rrset, "changetype": "REPLACE", "ttl": ttl, "records": records}
    admin(lab, "PATCH", f"/zones/{lab.zone}", {"rrsets": [rrset]})


def insert_raw(lab: PowerDns, owner: str, content: str, ttl: int = 60) -> None:
    """A TLSA row written straight into the database, as no API would accept it."""
    with sqlite3.connect(lab.config_dir / "pdns.sqlite3") as db:
        (domain_id,) = db.execute(
            "SELECT id FROM domains WHERE name = ?", (lab.zone.rstrip("."),)
        ).fetchone()
        db.execute(
            "INSERT INTO records (domain_id, name, type, content, ttl, prio, disabled, auth) "
            "VALUES (?, ?, 'TLSA', ?, ?, 0, 0, 1)",
            (domain_id, owner.rstrip("."), content, ttl),
        )


def delete_raw(lab: PowerDns, owner: str) -> None:
    """Every record at owner, deleted straight from the database."""
    with sqlite3.connect(lab.config_dir / "pdns.sqlite3") as db:
        db.execute("DELETE FROM records WHERE name = ?", (owner.rstrip("."),))


def missing() -> str | None:
    """Why the PowerDNS lab cannot start here, or None."""
    try:
        binary("pdns_server")
        binary("pdnsutil")
    except LabError:
        return f"pdns_server or pdnsutil not found: {INSTALL_HINT}"
    if not any(path.exists() for path in SCHEMA):
        return f"no gsqlite3 schema: {INSTALL_HINT}"
    return None


def write_config(directory: Path, dns_port: int, api_port: int, api_key: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / "pdns.sqlite3"
    schema = next(path for path in SCHEMA if path.exists())
    with sqlite3.connect(database) as db:
        db.executescript(schema.read_text())
    (directory / "pdns.conf").write_text(
        f"""launch=gsqlite3
gsqlite3-database={database}
gsqlite3-dnssec=yes
local-address=127.0.0.1:{dns_port}
socket-dir={directory}
guardian=no
daemon=no
disable-syslog=yes
write-pid=no
security-poll-suffix=
api=yes
api-key={api_key}
webserver=yes
webserver-address=127.0.0.1
webserver-port={api_port}
webserver-allow-from=127.0.0.0/8
loglevel=4
"""
    )


def pdnsutil(directory: Path, *args: str) -> str:
    return run(["pdnsutil", f"--config-dir={directory}", *args], directory)


def create_signed_zone(directory: Path, zone: str) -> None:
    """Load the lab's child zone text, sign it live (a CSK) and rectify it."""
    zone_file = directory / f"{zone}zone"
    zone_file.write_text(child_zone_text(zone))
    pdnsutil(directory, "load-zone", zone, str(zone_file))
    pdnsutil(directory, "secure-zone", zone)
    pdnsutil(directory, "rectify-zone", zone)


def validated(resolver: Server, zone: str) -> dns.message.Message | None:
    """The resolver's answer for the zone's SOA once it validates it (the AD flag), else None."""
    response = query(resolver, zone, "SOA", recurse=True, timeout=PROBE_TIMEOUT)
    return response if response.flags & dns.flags.AD else None


@contextmanager
def start_powerdns(directory: Path) -> Iterator[PowerDns]:
    """pdns_server serving ZONE signed, its API on, a signed root of its own delegating ZONE
    with its DS, and an Unbound anchored at that root (a validating resolver, as check wants)."""
    dns_port, api_port, resolver_port = free_port(), free_port(), free_port()
    api_key = secrets.token_hex(16)
    write_config(directory, dns_port, api_port, api_key)
    create_signed_zone(directory, ZONE)
    with ExitStack() as stack:
        argv = ["pdns_server", f"--config-dir={directory}"]
        server = stack.enter_context(Proc("pdns", argv, directory / "pdns.log", dns_port))
        root_dir = directory / "root"
        root_dir.mkdir()
        root_file, root_ds = bind.sign_static_zone(
            root_dir, ".", root_zone_text({ZONE: served_ds(server, ZONE)})
        )
        root = stack.enter_context(bind.start_root(root_dir, free_port(), {".": root_file}))
        root.wait_until(lambda: signed_dnskeys(root.server, "."), "serve the signed root")
        stubs = {".": [root.server], ZONE: [server.server]}
        resolver = stack.enter_context(
            unbound.start_unbound(directory / "unbound", resolver_port, root_ds, stubs)
        )
        resolver.wait_until(lambda: validated(resolver.server, ZONE), f"validate {ZONE}")
        yield PowerDns(
            zone=ZONE,
            dns=server.server,
            api_url=f"http://127.0.0.1:{api_port}",
            api_key=api_key,
            resolver=resolver.server,
            config_dir=directory,
        )


@pytest.fixture(scope="session")
@starts_servers
def powerdns_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDns]:
    """pdns_server with its API and a signed zone, and its validating Unbound, for the session."""
    why = missing()
    if why:
        pytest.fail(why, pytrace=False)
    with start_powerdns(tmp_path_factory.mktemp("powerdns")) as lab:
        yield lab


@pytest.fixture
def powerdns(powerdns_server: PowerDns) -> PowerDns:
    """The session's PowerDNS lab."""
    return powerdns_server
