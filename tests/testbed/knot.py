"""Knot DNS: a primary with automatic DNSSEC signing and TSIG-authorised dynamic updates."""

from contextlib import suppress
from pathlib import Path

from .model import TsigKey
from .proc import LabError, Proc, run


def start_knot(
    directory: Path, port: int, zone: str, zone_text: str, key: TsigKey, txt_only_key: TsigKey
) -> Proc:
    """knotd serving zone, signed with an ECDSA CSK; key may update TLSA, txt_only_key TXT."""
    directory.mkdir(parents=True, exist_ok=True)
    zone_file = directory / f"{zone}zone"
    zone_file.write_text(zone_text)
    conf = directory / "knot.conf"
    conf.write_text(
        f"""server:
    rundir: "{directory}"
    listen: 127.0.0.1@{port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1

log:
  - target: stderr
    any: info

database:
    storage: "{directory}"

key:
  - id: {key.name}
    algorithm: {key.algorithm}
    secret: "{key.secret}"
  - id: {txt_only_key.name}
    algorithm: {txt_only_key.algorithm}
    secret: "{txt_only_key.secret}"

acl:
  - id: tlsa-update
    key: {key.name}
    action: update
    update-type: [TLSA]
  - id: txt-update
    key: {txt_only_key.name}
    action: update
    update-type: [TXT]

policy:
  - id: lab
    algorithm: ecdsap256sha256
    single-type-signing: on

zone:
  - domain: {zone}
    storage: "{directory}"
    file: "{zone_file}"
    dnssec-signing: on
    dnssec-policy: lab
    acl: [tlsa-update, txt-update]
"""
    )
    return Proc("knot", ["knotd", "-c", str(conf)], directory / "knot.log", port)


def knotc_replace(directory: Path, zone: str, owner: str, rdtype: str, texts: list[str]) -> None:
    """Replace the owner's `rdtype` RRset in the running knotd of `directory` with `knotc`, in one
    zone transaction: records as written (TTL 300), which knotc takes where nsupdate refuses
    them (TLSA rdata under 3 octets, as `\\# 2 0301`)."""
    knotc = ["knotc", "-c", str(directory / "knot.conf")]
    run([*knotc, "zone-begin", zone], directory)
    try:
        with suppress(LabError):  # there may be none
            run([*knotc, "zone-unset", zone, owner, rdtype], directory)
        for text in texts:
            run([*knotc, "zone-set", zone, owner, "300", rdtype, *text.split()], directory)
    except LabError:
        run([*knotc, "zone-abort", zone], directory)
        raise
    run([*knotc, "zone-commit", zone], directory)
