"""ACME client integration: hook environments and arguments, next keys, certbot's settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.testbed.acme import CertDir, LocalCA, new_key
from tlsagen import hooks
from tlsagen.config import Service
from tlsagen.errors import UsageError
from tlsagen.records import Owner


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
