"""`tlsagen publish` through the zone-file provider while the file system, the check command or
another writer misbehaves at one step.

The zone file lives in a directory of zone files on a small tmpfs of its own (SmallDisk). Every
case starts from two owners holding the old RRset, plans to add the next key's record to both,
and checks the exit code and its one-line message; that the file is byte for byte what it was
(or what the other writer made it), or holds the change whole; that no temporary file is left;
and that a re-run without the fault converges. There is no propagation wait: the provider lists
no servers (the user's pipeline deploys the file).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest

from tests.faults.common import (
    CERT,
    NEW,
    NEXT_KEY,
    OLD,
    Faults,
    SmallDisk,
    case_id,
    held_state,
    record_of,
    run_cli,
)
from tlsagen import engine

pytest.importorskip("tlsagen_zonefile")  # a fault test of the CLI with this provider
import tlsagen_zonefile.files

ZONE = "example.test."
OWNERS = ["_25._tcp.mx1.example.test.", "_25._tcp.mx2.example.test."]
BYSTANDER = "_25._tcp.keep.example.test."
ZONE_TEXT = f"""$ORIGIN {ZONE}
$TTL 3600
@ IN SOA ns1 hostmaster ( 2025010100 7200 3600 1209600 300 )
  IN NS ns1
ns1 IN A 192.0.2.53
mx1 IN A 192.0.2.25
_25._tcp.mx1 60 IN TLSA {record_of(CERT)}
mx2 IN A 192.0.2.26
_25._tcp.mx2 60 IN TLSA {record_of(CERT)}
_25._tcp.keep 60 IN TLSA {record_of(CERT)}
"""

DISCOVER = "zone discovery"
READ = "read"
BETWEEN = "between read and apply"
WRITE = "apply: write"
CHECKING = "apply: check-command"


class Site:
    def __init__(self, disk: SmallDisk, directory: Path) -> None:
        self.disk = disk
        self.file = disk.path / "example.test.zone"
        self.file.write_text(ZONE_TEXT)
        self.conf = directory / "tlsagen.toml"
        self.check = ["true", "{file}"]

    def config(self) -> Path:
        check = self.check
        self.conf.write_text(
            f"[defaults]\nttl = 60\nstate = '{self.conf.parent / 'state.json'}'\n\n"
            f"[providers.files]\ntype = 'zonefile'\npath = '{self.disk.path}'\n"
            f"check-command = {check}\n\n"
            f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.test', 'mx2.example.test']\n"
            f"cert = '{CERT}'\nnext-key = '{NEXT_KEY}'\n"
        )
        return self.conf

    def tlsa(self, owner: str) -> frozenset[str]:
        zone = dns.zone.from_text(self.file.read_text(), ZONE, relativize=False)
        found = zone.get_rdataset(owner, dns.rdatatype.TLSA)
        return frozenset(rdata.to_text() for rdata in found or ())

    def held(self) -> str:
        return held_state([self.tlsa(owner) for owner in OWNERS])

    def leftovers(self) -> list[str]:
        return sorted(p.name for p in self.disk.path.iterdir() if p.name.startswith("."))


Action = Callable[[Site], None]


def nothing(site: Site) -> None:
    pass


def move_away(site: Site) -> None:
    site.file.rename(site.file.with_suffix(".away"))


def move_back(site: Site) -> None:
    site.file.with_suffix(".away").rename(site.file)


def scramble(site: Site) -> None:
    shutil.copy(site.file, site.file.with_suffix(".away"))
    site.file.write_bytes(b"\x00\xffthis is not a zone file\n")


def restore(site: Site) -> None:
    site.file.with_suffix(".away").replace(site.file)


def edit(site: Site) -> None:
    with site.file.open("a") as out:
        out.write("extra IN A 192.0.2.99 ; another writer\n")


def replace_with_edited_copy(site: Site) -> None:
    copy = site.file.with_name("copy")
    copy.write_text(site.file.read_text() + "extra IN A 192.0.2.99\n")
    copy.replace(site.file)


def check_command(*argv: str) -> Action:
    def set_argv(site: Site) -> None:
        site.check = [*argv, "{file}"]

    return set_argv


def check_script(script: str) -> Action:
    return check_command("sh", "-c", script, "sh")


@dataclass(frozen=True)
class Case:
    step: str
    fault: str
    code: int
    held: str
    before: Action = nothing  # before the run
    between: Action = nothing  # after planning, before applying
    heal: Action = nothing  # before the re-run
    written_by_other: bool = False  # the other writer's edit must survive


CASES = [
    Case(DISCOVER, "zone file missing", 3, OLD, before=move_away, heal=move_back),
    Case(READ, "zone file is garbage", 4, OLD, before=scramble, heal=restore),
    Case(BETWEEN, "another writer edits the file", 5, OLD, between=edit, written_by_other=True),
    Case(BETWEEN, "zone file deleted", 4, OLD, between=move_away, heal=move_back),
    Case(BETWEEN, "zone file replaced by garbage", 4, OLD, between=scramble, heal=restore),
    Case(
        BETWEEN,
        "zone file replaced by an edited copy (rename)",
        5,
        OLD,
        between=replace_with_edited_copy,
        written_by_other=True,
    ),
    Case(
        WRITE,
        "disk full",
        4,
        OLD,
        before=lambda s: s.disk.fill(),
        heal=lambda s: s.disk.empty(),
    ),
    Case(
        WRITE,
        "read-only file system",
        4,
        OLD,
        before=lambda s: s.disk.freeze(),
        heal=lambda s: s.disk.thaw(),
    ),
    Case(CHECKING, "check-command hangs", 4, OLD, before=check_script("sleep 30")),
    Case(CHECKING, "check-command rejects the zone", 4, OLD, before=check_script("exit 1")),
    Case(
        CHECKING,
        "check-command is missing",
        4,
        OLD,
        before=check_command("/nonexistent/check"),
    ),
    Case(CHECKING, "check-command is slow (0.2 s)", 0, NEW, before=check_script("sleep 0.2")),
    Case(
        CHECKING,
        "another writer edits the file while the check runs",
        5,
        OLD,
        before=check_script("echo 'extra IN A 192.0.2.99' >> example.test.zone"),
        written_by_other=True,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case_id(case.step, case.fault))
def test_publish_into_a_faulty_zone_file(
    case: Case,
    small_disk: SmallDisk,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    faults: Faults,
) -> None:
    monkeypatch.setattr(tlsagen_zonefile.files, "CHECK_TIMEOUT", 0.5)
    site = Site(small_disk, tmp_path)
    case.before(site)
    config = site.config()
    real_apply = engine.apply

    def apply(*args: Any, **kwargs: Any) -> Any:
        case.between(site)
        return real_apply(*args, **kwargs)

    monkeypatch.setattr(engine, "apply", apply)
    try:
        run = run_cli(capsys, "publish", "--config", config)
    finally:
        monkeypatch.setattr(engine, "apply", real_apply)
    faults.expect("zonefile", case.step, case.fault, run, case.code, case.held)
    case.heal(site)
    after_run = site.file.read_text()
    assert site.held() == case.held
    assert ("another writer" in after_run or "192.0.2.99" in after_run) == case.written_by_other
    if case.held == OLD and not case.written_by_other:
        assert after_run == ZONE_TEXT
    assert site.tlsa(BYSTANDER) == {record_of(CERT)}
    assert site.leftovers() == []
    site.check = ["true", "{file}"]
    rerun = run_cli(capsys, "publish", "--config", site.config())
    assert rerun.code == 0, rerun.err
    assert site.held() == NEW and site.tlsa(BYSTANDER) == {record_of(CERT)}
