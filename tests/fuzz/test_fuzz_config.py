"""tlsagen.toml: config.load on random and mutated text, config.parse on generated tables, and each
provider's checks of its `[providers.NAME]` table (what `tlsagen plan` runs before any I/O)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.conftest import FUZZ
from tests.fuzz.mutations import mutated, reads_or_refuses, spliced_lines
from tlsagen import config

pytest.importorskip("tlsagen_rfc2136")  # fuzzes this provider's parsers
pytest.importorskip("tlsagen_route53")
pytest.importorskip("tlsagen_zonefile")
from tlsagen_rfc2136.config import parse_settings
from tlsagen_route53.settings import Settings as Route53Settings
from tlsagen_zonefile.settings import Settings as ZonefileSettings

EXAMPLE = Path(__file__).parents[2] / "docs/examples/gitops/tlsagen.toml"
SECRET = base64.b64encode(b"fuzz secret").decode()
FILES = {  # in the configuration's directory, for the keys that name files
    "tsig.key": f'key "k." {{ algorithm hmac-sha256; secret "{SECRET}"; }};\n',
    "rfc2136.ini": f"dns_rfc2136_name = k\ndns_rfc2136_secret = {SECRET}\n",
    "secret": SECRET,
    "example.com.zone": "$ORIGIN example.com.\n@ 1 SOA ns hm 1 2 3 4 5\n",
    "cert.pem": "",
}
SEED_TEXTS = [
    EXAMPLE.read_text(),
    "[defaults]\nttl = 60\nparams = ['3 1 1', 'dane-ta spki sha2-512']\nprovider = 'dns'\n"
    "resolver = '127.0.0.1:5353'\nstate = 'state.json'\nmargin = 1.5\n"
    "[providers.dns]\ntype = 'rfc2136'\nserver = '[::1]:53'\nkey-file = 'tsig.key'\n"
    "nameservers = ['192.0.2.1']\ntimeout = 3\n"
    "[providers.aws]\ntype = 'route53'\nzone-id = '/hostedzone/Z1'\nprivate = true\n"
    "[[services]]\nname = 'mail'\nhosts = ['mx1.example.com', 'bücher.example']\nports = [25]\n"
    "cert = 'cert.pem'\nnext-key = ['next.key']\nprovider = 'dns'\nstarttls = 'smtp'\n"
    "deploy = { cert = 'd.pem', key = 'd.key', reload = ['true'], timeout = 5 }\n",
]

SCALARS = (
    st.text(max_size=12)
    | st.sampled_from([*FILES, "env:TLSAGEN_FUZZ_SECRET", "file:secret", "127.0.0.1", "3 1 1"])
    | st.sampled_from(
        ["tsig.key\0", "file:secret\0", "127.0.0.1:\u00b2", "[::1]:99999", "9" * 5000]
    )
    | st.integers()
    | st.floats()
    | st.booleans()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


def table(keys: tuple[str, ...]) -> st.SearchStrategy[dict[str, Any]]:
    """A table of the known keys (and the odd unknown one), each with any TOML value."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), VALUES, max_size=6)


PROVIDER = st.builds(
    lambda kind, rest: {"type": kind, **rest},
    st.sampled_from(["rfc2136", "route53", "zonefile"]) | VALUES,
    table(
        (
            *("server", "port", "zone", "key-file", "key-name", "algorithm", "secret"),
            *("credentials", "timeout", "nameservers", "profile", "region", "zone-id"),
            *("endpoint-url", "private", "path", "pattern", "serial", "check-command"),
            "aws_secret_access_key",
        )
    ),
)
SERVICE = table(config._SERVICE_KEYS) | st.builds(
    dict,
    hosts=st.lists(st.text(max_size=20) | st.just("mx1.example.com"), max_size=2),
    cert=st.just("cert.pem"),
    ports=st.lists(st.integers(-1, 70000), max_size=2),
    deploy=table(config._DEPLOY_KEYS),
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "defaults": table(config._DEFAULTS_KEYS) | VALUES,
        "providers": st.dictionaries(st.text(max_size=6), PROVIDER | VALUES, max_size=2),
        "services": st.lists(SERVICE, max_size=2) | VALUES,
    },
)
PARSERS = {"rfc2136": parse_settings, "route53": Route53Settings.parse}
PARSERS["zonefile"] = ZonefileSettings.parse


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The configuration's directory with FILES, and TLSAGEN_FUZZ_SECRET set."""
    found = tmp_path_factory.mktemp("config")
    for name, text in FILES.items():
        (found / name).write_text(text)
        (found / name).chmod(0o600)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TLSAGEN_FUZZ_SECRET", SECRET)
        yield found


def check_document(data: dict[str, Any], path: Path) -> None:
    """config.parse, then the checks of each provider table the document declares."""
    loaded = config.parse(data, path)
    for provider in loaded.providers.values():
        parser = PARSERS.get(provider.kind)
        if parser is not None:
            parser(provider.settings)


@FUZZ
@given(data=DOCUMENTS)
def test_generated_tables(directory: Path, data: dict[str, Any]) -> None:
    reads_or_refuses(check_document, data, directory / "tlsagen.toml")


TEXTS = (
    st.text(max_size=300).map(str.encode)
    | mutated([text.encode() for text in SEED_TEXTS])  # undecodable bytes too
    | spliced_lines(SEED_TEXTS).map(str.encode)
)


@FUZZ
@given(data=TEXTS)
def test_text(directory: Path, data: bytes) -> None:
    """Random text through tomllib and config.load, as `tlsagen plan --config FILE` reads it."""
    path = directory / "tlsagen.toml"
    path.write_bytes(data)
    loaded = reads_or_refuses(config.load, path)
    if loaded is not None:
        for provider in loaded.providers.values():
            parser = PARSERS.get(provider.kind)
            if parser is not None:
                reads_or_refuses(parser, provider.settings)
