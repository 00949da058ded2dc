"""$INCLUDE stays inside the zone file's directory (after resolving links), or is refused with
exit 3 naming the zone file, its line and the include. BIND's named-checkzone, run where the
provider runs its check command (the zone file's directory), reads the accepted cases alike."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tlsagen.cli.app import main
from tlsagen.core.records import Owner
from tlsagen.errors import InputError
from tlsagen.testing import record
from tlsagen_zonefile.provider import ZonefileProvider

BASE_ZONE = (
    "$ORIGIN example.test.\n$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n"
    "@ NS ns1\nns1 A 192.0.2.53\n"
)
MAIL = Owner("_25._tcp.mail.example.test.")
INCLUDED = f"_25._tcp.mail 300 IN TLSA {record('a').to_text()}\n"


def _layout(root: Path, case: str) -> tuple[Path, str]:
    """A zone directory root/zones whose zone file includes INCLUDED as `case` says: (the path to
    give as the zone file, the $INCLUDE line's argument)."""
    zones, outside = root / "zones", root / "outside"
    (zones / "sub").mkdir(parents=True)
    outside.mkdir()
    for directory in (zones, zones / "sub", outside):
        (directory / "tlsa.inc").write_text(INCLUDED)
    path = zones / "example.test.zone"
    argument = {
        "the same directory": "tlsa.inc",
        "a subdirectory": "sub/tlsa.inc",
        "an absolute path inside": str(zones / "tlsa.inc"),
        "a link to a file inside": "link.inc",
        "a name with .. that stays inside": "sub/../tlsa.inc",
        "a zone directory reached through a link": "tlsa.inc",
        "..": "../outside/tlsa.inc",
        "an absolute path outside": str(outside / "tlsa.inc"),
        "a link to a file outside": "escape.inc",
        "a linked subdirectory outside": "elsewhere/tlsa.inc",
        "an include within the include": "nested.inc",
    }[case]
    (zones / "link.inc").symlink_to("sub/tlsa.inc")
    (zones / "escape.inc").symlink_to(outside / "tlsa.inc")
    (zones / "elsewhere").symlink_to(outside)
    (zones / "nested.inc").write_text("$INCLUDE ../outside/tlsa.inc\n")
    path.write_text(f"{BASE_ZONE}$INCLUDE {argument}\n")
    if case == "a zone directory reached through a link":
        (root / "alias").symlink_to(zones)
        path = root / "alias" / path.name
    return path, argument


ACCEPTED = [
    "the same directory",
    "a subdirectory",
    "an absolute path inside",
    "a link to a file inside",
    "a name with .. that stays inside",
    "a zone directory reached through a link",
]
REFUSED = [
    "..",
    "an absolute path outside",
    "a link to a file outside",
    "a linked subdirectory outside",
    "an include within the include",
]


def _bind_tlsa(path: Path, named_checkzone: str) -> set[str]:
    """The TLSA data at MAIL as named-checkzone reads the zone, run in the zone's directory."""
    done = subprocess.run(
        [named_checkzone, "-D", "-o", "-", "example.test", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = set()
    for line in done.stdout.splitlines():
        name, _, _, rdtype, *data = line.split()
        if name == MAIL.name and rdtype == "TLSA":
            found.add(" ".join(data[:3]) + " " + "".join(data[3:]).lower())
    return found


@pytest.mark.parametrize("case", ACCEPTED)
def test_an_include_inside_the_directory_is_read_as_bind_reads_it(
    tmp_path: Path,
    make_provider: Callable[..., ZonefileProvider],
    named_checkzone: str,
    case: str,
) -> None:
    path, _ = _layout(tmp_path, case)
    held = make_provider(path).read("example.test.", [MAIL])[MAIL]
    assert held is not None
    assert set(held.texts()) == {record("a").to_text()}
    assert _bind_tlsa(path, named_checkzone) == set(held.texts())


@pytest.mark.parametrize("case", REFUSED)
def test_an_include_that_leads_outside_the_directory_is_refused(
    tmp_path: Path, make_provider: Callable[..., ZonefileProvider], case: str
) -> None:
    path, argument = _layout(tmp_path, case)
    with pytest.raises(InputError) as caught:
        make_provider(path).read("example.test.", [MAIL])
    message = str(caught.value)
    inside = (tmp_path / "zones").resolve()
    including = path if case != "an include within the include" else tmp_path / "zones/nested.inc"
    line = 1 if case == "an include within the include" else BASE_ZONE.count("\n") + 1
    assert message.startswith(f"{including}:{line}: $INCLUDE ")
    assert f"outside the zone file's directory {inside}" in message and "\n" not in message
    if case != "an include within the include":
        assert f"$INCLUDE {argument} is " in message


def test_plan_refuses_an_include_outside_with_exit_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = _layout(tmp_path, "..")
    cert = Path(__file__).parents[3] / "docs/examples/mx.example.com/fullchain.pem"
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f'[defaults]\nstate = "{tmp_path / "state.json"}"\n'
        f'[providers.zones]\ntype = "zonefile"\npath = "{path}"\n'
        '[[services]]\nhosts = ["mail.example.test"]\n'
        f'cert = "{cert}"\n'
    )
    code = main(["plan", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 3, err
    assert err.count("\n") == 1 and "$INCLUDE ../outside/tlsa.inc is " in err
