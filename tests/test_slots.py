"""The probe of a service's server: failures become warnings and keep the retire gate closed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.testbed.acme import LocalCA, new_key
from tests.testbed.ports import free_port
from tlsagen import config, engine
from tlsagen.net import probe
from tlsagen.rollover import planner, slots
from tlsagen.testing import MemoryProvider

NOW = datetime.now(UTC)


def secp256k1_certificate() -> bytes:
    key = ec.generate_private_key(ec.SECP256K1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mx1.example.test")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def load(tmp_path: Path, resolver: str) -> config.Config:
    cert = tmp_path / "fullchain.pem"
    cert.write_bytes(LocalCA().fullchain(new_key(), "mx1.example.test"))
    path = tmp_path / "tlsagen.toml"
    path.write_text(
        f'[defaults]\nresolver = "{resolver}"\nstate = "{tmp_path / "state.json"}"\n'
        "[providers.mem]\ntype = 'memory'\n"
        "[[services]]\nname = 'mail'\nhosts = ['mx1.example.test']\n"
        f"cert = '{cert}'\nprobe = true\n"
    )
    return config.load(path)


def plan(loaded: config.Config) -> engine.Plan:
    memories = {"mail": planner.Memory(started=True)}
    return engine.make_plan(loaded, {"mem": MemoryProvider()}, NOW, memories)


@pytest.mark.parametrize("chain", [(b"\x30\x03garbage",), "secp256k1"])
def test_a_presented_certificate_tlsagen_cannot_use_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chain: tuple[bytes, ...] | str
) -> None:
    presented = (secp256k1_certificate(),) if chain == "secp256k1" else chain
    assert isinstance(presented, tuple)
    served = probe.Served("ecdsa", presented, "TLSv1.3", "TLS_AES_128_GCM_SHA256")
    monkeypatch.setattr(slots, "_addresses", lambda host, asking: ["192.0.2.1"])
    monkeypatch.setattr(probe, "fetch_each_key", lambda *args: ([served], None))
    loaded = load(tmp_path, f"127.0.0.1:{free_port()}")

    found = slots.read(loaded.services[0], NOW, probing=True)
    assert found.live is None  # the retire gate stays closed
    assert found.presented == ()
    done = plan(loaded)
    problems = [w for w in done.warnings if "cannot use the certificate it presents" in w]
    assert problems and "192.0.2.1 port 25" in problems[0]


def test_an_unanswering_resolver_is_a_probe_problem_not_no_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> object:
        raise AssertionError("probed without an address")

    monkeypatch.setattr(probe, "fetch_each_key", never)
    port = free_port()
    done = plan(load(tmp_path, f"127.0.0.1:{port}"))
    problems = [w for w in done.warnings if "cannot resolve its hosts to probe them" in w]
    assert len(problems) == 1
    assert f"127.0.0.1:{port}" in problems[0] and "mx1.example.test" in problems[0]
    assert "indeterminate" in problems[0]
