"""`tlsagen generate` end to end: every format, every exit code, every kind of bad input, lints."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dns.rdata
import dns.zone
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers import HOST, PASSWORD, Cli, Pki, Run, openssl, params_options
from tlsagen.cli.generate import PASSWORD_ENV
from tlsagen.core import formats
from tlsagen.core.records import Owner
from tlsagen.core.tlsa import TLSAData

OWNER = f"_25._tcp.{HOST}."
Rdata = tuple[int, int, int, str]  # usage, selector, matching type, hex data


def generate(cli: Cli, *args: str | Path) -> Run:
    return cli("generate", *args)


def rdatas_of(json_run: Run) -> set[Rdata]:
    found = set()
    for params, data in json_run.records().items():
        usage, selector, matching_type = map(int, params.split())
        found.add((usage, selector, matching_type, data))
    return found


def zone_rdatas(text: str) -> dict[str, set[Rdata]]:
    """The TLSA records of zone-file text, parsed by dnspython: {owner: {rdata}}."""
    zone = dns.zone.from_text(text, origin="example.com.", relativize=False, check_origin=False)
    return {
        name.to_text(): {(r.usage, r.selector, r.mtype, r.cert.hex()) for r in rdataset}
        for name, rdataset in zone.iterate_rdatasets("TLSA")
    }


@pytest.fixture
def chain_run(cli: Cli, pki: Pki) -> Cli:
    """`generate` on the four-certificate chain with a 3 1 1 and a 2 1 1 record, TTL 600."""

    def run(*extra: str) -> Run:
        params = ["--params", "3 1 1", "--params", "2 1 1"]
        return generate(cli, pki.fullchain, "--host", HOST, "--ttl", "600", *params, *extra)

    return run


@pytest.fixture
def expected(chain_run: Cli) -> set[Rdata]:
    """The records of `chain_run`, from its JSON output (checked against openssl elsewhere)."""
    return rdatas_of(chain_run("--format", "json"))


# --- formats -------------------------------------------------------------------------------------


def test_zone_format(chain_run: Cli, expected: set[Rdata]) -> None:
    run = chain_run()
    assert run.code == 0
    assert zone_rdatas(run.out) == {OWNER: expected}
    for line in run.out.splitlines():
        assert re.fullmatch(rf"{re.escape(OWNER)} 600 IN TLSA [0-3] [01] [0-2] [0-9a-f]+", line)


def test_json_format(chain_run: Cli, pki: Pki) -> None:
    document = json.loads(chain_run("--format", "json").out)
    assert document["schema"] == 1
    assert [(r["source"], r["owner"], r["ttl"]) for r in document["records"]] == [
        (str(pki.fullchain), OWNER, 600)
    ] * 2
    fields = {"source", "owner", "ttl", "usage", "selector", "matching_type", "data"}
    assert all(set(r) == fields for r in document["records"])


def test_generic_format_reads_back_as_the_same_tlsa_records(
    chain_run: Cli, expected: set[Rdata]
) -> None:
    run = chain_run("--format", "generic")
    for line in run.out.splitlines():
        match = re.fullmatch(rf"{re.escape(OWNER)} 600 IN TYPE52 \\# (\d+) ([0-9a-f]+)", line)
        assert match, line
        assert int(match[1]) * 2 == len(match[2])
    assert zone_rdatas(run.out) == {OWNER: expected}


def test_nsupdate_format(chain_run: Cli, expected: set[Rdata]) -> None:
    lines = chain_run("--format", "nsupdate").out.splitlines()
    assert lines[0] == f"update delete {OWNER} TLSA"
    assert lines[-1] == "send"
    found = set()
    for line in lines[1:-1]:
        prefix = f"update add {OWNER} 600 TLSA "
        assert line.startswith(prefix)
        rdata = dns.rdata.from_text("IN", "TLSA", line.removeprefix(prefix))
        found.add((rdata.usage, rdata.selector, rdata.mtype, rdata.cert.hex()))
    assert found == expected


def test_nsupdate_replaces_each_owner_once() -> None:
    owners = [Owner.for_service(HOST, port) for port in (25, 465)]
    data = TLSAData(3, 1, 1, bytes(32))
    records = [formats.Record("s", owner, 60, data) for owner in owners for _ in range(2)]
    deletes = [line for line in formats.nsupdate(records).splitlines() if "delete" in line]
    assert deletes == [f"update delete {owner} TLSA" for owner in owners]


@pytest.mark.parametrize(("zone", "key"), [(None, OWNER), ("Example.COM", "_25._tcp.mx1")])
def test_octodns_format(chain_run: Cli, expected: set[Rdata], zone: str | None, key: str) -> None:
    run = chain_run("--format", "octodns", *(["--zone", zone] if zone else []))
    document = yaml.safe_load(run.out)
    assert list(document) == [key]
    assert (document[key]["ttl"], document[key]["type"]) == (600, "TLSA")
    values = {
        (
            v["certificate_usage"],
            v["selector"],
            v["matching_type"],
            v["certificate_association_data"],
        )
        for v in document[key]["values"]
    }
    assert values == expected


def test_octodns_data_stays_a_string_in_yaml() -> None:
    """Hex data of digits only (octal-looking, even) must not load as a number."""
    record = formats.Record("s", Owner.for_service(HOST, 25), 60, TLSAData(3, 1, 0, b"\x01\x23"))
    (value,) = yaml.safe_load(formats.octodns([record]))[OWNER]["values"]
    assert value["certificate_association_data"] == "0123"


@pytest.mark.parametrize(("zone", "name"), [(None, OWNER), ("example.com.", "_25._tcp.mx1")])
def test_dnscontrol_format(
    chain_run: Cli, expected: set[Rdata], zone: str | None, name: str
) -> None:
    run = chain_run("--format", "dnscontrol", *(["--zone", zone] if zone else []))
    call = re.compile(rf'TLSA\("{re.escape(name)}", (\d), (\d), (\d), "([0-9a-f]+)", TTL\(600\)\),')
    found = set()
    for line in run.out.splitlines():
        match = call.fullmatch(line)
        assert match, line
        usage, selector, matching_type, data = match.groups()
        found.add((int(usage), int(selector), int(matching_type), data))
    assert found == expected


# --- sources and names ---------------------------------------------------------------------------


def test_default_is_3_1_1_in_zone_format(cli: Cli, pki: Pki) -> None:
    run = generate(cli, pki.cert("ed25519"), "--host", HOST)
    json_run = generate(cli, pki.cert("ed25519"), "--host", HOST, "--format", "json")
    assert zone_rdatas(run.out) == {OWNER: rdatas_of(json_run)}
    assert run.out.split()[:7] == [OWNER, "3600", "IN", "TLSA", "3", "1", "1"]


def test_several_sources_give_a_record_set_each(cli: Cli, pki: Pki) -> None:
    sources = [pki.cert("p256"), pki.key("ed448"), pki.cert("rsa2048")]
    run = generate(cli, *sources, "--host", HOST, "--params", "3 1 1", "--params", "3 1 2")
    assert run.code == 0, run.err
    items = json.loads(generate(cli, *sources, "--host", HOST, "--format", "json").out)["records"]
    assert [item["source"] for item in items] == [str(source) for source in sources]
    single = [
        generate(cli, source, "--host", HOST, "--format", "json").records()["3 1 1"]
        for source in sources
    ]
    assert [item["data"] for item in items] == single
    assert len(run.out.splitlines()) == 6


def test_standard_input(cli: Cli, pki: Pki, monkeypatch: pytest.MonkeyPatch) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(pki.fullchain.read_bytes()))
    monkeypatch.setattr("sys.stdin", stdin)
    from_stdin = json.loads(generate(cli, "-", "--host", HOST, "--format", "json").out)
    from_file = json.loads(generate(cli, pki.fullchain, "--host", HOST, "--format", "json").out)
    assert from_stdin["records"][0]["source"] == "<stdin>"
    assert from_stdin["records"][0]["data"] == from_file["records"][0]["data"]


def test_certbot_lineage_directory(cli: Cli, pki: Pki, tmp_path: Path) -> None:
    lineage = tmp_path / "live" / HOST
    lineage.mkdir(parents=True)
    (lineage / "cert.pem").write_bytes(pki.cert("p256").read_bytes())
    (lineage / "chain.pem").write_bytes(pki.ca("int2").read_bytes())
    (lineage / "fullchain.pem").write_bytes(pki.fullchain.read_bytes())
    (lineage / "privkey.pem").write_bytes(pki.key("p256").read_bytes())
    args = ["--host", HOST, "--params", "3 1 1", "--params", "2 1 1", "--format", "json"]
    from_dir = json.loads(generate(cli, lineage, *args).out)["records"]
    assert {r["source"] for r in from_dir} == {str(lineage / "fullchain.pem")}
    assert generate(cli, lineage, *args).records() == generate(cli, pki.fullchain, *args).records()


@pytest.mark.parametrize(
    ("args", "owner"),
    [
        (["--host", "Bücher.Example"], "_25._tcp.xn--bcher-kva.example."),
        (["--host", "mx.example.", "--port", "443", "--proto", "UDP"], "_443._udp.mx.example."),
        (["--host", "почта.рф", "--port", "465"], "_465._tcp.xn--80a1acny.xn--p1ai."),
    ],
)
def test_owner_names(cli: Cli, pki: Pki, args: list[str], owner: str) -> None:
    run = generate(cli, pki.cert("p256"), *args)
    assert run.code == 0 and run.out.split()[0] == owner


def test_password_from_a_file(cli: Cli, pki: Pki, tmp_path: Path) -> None:
    key, password_file = tmp_path / "key.pem", tmp_path / "password"
    openssl("pkey", "-in", pki.key("p384"), "-aes256", "-passout", f"pass:{PASSWORD}", "-out", key)
    password_file.write_text(PASSWORD + "\n")
    run = generate(cli, key, "--host", HOST, "--password-file", password_file)
    assert run.code == 0, run.err
    assert run.out == generate(cli, pki.key("p384"), "--host", HOST).out


# --- lints and --strict --------------------------------------------------------------------------


def dated_certificate(path: Path, not_before: datetime, not_after: datetime) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize(
    ("params", "warning"),
    [
        (["1 1 1"], "usages 0 and 1 (PKIX) are unusable for SMTP"),
        (["0 1 1"], "usages 0 and 1 (PKIX) are unusable for SMTP"),
        (["3 0 1"], "changes at every renewal"),
        (["3 1 0"], "matching type 0 publishes the full data"),
        (["3 1 2"], "a SHA-512 record should come with 3 1 1"),
        (["2 1 1"], "DANE-TA pins the issuing CA"),
        (
            ["3 1 0", "3 1 1", "3 1 2", "3 0 1", "3 0 2", "2 1 1", "2 1 2", "2 0 1", "2 0 2"],
            "9 records",
        ),
    ],
)
def test_parameter_lints(cli: Cli, pki: Pki, params: list[str], warning: str) -> None:
    options = params_options(params)
    run = generate(cli, pki.fullchain, "--host", HOST, *options)
    assert run.code == 0 and run.out
    assert any(line.startswith("warning: ") and warning in line for line in run.err.splitlines())
    strict = generate(cli, pki.fullchain, "--host", HOST, *options, "--strict")
    assert (strict.code, strict.out) == (6, "")
    assert warning in strict.err and "--strict" in strict.err


@pytest.mark.parametrize(
    ("port", "params"),
    [("25", ["3 1 1"]), ("25", ["3 1 1", "3 1 2"]), ("25", ["3 1 1", "2 1 1"]), ("443", ["1 1 1"])],
)
def test_sound_choices_pass_strict(cli: Cli, pki: Pki, port: str, params: list[str]) -> None:
    options = params_options(params)
    run = generate(cli, pki.fullchain, "--host", HOST, "--port", port, *options, "--strict")
    assert (run.code, run.err) == (0, "")
    assert len(run.out.splitlines()) == len(params)


@pytest.mark.parametrize(
    ("days", "warning"),
    [((-30, -1), "the certificate expired on"), ((2, 30), "the certificate is not valid before")],
)
def test_certificate_date_lints(
    cli: Cli, tmp_path: Path, days: tuple[int, int], warning: str
) -> None:
    now = datetime.now(UTC)
    not_before, not_after = (now + timedelta(days=d) for d in days)
    cert = dated_certificate(tmp_path / "dated.pem", not_before, not_after)
    run = generate(cli, cert, "--host", HOST)
    assert run.code == 0 and run.out
    assert f"warning: {cert}: {warning}" in run.err
    assert generate(cli, cert, "--host", HOST, "--strict").code == 6


def test_bundle_in_the_wrong_order(cli: Cli, pki: Pki, tmp_path: Path) -> None:
    bundle = tmp_path / "reversed.pem"
    bundle.write_bytes(pki.ca("int2").read_bytes() + pki.cert("p256").read_bytes())
    run = generate(cli, bundle, "--host", HOST)
    assert run.code == 0
    assert f"warning: {bundle}: the first certificate is a CA certificate" in run.err


# --- bad input: exit 3, one line naming the file, nothing on stdout ------------------------------


@dataclass(frozen=True)
class BadInput:
    source: Path
    problem: str
    options: tuple[str | Path, ...] = ()


BAD_INPUTS: dict[str, Callable[[Path, Pki], BadInput]] = {}


def bad_input(build: Callable[[Path, Pki], BadInput]) -> Callable[[Path, Pki], BadInput]:
    BAD_INPUTS[build.__name__] = build
    return build


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def encrypted_key(tmp: Path, pki: Pki) -> Path:
    key = tmp / "encrypted.key"
    openssl("pkey", "-in", pki.key("p256"), "-aes256", "-passout", f"pass:{PASSWORD}", "-out", key)
    return key


@bad_input
def empty_file(tmp: Path, pki: Pki) -> BadInput:
    return BadInput(write(tmp / "empty.pem", b" \n"), "the file is empty")


@bad_input
def text_garbage(tmp: Path, pki: Pki) -> BadInput:
    return BadInput(write(tmp / "notes.txt", b"hello\n"), "not a certificate, key or certificate")


@bad_input
def binary_garbage(tmp: Path, pki: Pki) -> BadInput:
    data = bytes(range(256)) * 4
    return BadInput(write(tmp / "random.der", data), "not a certificate, key or certificate")


@bad_input
def truncated_pem(tmp: Path, pki: Pki) -> BadInput:
    data = pki.cert("rsa2048").read_bytes()
    return BadInput(write(tmp / "cut.pem", data[: len(data) // 2]), "truncated PEM")


@bad_input
def pem_not_base64(tmp: Path, pki: Pki) -> BadInput:
    data = b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"
    return BadInput(write(tmp / "bad.pem", data), "'CERTIFICATE' block is not base64")


@bad_input
def pem_without_certificate_or_key(tmp: Path, pki: Pki) -> BadInput:
    data = b"-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n"
    return BadInput(write(tmp / "crl.pem", data), "no certificate, key or certificate request")


@bad_input
def damaged_certificate(tmp: Path, pki: Pki) -> BadInput:
    data = b"-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----\n"
    return BadInput(write(tmp / "damaged.pem", data), "the certificate is damaged")


@bad_input
def encrypted_key_without_password(tmp: Path, pki: Pki) -> BadInput:
    return BadInput(
        encrypted_key(tmp, pki), "the private key is encrypted; for generate give its password"
    )


@bad_input
def encrypted_key_with_wrong_password(tmp: Path, pki: Pki) -> BadInput:
    password = write(tmp / "password", b"wrong\n")
    options = ("--password-file", password)
    return BadInput(encrypted_key(tmp, pki), "wrong password", options)


@bad_input
def dsa_key(tmp: Path, pki: Pki) -> BadInput:
    parameters = openssl(
        "genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt", "dsa_paramgen_bits:1024"
    )
    key = write(tmp / "dsa.pem", openssl("genpkey", "-paramfile", "/dev/stdin", stdin=parameters))
    return BadInput(key, "unsupported key type DSA")


@bad_input
def dsa_key_traditional(tmp: Path, pki: Pki) -> BadInput:
    traditional = openssl("pkey", "-in", dsa_key(tmp, pki).source, "-traditional")
    assert traditional.startswith(b"-----BEGIN DSA PRIVATE KEY-----")
    return BadInput(write(tmp / "dsa-traditional.pem", traditional), "unsupported key type DSA")


@bad_input
def ec_secp256k1_key(tmp: Path, pki: Pki) -> BadInput:
    key = openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1")
    return BadInput(write(tmp / "k1.pem", key), "unsupported elliptic curve secp256k1")


@bad_input
def x25519_key(tmp: Path, pki: Pki) -> BadInput:
    key = openssl("genpkey", "-algorithm", "X25519")
    return BadInput(write(tmp / "x25519.pem", key), "unsupported key type X25519")


@bad_input
def file_over_1_mib(tmp: Path, pki: Pki) -> BadInput:
    data = pki.fullchain.read_bytes() * (1024 * 1024 // len(pki.fullchain.read_bytes()) + 1)
    return BadInput(write(tmp / "huge.pem", data), "file is larger than 1 MiB")


@bad_input
def directory_without_certificates(tmp: Path, pki: Pki) -> BadInput:
    directory = tmp / "live"
    directory.mkdir()
    write(directory / "privkey.pem", pki.key("p256").read_bytes())
    return BadInput(directory, "directory holds no fullchain.pem or cert.pem")


@bad_input
def missing_file(tmp: Path, pki: Pki) -> BadInput:
    return BadInput(tmp / "nothing.pem", "no such file")


@bad_input
def path_under_a_file(tmp: Path, pki: Pki) -> BadInput:
    return BadInput(write(tmp / "file", b"x") / "cert.pem", "cannot read (Not a directory)")


@bad_input
def dangling_symlink(tmp: Path, pki: Pki) -> BadInput:
    link = tmp / "cert.pem"
    link.symlink_to(tmp / "renewed-away.pem")
    return BadInput(link, "no such file")


@bad_input
def selector_0_from_a_bare_key(tmp: Path, pki: Pki) -> BadInput:
    problem = "selector 0 (full certificate) needs a certificate, and this is a private key"
    return BadInput(pki.key("ed25519"), problem, ("--params", "3 0 1"))


@bad_input
def usage_2_from_a_lone_leaf(tmp: Path, pki: Pki) -> BadInput:
    problem = "a lone certificate has none; give the full chain"
    return BadInput(pki.cert("ed25519"), problem, ("--params", "2 1 1"))


@bad_input
def certificate_with_another_key(tmp: Path, pki: Pki) -> BadInput:
    data = pki.cert("p256").read_bytes() + pki.key("p384").read_bytes()
    return BadInput(write(tmp / "mixed.pem", data), "does not match the first certificate")


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input(cli: Cli, pki: Pki, tmp_path: Path, case: str) -> None:
    bad = BAD_INPUTS[case](tmp_path, pki)
    run = generate(cli, pki.fullchain, bad.source, "--host", HOST, *bad.options)
    assert (run.code, run.out) == (3, "")
    assert run.err.startswith(f"error: {bad.source}: ")
    assert bad.problem in run.err
    assert run.err.count("\n") == 1, "one line, no traceback"


def test_missing_password_file(cli: Cli, pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "password"
    run = generate(cli, pki.key("p256"), "--host", HOST, "--password-file", missing)
    assert (run.code, run.out, run.err) == (
        3,
        "",
        f"error: {missing}: no such file; check the path\n",
    )


def test_debug_shows_the_traceback(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "nothing.pem"
    plain = generate(cli, missing, "--host", HOST)
    debug = cli("--debug", "generate", missing, "--host", HOST)
    assert plain.code == debug.code == 3
    assert "Traceback" not in plain.err
    assert "Traceback (most recent call last)" in debug.err and "InputError" in debug.err
    assert debug.err.endswith(plain.err)


# --- usage errors: exit 2 ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        (["--host", "mx_1.example.com"], "may hold only letters, digits and inner hyphens"),
        (["--host", "a" * 64 + ".example"], "is over 63 octets"),
        (["--host", ""], "host name is empty"),
        (["--host", HOST, "--params", "3 1"], "must be three fields"),
        (["--host", HOST, "--params", "dane-ee spki sha256"], "unknown matching type 'sha256'"),
        (["--host", HOST, "--params", "4 1 1"], "usage 4 is not defined"),
        (["--host", HOST, "--format", "bind"], "--format bind: use one of zone, json"),
        (["--host", HOST, "--params", "2 1 1", "--ta", "4"], "has CA positions 1 to 3"),
        (["--host", HOST, "--port", "0"], "port 0 is out of range"),
        (["--host", HOST, "--proto", "icmp"], "protocol 'icmp' is not one of"),
        (["--host", HOST, "--zone", "bad_zone.example"], "may hold only letters"),
        (["--host", HOST, "--ttl", "-1"], "--ttl"),
        (["--host", HOST, "--port", "smtp"], "--port"),
        (["--host", HOST, "--password", PASSWORD], "--password"),  # never on the command line
        ([], "--host"),
    ],
)
def test_usage_errors(cli: Cli, pki: Pki, args: list[str], problem: str) -> None:
    run = generate(cli, pki.fullchain, *args)
    assert (run.code, run.out) == (2, "")
    assert problem in run.err
    assert run.err.startswith("error: ") and run.err.count("\n") == 1  # one line, no box


def test_password_in_the_environment(
    cli: Cli, pki: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    run = generate(cli, encrypted_key(tmp_path, pki), pki.key("ed25519"), "--host", HOST)
    assert run.code == 0, run.err
    assert len(run.out.splitlines()) == 2


# --- the installed console script ---------------------------------------------------------------

SCRIPT = Path(sysconfig.get_path("scripts")) / "tlsagen"


def test_installed_script_prints_the_records(cli: Cli, pki: Pki) -> None:
    args = [
        "generate",
        str(pki.fullchain),
        "--host",
        HOST,
        "--params",
        "2 1 1",
        "--params",
        "3 1 1",
    ]
    done = subprocess.run([SCRIPT, *args], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == cli(*args).out


def test_installed_script_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    garbage = write(tmp_path / "garbage.pem", b"-----BEGIN CERTIFICATE-----\nMIIB")
    done = subprocess.run(
        [SCRIPT, "generate", garbage, "--host", HOST], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (3, "")
    problem = "truncated PEM: 'CERTIFICATE' block has no END line; re-copy the file"
    assert done.stderr == f"error: {garbage}: {problem}\n"
