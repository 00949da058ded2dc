"""The configuration reference cannot drift from the code: every key the code accepts is
documented (and nothing else is), and every TOML example in the docs is a configuration that
tlsagen accepts."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tlsagen import config
from tlsagen.config_values import check_keys

pytest.importorskip("tlsagen_cloudflare")  # checks the docs against this provider
pytest.importorskip("tlsagen_desec")
pytest.importorskip("tlsagen_powerdns")
pytest.importorskip("tlsagen_rfc2136")
pytest.importorskip("tlsagen_route53")
pytest.importorskip("tlsagen_zonefile")
from tlsagen_cloudflare.provider import KEYS as CLOUDFLARE_KEYS
from tlsagen_desec.provider import KEYS as DESEC_KEYS
from tlsagen_powerdns.settings import KEYS as POWERDNS_KEYS
from tlsagen_rfc2136.config import KEYS as RFC2136_KEYS
from tlsagen_route53.settings import KEYS as ROUTE53_KEYS
from tlsagen_zonefile.settings import KEYS as ZONEFILE_KEYS

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"
REFERENCE = DOCS / "configuration.md"
PROVIDER_KEYS: dict[str, tuple[str, ...]] = {
    "rfc2136": RFC2136_KEYS,
    "route53": ROUTE53_KEYS,
    "zonefile": ZONEFILE_KEYS,
    "powerdns": POWERDNS_KEYS,
    "cloudflare": CLOUDFLARE_KEYS,
    "desec": DESEC_KEYS,
}
FAKE_PATH = Path("/etc/tlsagen/tlsagen.toml")


def sections(page: Path) -> dict[str, str]:
    """Heading text -> the text below it, up to the next heading (code blocks left out)."""
    text = re.sub(r"^```.*?^```$", "", page.read_text(), flags=re.M | re.S)
    parts = re.split(r"^#+ (.*)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def table_keys(text: str) -> set[str]:
    """The backticked first cell of each table row: `| `key` | ...`."""
    return set(re.findall(r"^\| `([^`]+)` \|", text, re.M))


def test_defaults_keys_are_documented() -> None:
    assert table_keys(sections(REFERENCE)["`[defaults]`"]) == set(config._DEFAULTS_KEYS)


def test_service_keys_are_documented() -> None:
    assert table_keys(sections(REFERENCE)["`[[services]]`"]) == set(config._SERVICE_KEYS)


def test_deploy_keys_are_documented() -> None:
    assert table_keys(sections(REFERENCE)["`deploy`"]) == set(config._DEPLOY_KEYS)


def test_every_provider_type_is_in_the_reference() -> None:
    rows = dict(
        re.findall(r"^\| `(\w+)` \| `tlsagen-\w+` \| (.*) \|$", REFERENCE.read_text(), re.M)
    )
    assert set(rows) == set(PROVIDER_KEYS)
    for kind, keys in PROVIDER_KEYS.items():
        listed = re.findall(r"`([a-z-]+)`", rows[kind].split(": see")[0])
        assert listed == list(keys), kind


@pytest.mark.parametrize("kind", sorted(PROVIDER_KEYS))
def test_provider_keys_are_documented_on_its_page(kind: str) -> None:
    configuration = "\n".join(
        body
        for heading, body in sections(DOCS / "providers" / f"{kind}.md").items()
        if "onfiguration" in heading
    )
    assert table_keys(configuration) == set(PROVIDER_KEYS[kind])


def toml_examples() -> list[tuple[str, str]]:
    """(page, block) for every ```toml block of the docs."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for block in re.findall(r"^```toml\n(.*?)^```$", page.read_text(), re.M | re.S):
            found.append((page.relative_to(DOCS).as_posix(), block))
    return found


TOML_EXAMPLES = toml_examples()


def test_the_reference_and_the_provider_pages_have_toml_examples() -> None:
    pages = {page for page, _ in TOML_EXAMPLES}
    assert {"configuration.md", "quickstart.md"} | {f"providers/{k}.md" for k in PROVIDER_KEYS} <= (
        pages
    )


def check_configuration(data: dict[str, Any]) -> config.Config:
    """What tlsagen checks when it loads the file, and each provider's keys. A fragment that
    shows services but no provider gets one, so that the services are checked too."""
    if "services" in data and "providers" not in data:
        data = {**data, "providers": {"example": {"type": "memory"}}}
    loaded = config.parse(data, FAKE_PATH)
    for name, provider in loaded.providers.items():
        if provider.kind in PROVIDER_KEYS:
            where = f"{FAKE_PATH} [providers.{name}]"
            check_keys(provider.settings.options, PROVIDER_KEYS[provider.kind], where)
    return loaded


@pytest.mark.parametrize(
    ("page", "block"),
    TOML_EXAMPLES,
    ids=[f"{page}-{i}" for i, (page, _) in enumerate(TOML_EXAMPLES)],
)
def test_toml_example_is_a_configuration_tlsagen_accepts(page: str, block: str) -> None:
    check_configuration(tomllib.loads(block))


@pytest.mark.parametrize(
    "path", sorted(DOCS.glob("examples/**/tlsagen.toml")), ids=lambda p: p.parent.name
)
def test_example_configuration_files_load(path: Path) -> None:
    loaded = config.load(path)
    assert loaded.services
    check_configuration(tomllib.loads(path.read_text()))
