"""Real-world zone layouts: each case's input edited must equal its expected file, byte for byte.

Each directory under golden/ holds input.zone, expected.zone, case.toml (the changes) and any
files input.zone includes. named-checkzone checks every written zone as the check-command.
"""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.rdatatype
import dns.zone
import pytest

from tlsagen.core.records import Change, ChangeSet, Owner, RRset, rrset
from tlsagen.core.tlsa import TLSAData
from tlsagen_zonefile.provider import ZonefileProvider

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())


def _copy_case(case: str, tmp_path: Path) -> Path:
    for source in (GOLDEN / case).iterdir():
        if source.name not in ("expected.zone", "case.toml"):
            shutil.copy(source, tmp_path / source.name)
    return tmp_path / "input.zone"


def _rrset(change: dict[str, Any]) -> RRset | None:
    """A case's `after` RRset; none when it lists no records."""
    records = [TLSAData.from_text(text) for text in change.get("after", [])]
    return rrset(Owner(change["owner"]), change["ttl"], records) if records else None


@pytest.mark.parametrize("case", CASES)
def test_golden(
    case: str,
    tmp_path: Path,
    make_provider: Callable[..., ZonefileProvider],
    named_checkzone: str,
) -> None:
    spec = tomllib.loads((GOLDEN / case / "case.toml").read_text())
    path = _copy_case(case, tmp_path)
    options = {key: spec[key] for key in ("zone", "serial", "today") if key in spec}
    check = [named_checkzone, "-q", "{zone}", "{file}"]
    provider = make_provider(path, check_command=check, **options)
    wanted = {Owner(change["owner"]): _rrset(change) for change in spec["change"]}
    (zone,) = set(provider.zones(list(wanted)).values())
    held = provider.read(zone, list(wanted))
    # Ordered by owner, as the engine orders them.
    changes = tuple(Change(owner, held.get(owner), wanted[owner]) for owner in sorted(wanted))

    provider.apply(ChangeSet(zone, changes))

    assert path.read_bytes() == (GOLDEN / case / "expected.zone").read_bytes()
    for source in (GOLDEN / case).glob("*.inc"):
        assert (tmp_path / source.name).read_bytes() == source.read_bytes()
    after = {owner: value for owner, value in wanted.items() if value is not None}
    assert provider.read(zone, list(wanted)) == after


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("name", ["input.zone", "expected.zone"])
def test_reading_agrees_with_dnspython(
    case: str, name: str, tmp_path: Path, make_provider: Callable[..., ZonefileProvider]
) -> None:
    spec = tomllib.loads((GOLDEN / case / "case.toml").read_text())
    _copy_case(case, tmp_path)
    path = tmp_path / name
    shutil.copy(GOLDEN / case / name, path)
    provider = make_provider(path, **{k: spec[k] for k in ("zone",) if k in spec})
    (origin,) = provider.zones([Owner(spec["change"][0]["owner"])]).values()
    # dnspython resolves $INCLUDE against the working directory.
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        expected = dns.zone.from_text(
            path.read_text(), origin, relativize=False, check_origin=False, allow_include=True
        )
    tlsa = {
        Owner(name.to_text().lower()): rdataset
        for name, node in expected.nodes.items()
        for rdataset in node.rdatasets
        if rdataset.rdtype == dns.rdatatype.TLSA
    }
    held = provider.read(origin, list(tlsa))
    assert set(held) == set(tlsa)
    for owner, rdataset in tlsa.items():
        assert held[owner].ttl == rdataset.ttl
        assert set(held[owner].texts()) == {rdata.to_text() for rdata in rdataset}
