"""The zone-file provider's own behaviour: compare-and-swap, atomic writes, files and settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tlsagen.core.records import Change, ChangeSet, Owner, rrset
from tlsagen.errors import ConflictError, InputError, ProviderError
from tlsagen.provider import ProviderSettings, load
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider

MakeProvider = Callable[..., ZonefileProvider]
ZONE = "example.test."
MAIL = Owner("_25._tcp.mail.example.test.")
WEB = Owner("_443._tcp.www.example.test.")


def create(owner: Owner, seed: str = "a") -> ChangeSet:
    return ChangeSet(ZONE, (Change(owner, None, rrset(owner, 300, [record(seed)])),))


def test_entry_point_creates_the_provider(zone_file: Path) -> None:
    settings = ProviderSettings("zones", {"path": str(zone_file)}, "t", zone_file.parent)
    provider = load("zonefile")(settings)
    assert isinstance(provider, ZonefileProvider)
    assert provider.servers(ZONE) == ()


def test_file_edited_between_read_and_apply_conflicts(
    zone_file: Path, make_provider: MakeProvider
) -> None:
    provider = make_provider(zone_file)
    provider.read(ZONE, [MAIL])
    with zone_file.open("a") as out:
        out.write("extra IN A 192.0.2.9\n")
    edited = zone_file.read_bytes()
    with pytest.raises(ConflictError, match="changed since tlsagen read it"):
        provider.apply(create(MAIL))
    assert zone_file.read_bytes() == edited


def test_file_edited_while_checking_conflicts(zone_file: Path, make_provider: MakeProvider) -> None:
    sneak = f"echo '; edited meanwhile' >> {zone_file}"
    provider = make_provider(zone_file, check_command=["sh", "-c", sneak, "sh", "{file}"])
    provider.read(ZONE, [MAIL])
    with pytest.raises(ConflictError, match="changed while tlsagen was editing it"):
        provider.apply(create(MAIL))
    assert zone_file.read_text().endswith("; edited meanwhile\n")
    assert os.listdir(zone_file.parent) == [zone_file.name]


def test_retried_change_succeeds_without_writing(
    zone_file: Path, make_provider: MakeProvider
) -> None:
    make_provider(zone_file).apply(create(MAIL))
    written = zone_file.stat()
    make_provider(zone_file).apply(create(MAIL))  # a retry after a lost answer: nothing to do
    assert zone_file.stat().st_ino == written.st_ino
    assert "2025010101 ; serial" in zone_file.read_text()


def test_failing_check_command_writes_nothing(zone_file: Path, make_provider: MakeProvider) -> None:
    reject = ["sh", "-c", "echo 'zone has errors' >&2; exit 1", "sh", "{file}"]
    before = zone_file.read_bytes()
    with pytest.raises(ProviderError, match=r"(?s)exit status 1.*unchanged.*zone has errors"):
        make_provider(zone_file, check_command=reject).apply(create(MAIL))
    assert zone_file.read_bytes() == before
    assert os.listdir(zone_file.parent) == [zone_file.name]


def test_named_checkzone_rejects_a_zone_bind_would_not_load(
    tmp_path: Path, make_provider: MakeProvider, named_checkzone: str
) -> None:
    path = tmp_path / "example.test.zone"
    path.write_text("$ORIGIN example.test.\n$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n  NS ns1\n")
    check = [named_checkzone, "{zone}", "{file}"]
    with pytest.raises(ProviderError, match=r"NS 'ns1\.example\.test' has no address records"):
        make_provider(path, check_command=check).apply(create(MAIL))
    assert "TLSA" not in path.read_text()


def test_missing_check_command_writes_nothing(zone_file: Path, make_provider: MakeProvider) -> None:
    provider = make_provider(zone_file, check_command=["/nonexistent/checker", "{file}"])
    with pytest.raises(ProviderError, match="/nonexistent/checker"):
        provider.apply(create(MAIL))
    assert "TLSA" not in zone_file.read_text()


def test_mode_and_owner_are_kept(zone_file: Path, make_provider: MakeProvider) -> None:
    zone_file.chmod(0o640)
    if os.geteuid() == 0:
        os.chown(zone_file, 65534, 65534)
    before = zone_file.stat()
    make_provider(zone_file).apply(create(MAIL))
    after = zone_file.stat()
    assert after.st_ino != before.st_ino  # a new file, renamed into place
    assert (after.st_mode, after.st_uid, after.st_gid) == (
        before.st_mode,
        before.st_uid,
        before.st_gid,
    )


def test_symlinked_zone_file_is_refused(zone_file: Path, make_provider: MakeProvider) -> None:
    link = zone_file.with_name("link.zone")
    link.symlink_to(zone_file.name)
    before = zone_file.read_bytes()
    provider = make_provider(link)
    with pytest.raises(ProviderError, match="symbolic link"):
        provider.read(ZONE, [MAIL])
    with pytest.raises(ProviderError, match="symbolic link"):
        provider.apply(create(MAIL))
    assert link.is_symlink()
    assert zone_file.read_bytes() == before


def test_included_tlsa_is_read_but_never_edited(
    zone_file: Path, make_provider: MakeProvider
) -> None:
    included = zone_file.with_name("tlsa.inc")
    included.write_text(f"_25._tcp.mail 300 IN TLSA {record('a').to_text()}\n")
    with zone_file.open("a") as out:
        out.write("$INCLUDE tlsa.inc\n")
    provider = make_provider(zone_file)
    held = provider.read(ZONE, [MAIL])
    assert held == {MAIL: rrset(MAIL, 300, [record("a")])}
    before = zone_file.read_bytes(), included.read_bytes()
    with pytest.raises(ProviderError, match=r"tlsa\.inc:1, a file that .* includes"):
        provider.apply(ChangeSet(ZONE, (Change(MAIL, held[MAIL], None),)))
    assert (zone_file.read_bytes(), included.read_bytes()) == before


def test_included_file_edited_after_read_conflicts(
    zone_file: Path, make_provider: MakeProvider
) -> None:
    included = zone_file.with_name("hosts.inc")
    included.write_text("mail IN A 192.0.2.25\n")
    with zone_file.open("a") as out:
        out.write("$INCLUDE hosts.inc\n")
    provider = make_provider(zone_file)
    provider.read(ZONE, [MAIL])
    included.write_text("mail IN A 192.0.2.26\n")
    with pytest.raises(ConflictError):
        provider.apply(create(MAIL))


def test_owner_name_handed_to_the_line_that_inherited_it(
    zone_file: Path, make_provider: MakeProvider
) -> None:
    data = record("a").to_text()
    with zone_file.open("a") as out:
        out.write(f'_25._tcp.mail  300 IN TLSA {data}\n               300 IN TXT "keep"\n')
    provider = make_provider(zone_file)
    provider.apply(ChangeSet(ZONE, (Change(MAIL, provider.read(ZONE, [MAIL])[MAIL], None),)))
    assert zone_file.read_text().endswith('ns1 IN A 192.0.2.53\n_25._tcp.mail  300 IN TXT "keep"\n')


def test_an_edit_that_would_change_other_records_is_never_written(
    zone_file: Path, make_provider: MakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Break the editor: without the name hand-over, the TXT line would move to another owner.
    monkeypatch.setattr("tlsagen_zonefile.edit._hand_over_names", lambda *args: [])
    with zone_file.open("a") as out:
        out.write(f'_25._tcp.mail 300 IN TLSA {record("a").to_text()}\n  300 IN TXT "keep"\n')
    before = zone_file.read_bytes()
    provider = make_provider(zone_file)
    held = provider.read(ZONE, [MAIL])[MAIL]
    with pytest.raises(ProviderError, match="would change more than the TLSA records"):
        provider.apply(ChangeSet(ZONE, (Change(MAIL, held, None),)))
    assert zone_file.read_bytes() == before


def test_crlf_line_endings_are_kept(zone_file: Path, make_provider: MakeProvider) -> None:
    zone_file.write_bytes(zone_file.read_bytes().replace(b"\n", b"\r\n"))
    make_provider(zone_file).apply(create(MAIL))
    text = zone_file.read_bytes()
    assert text.endswith(f"_25._tcp.mail 300 IN TLSA {record('a').to_text()}\r\n".encode())
    assert b"\n" not in text.replace(b"\r\n", b"")


def test_directory_holds_one_file_per_zone(tmp_path: Path, make_provider: MakeProvider) -> None:
    (tmp_path / "db.example.test").write_text("@ 300 SOA ns1 hm 1 2 3 4 5\n")
    (tmp_path / "db.sub.example.test").write_text("@ 300 SOA ns1 hm 1 2 3 4 5\n")
    provider = make_provider(tmp_path, pattern="db.{zone}")
    deep = Owner("_25._tcp.mx.sub.example.test.")
    assert provider.zones([MAIL, deep]) == {MAIL: ZONE, deep: "sub.example.test."}
    provider.apply(ChangeSet("sub.example.test.", create(deep).changes))
    assert "_25._tcp.mx 300 IN TLSA" in (tmp_path / "db.sub.example.test").read_text()
    with pytest.raises(InputError, match=r"no zone file for .*db\.mx\.other, db\.other\)"):
        make_provider(tmp_path, pattern="db.{zone}").zones([Owner("_25._tcp.mx.other.")])


def test_owner_outside_the_zone_is_refused(zone_file: Path, make_provider: MakeProvider) -> None:
    with pytest.raises(InputError, match=r"not in the zone example\.test\."):
        make_provider(zone_file).zones([Owner("_25._tcp.mx.example.org.")])


def test_configured_zone_must_match_the_soa(zone_file: Path, make_provider: MakeProvider) -> None:
    with pytest.raises(ProviderError, match=r"the SOA is for example\.test\., not for the zone"):
        make_provider(zone_file, zone="example.org").read("example.org.", [MAIL])


def test_zone_without_origin_needs_the_zone_key(
    tmp_path: Path, make_provider: MakeProvider
) -> None:
    path = tmp_path / "db.zone"
    path.write_text("$TTL 300\n@ SOA ns1 hm 1 2 3 4 5\n")
    with pytest.raises(ProviderError, match=r'set zone = "example.com"'):
        make_provider(path).zones([MAIL])
    assert make_provider(path, zone="example.test").zones([MAIL]) == {MAIL: ZONE}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"serial": "dated"}, "serial: 'dated' is not one of increment, date, keep"),
        ({"serail": "date"}, "unknown key 'serail'; did you mean 'serial'?"),
        ({"check-command": "named-checkzone {zone} {file}"}, "expected a list of arguments"),
        ({"check-command": ["named-checkzone", "example.test"]}, "names the new zone file"),
        ({"pattern": "{zone}.db"}, "is not a directory"),
        ({"path": None}, "path is required"),
    ],
)
def test_bad_settings(zone_file: Path, options: dict[str, object], message: str) -> None:
    table = {"path": str(zone_file), **options}
    table = {key: value for key, value in table.items() if value is not None}
    settings = ProviderSettings("zones", table, "tlsagen.toml [providers.zones]", zone_file.parent)
    with pytest.raises(InputError, match=message):
        load("zonefile")(settings)


def test_directory_takes_no_zone_key(tmp_path: Path, make_provider: MakeProvider) -> None:
    with pytest.raises(InputError, match="each file's name tells its zone"):
        make_provider(tmp_path, zone="example.test")
