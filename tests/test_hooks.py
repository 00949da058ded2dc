"""ACME client integration: hook environments and arguments, next keys, certbot's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testbed.acme import Certbot, CertDir, LocalCA, Pebble, new_key, publish_hook
from tlsagen.config import Service
from tlsagen.core import material
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import Params, compute
from tlsagen.errors import UsageError
from tlsagen.rollover import hooks


def service(*sources: str | Path, key: str | Path | None = None) -> Service:
    owner = Owner("_25._tcp.mx1.example.test.")
    return Service(
        "mail", (owner,), tuple(map(str, sources)), (), (), 60, "dns", str(key) if key else None
    )


def test_certbot_deploy_hook_environment() -> None:
    found = hooks.from_environment(
        {
            "RENEWED_LINEAGE": "/etc/letsencrypt/live/mx",
            "RENEWED_DOMAINS": "mx1.example mx2.example",
        }
    )
    assert found == hooks.Renewal(
        hooks.CERTBOT, (Path("/etc/letsencrypt/live/mx"),), (), ("mx1.example", "mx2.example")
    )
    assert found.concerns(service("/etc/letsencrypt/live/mx"))
    assert found.concerns(service("/etc/letsencrypt/live/mx/fullchain.pem"))
    assert not found.concerns(service("/etc/letsencrypt/live/mx-other/fullchain.pem"))


def test_a_lineage_named_like_a_domain_concerns_only_itself() -> None:
    found = hooks.from_environment({"RENEWED_LINEAGE": "/etc/letsencrypt/live/mx1.example.com"})
    assert found is not None
    assert found.concerns(service("/etc/letsencrypt/live/mx1.example.com"))
    assert not found.concerns(service("/etc/letsencrypt/live/mx2.example.com"))
    assert not found.concerns(service("/etc/letsencrypt/live/mx2.example.com/fullchain.pem"))


def test_acmesh_reload_environment() -> None:
    environ = {
        "CERT_PATH": "/root/.acme.sh/mx.example/mx.example.cer",
        "CERT_KEY_PATH": "/root/.acme.sh/mx.example/mx.example.key",
        "CERT_FULLCHAIN_PATH": "/root/.acme.sh/mx.example/fullchain.cer",
        "Le_Domain": "mx.example",
    }
    found = hooks.from_environment(environ)
    assert found is not None and found.client == hooks.ACMESH and found.domains == ("mx.example",)
    assert found.concerns(service("/root/.acme.sh/mx.example/fullchain.cer"))
    assert not found.concerns(service("/etc/ssl/other.pem"))


def test_no_hook_environment() -> None:
    assert hooks.from_environment({"PATH": "/usr/bin"}) is None
    assert hooks.from_environment({"CERT_PATH": "/etc/ssl/x.pem"}) is None  # not acme.sh's set


def test_dehydrated_deploy_cert_and_other_events() -> None:
    args = [
        "deploy_cert",
        "mx.example",
        "/etc/dehydrated/certs/mx.example/privkey.pem",
        "/etc/dehydrated/certs/mx.example/cert.pem",
        "/etc/dehydrated/certs/mx.example/fullchain.pem",
        "/etc/dehydrated/certs/mx.example/chain.pem",
        "1700000000",
    ]
    found = hooks.dehydrated(args)
    assert found is not None and found.client == hooks.DEHYDRATED and found.name == "mx.example"
    assert found.concerns(service("/etc/dehydrated/certs/mx.example/fullchain.pem"))
    assert found.concerns(service("/etc/dehydrated/certs/mx.example"))
    assert hooks.dehydrated(args[:-1]) is not None  # dehydrated before TIMESTAMP existed
    for other in (["deploy_challenge", "d", "t", "v"], ["unchanged_cert", "d"], ["exit_hook"], []):
        assert hooks.dehydrated(other) is None
    with pytest.raises(UsageError, match="deploy_cert expects"):
        hooks.dehydrated(["deploy_cert", "mx.example"])


@pytest.mark.parametrize(
    ("layout", "client"), [("dehydrated", hooks.DEHYDRATED), ("acme.sh", hooks.ACMESH)]
)
def test_next_keys_the_clients_keep(tmp_path: Path, layout: str, client: str) -> None:
    files = CertDir(tmp_path, "mx.example", layout, LocalCA())
    files.issue(new_key())
    source = files.dir if layout == "dehydrated" else files.fullchain
    assert hooks.next_key_files(service(source)) == []
    files.prepare_next()
    assert hooks.next_key_files(service(source)) == [(files.next_key, client)]


def test_an_acmesh_next_key_beside_a_configured_key(tmp_path: Path) -> None:
    key = tmp_path / "keys" / "mx.key"
    key.parent.mkdir()
    key.write_text("")
    Path(f"{key}.next").write_text("")
    found = hooks.next_key_files(service(tmp_path / "cert.pem", key=key))
    assert found == [(Path(f"{key}.next"), hooks.ACMESH)]


def test_renewal_params_of_a_certbot_conf() -> None:
    text = (
        "# renew_before_expiry = 30 days\nversion = 5.8.0\ncert = /x/cert.pem\n"
        "[renewalparams]\naccount = abc\nkey_type = rsa\nreuse_key = True\n"
        "rsa_key_size = 4096\n[[webroot_map]]\nx = y\n"
    )
    assert hooks.renewal_params(text) == {
        "account": "abc",
        "key_type": "rsa",
        "reuse_key": "True",
        "rsa_key_size": "4096",
    }
    assert hooks.certbot_conf_path(Path("/etc/letsencrypt/live/mx")) == Path(
        "/etc/letsencrypt/renewal/mx.conf"
    )


@pytest.mark.parametrize(
    ("params", "key_type", "deploys", "expected"),
    [
        ({"reuse_key": "True", "key_type": "ecdsa"}, "EC P-256", False, []),
        ({"key_type": "ecdsa"}, "EC P-256", True, []),
        ({"key_type": "ecdsa"}, "EC P-256", False, ["reuse_key is not set"]),
        ({"reuse_key": "True"}, "RSA 2048", False, ["key_type = ecdsa (certbot's default)"]),
        (
            {"reuse_key": "True", "key_type": "rsa", "rsa_key_size": "4096"},
            "RSA 2048",
            True,
            ["rsa_key_size = 4096", "fails (reuse_key is set)", "--rsa-key-size 2048"],
        ),
        (
            {"key_type": "ecdsa", "elliptic_curve": "secp384r1"},
            "EC P-256",
            True,
            ["elliptic_curve = secp384r1", "makes a new key", "--elliptic-curve secp256r1"],
        ),
    ],
)
def test_certbot_settings_that_would_break_the_next_renewal(
    params: dict[str, str], key_type: str, deploys: bool, expected: list[str]
) -> None:
    warnings = hooks.certbot_warnings("mx", params, key_type, deploys)
    text = " | ".join(warnings)
    assert all(fragment in text for fragment in expected), text
    assert bool(warnings) == bool(expected)


def test_dehydrated_without_a_roll_key_is_warned_about(tmp_path: Path) -> None:
    files = CertDir(tmp_path, "mx.example", "dehydrated", LocalCA())
    files.issue(new_key())
    (warning,) = hooks.dehydrated_warnings(service(files.dir), deploys=False)
    assert "PRIVATE_KEY_ROLLOVER=yes" in warning
    assert hooks.dehydrated_warnings(service(files.dir), deploys=True) == []
    files.prepare_next()
    assert hooks.dehydrated_warnings(service(files.dir), deploys=False) == []


# --- lineage paths are compared after resolving links --------------------------------------------


def _certbot_lineage(root: Path, name: str) -> Path:
    """CONFIG_DIR/live/NAME with its files as links into archive/NAME, as certbot lays it out."""
    files = CertDir(root / "archive", name, "acme.sh", LocalCA())
    files.issue(new_key())
    live = root / "live" / name
    live.mkdir(parents=True)
    (live / "fullchain.pem").symlink_to(f"../../archive/{name}/fullchain.cer")
    (live / "privkey.pem").symlink_to(f"../../archive/{name}/{name}.key")
    return live


def test_a_symlinked_spelling_of_the_lineage_is_the_same_lineage(tmp_path: Path) -> None:
    lineage = _certbot_lineage(tmp_path / "letsencrypt", "mx")
    _certbot_lineage(tmp_path / "letsencrypt", "other")
    (tmp_path / "le").symlink_to("letsencrypt")  # a link to the config directory
    (tmp_path / "mailcert").symlink_to(lineage)  # a link to the lineage itself
    (tmp_path / "cert.pem").symlink_to(tmp_path / "le" / "live" / "mx" / "fullchain.pem")
    spellings = [
        tmp_path / "le" / "live" / "mx",
        tmp_path / "le" / "live" / "mx" / "fullchain.pem",
        tmp_path / "le" / "live" / ".." / "live" / "mx",
        tmp_path / "mailcert",
        tmp_path / "mailcert" / "fullchain.pem",
        tmp_path / "cert.pem",
    ]
    renewed = hooks.from_environment({"RENEWED_LINEAGE": str(lineage), "RENEWED_DOMAINS": "mx"})
    assert renewed is not None
    for spelling in spellings:
        assert renewed.concerns(service(spelling)), spelling
    assert renewed.concerns(service(tmp_path / "x.pem", key=tmp_path / "le/live/mx/privkey.pem"))
    assert not renewed.concerns(service(tmp_path / "le" / "live" / "other"))
    assert not renewed.concerns(service(tmp_path / "le" / "live" / "other" / "fullchain.pem"))
    via_link = hooks.from_environment({"RENEWED_LINEAGE": str(tmp_path / "le" / "live" / "mx")})
    assert via_link is not None and via_link.concerns(service(lineage / "fullchain.pem"))
    assert not via_link.concerns(service(tmp_path / "letsencrypt" / "live" / "other"))


def test_a_link_loop_ends(tmp_path: Path) -> None:
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    renewed = hooks.from_environment({"RENEWED_LINEAGE": str(tmp_path / "live" / "mx")})
    assert renewed is not None and not renewed.concerns(service(tmp_path / "a"))


@pytest.mark.parametrize("link", ["configuration", "certbot"])
def test_certbot_runs_the_hook_for_a_lineage_configured_through_a_link(
    pebble: Pebble, tmp_path: Path, link: str
) -> None:
    """Real certbot and pebble; either tlsagen.toml or certbot's --config-dir names the
    lineage through a symbolic link. The hook publishes the new key either way."""
    real = tmp_path / "certbot"
    real.mkdir()
    (tmp_path / "alias").symlink_to(real)
    certbot = Certbot(pebble, tmp_path / "alias" if link == "certbot" else real)
    configured = (tmp_path / "alias" if link == "configuration" else real) / "etc/live/mail"
    zone = tmp_path / "zone.db"
    zone.write_text("$ORIGIN example.test.\n$TTL 300\n@ SOA ns hostmaster 1 2 3 4 5\n@ NS ns\n")
    config = tmp_path / "tlsagen.toml"
    config.write_text(
        f'[defaults]\nstate = "{tmp_path / "state.json"}"\n'
        f'[providers.dns]\ntype = "zonefile"\npath = "{zone}"\nzone = "example.test"\n'
        '[[services]]\nname = "mail"\nhosts = ["mx.example.test"]\n'
        f'cert = "{configured}"\nprobe = false\n'
    )
    log = tmp_path / "hook.log"
    certbot.certonly("mail", "mx.example.test", "--deploy-hook", str(publish_hook(config, log)))
    text = log.read_text()
    assert "no service uses" not in text, text
    key = material.read_source(str(real / "etc/live/mail/fullchain.pem"))
    record = compute(key, Params(3, 1, 1)).to_text().split()[-1]
    assert record in zone.read_text().replace("\n", "").replace(" ", "").lower(), text
