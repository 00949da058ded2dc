"""BIND 9: TSIG key files, the signed primary, its secondary, and the statically signed root."""

import base64
import os
import secrets
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from .model import TsigKey
from .probe import serves_soa, signed_dnskeys
from .proc import LabError, Proc, run


def make_tsig_key(name: str, directory: Path) -> TsigKey:
    """A fresh hmac-sha256 key, also written as a BIND key file (mode 0600)."""
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    key = TsigKey(name, "hmac-sha256", secret, directory / f"{name.rstrip('.')}.key")
    fd = os.open(key.key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(f'key "{name}" {{\n\talgorithm {key.algorithm};\n\tsecret "{secret}";\n}};\n')
    return key


def start_named(name: str, directory: Path, port: int, keys: Sequence[TsigKey], body: str) -> Proc:
    directory.mkdir(parents=True, exist_ok=True)
    includes = "".join(f'include "{key.key_file}";\n' for key in keys)
    conf = directory / "named.conf"
    conf.write_text(
        f"""options {{
    directory "{directory}";
    pid-file "{directory}/named.pid";
    session-keyfile "{directory}/session.key";
    managed-keys-directory "{directory}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify-delay 0;
}};
controls {{ }};
{includes}{body}"""
    )
    return Proc(name, ["named", "-g", "-n", "1", "-c", str(conf)], directory / "named.log", port)


def start_primary(
    directory: Path,
    port: int,
    zone: str,
    zone_text: str,
    key: TsigKey,
    txt_only_key: TsigKey,
    secondary_port: int,
) -> Proc:
    """named serving zone with dnssec-policy + inline signing, updatable with TSIG, notifying."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{zone}db").write_text(zone_text)
    body = f"""dnssec-policy "lab" {{
    keys {{ csk lifetime unlimited algorithm ecdsap256sha256; }};
    dnskey-ttl 60;
    signatures-refresh 6h;
    signatures-validity 1d;
    signatures-validity-dnskey 1d;
}};
zone "{zone}" {{
    type primary;
    file "{zone}db";
    dnssec-policy "lab";
    inline-signing yes;
    update-policy {{
        grant {key.name} zonesub TLSA;
        grant {txt_only_key.name} zonesub TXT;
    }};
    allow-transfer {{ key {key.name}; }};
    notify explicit;
    also-notify {{ 127.0.0.1 port {secondary_port} key {key.name}; }};
}};
"""
    return start_named("bind-primary", directory, port, [key, txt_only_key], body)


def start_secondary(
    directory: Path,
    port: int,
    zone: str,
    key: TsigKey,
    primary_port: int,
    allow_transfer: str | None = None,
) -> Proc:
    """named transferring zone from the primary (NOTIFY + IXFR, TSIG-signed), and letting `key`
    transfer it in turn (or whom `allow_transfer` names: "none")."""
    allowed = allow_transfer or f"key {key.name}"
    body = f"""zone "{zone}" {{
    type secondary;
    file "{zone}bk";
    primaries {{ 127.0.0.1 port {primary_port} key {key.name}; }};
    allow-transfer {{ {allowed}; }};
    allow-notify {{ 127.0.0.1; }};
    notify no;
    min-refresh-time 1;
    min-retry-time 1;
}};
"""
    return start_named("bind-secondary", directory, port, [key], body)


def new_ksk(keydir: Path, zone: str) -> str:
    """Generate an ECDSA P-256 key with the SEP flag in keydir; return its DS record."""
    keydir.mkdir(parents=True, exist_ok=True)
    keygen = ["dnssec-keygen", "-q", "-K", str(keydir), "-a", "ECDSAP256SHA256", "-f", "KSK"]
    basename = run([*keygen, zone], keydir).strip()
    return run(["dnssec-dsfromkey", "-2", f"{basename}.key"], keydir).strip()


def sign_static_zone(directory: Path, zone: str, zone_text: str) -> tuple[Path, str]:
    """Sign zone_text with a fresh key used as CSK (dnssec-signzone -z).

    Returns the signed zone file and the key's DS record.
    """
    stem = zone.rstrip(".") or "root"
    keydir = directory / f"keys-{stem}"
    unsigned = directory / f"{stem}.db"
    signed = directory / f"{stem}.db.signed"
    unsigned.write_text(zone_text)
    ds = new_ksk(keydir, zone)
    signzone = ["dnssec-signzone", "-S", "-z", "-K", str(keydir), "-o", zone, "-f", str(signed)]
    run([*signzone, str(unsigned)], directory)
    return signed, ds


def start_root(directory: Path, port: int, zone_files: dict[str, Path]) -> Proc:
    """named serving the already signed root and the other static zones (zone name -> file)."""
    body = "".join(
        f'zone "{zone}" {{ type primary; file "{path}"; }};\n' for zone, path in zone_files.items()
    )
    return start_named("root", directory, port, [], body)


def start_zones_primary(
    directory: Path, port: int, zones: dict[str, str], key: TsigKey, signed: bool = False
) -> Proc:
    """named serving `zones` (name -> zone text) unsigned (or, `signed`, signed inline with a
    CSK and NSEC, as real DANE zones are), each updatable with `key` for TLSA and transferable
    with it; returns once it serves them all (signed). A zone file is written only when
    missing, so a restart in the same directory keeps the zones as updated (journal included)."""
    directory.mkdir(parents=True, exist_ok=True)
    policy = 'dnssec-policy "csk"; inline-signing yes; ' if signed else ""
    body = (
        'dnssec-policy "csk" { keys { csk lifetime unlimited algorithm ecdsap256sha256; }; };\n'
        if signed
        else ""
    )
    for zone, text in zones.items():
        path = directory / f"{zone}db"
        if not path.exists():
            path.write_text(text)
        body += (
            f'zone "{zone}" {{ type primary; file "{path.name}"; {policy}'
            f"update-policy {{ grant {key.name} zonesub TLSA; }}; "
            f"allow-transfer {{ key {key.name}; }}; }};\n"
        )
    proc = start_named("bind-zones", directory, port, [key], body)
    ready = signed_dnskeys if signed else serves_soa
    try:
        for zone in zones:
            proc.wait_until(partial(ready, proc.server, zone), f"serve {zone}")
    except LabError:
        proc.stop()
        raise
    return proc
