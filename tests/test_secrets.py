"""Secrets never reach argv, logs, output, tracebacks (--debug included), state files or error
messages.

Recognisable secrets are planted (TSIG secrets in key files, `secret = "env:..."` and certbot INI
files, an AWS secret key in the environment, a private key, key passwords) and the CLI is run
in-process with --debug through successes and failures: the real BIND of the testbed with the right
and a wrong secret, configuration errors, servers that do not answer, a wrong key password. Then
every output stream, every log record (all loggers, at DEBUG) and every file the runs wrote under
tmp_path is searched for each secret, raw and in base64 and hex.
"""

from __future__ import annotations

import ast
import base64
import logging
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.helpers import needs_provider
from tests.testbed.model import DnsLab
from tests.testbed.ports import free_port
from tlsagen import config_values
from tlsagen.cli.app import main
from tlsagen.cli.generate import PASSWORD_ENV
from tlsagen.config import Deploy
from tlsagen.rollover import deploy

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs/examples"
CHAIN = EXAMPLES / "mx.example.com/fullchain.pem"
ENCRYPTED_KEY = EXAMPLES / "next-encrypted.key"
CANARY_TSIG = b"tsig-canary-3f9a1c7e5b2d4086"  # a wrong secret for the testbed's key
CANARY_AWS = "aws-canary-secret-9d8c7b6a5f4e3d2c1b0a"
CANARY_PASSWORD = "password-canary-71c4e2a9b8d3"


class Secrets:
    """The planted secrets, in every form they could leak in."""

    def __init__(self) -> None:
        self.forms: dict[str, str] = {}  # form -> what it is
        self.inputs: set[Path] = set()  # the files the test wrote them to

    def write(self, path: Path, text: str | bytes) -> Path:
        """An input file, readable by its owner only (as secrets and keys must be)."""
        path.write_bytes(text.encode() if isinstance(text, str) else text)
        path.chmod(0o600)
        self.inputs.add(path)
        return path

    def plant(self, what: str, value: bytes) -> None:
        forms = {
            value.decode("latin-1"): "raw",
            value.hex(): "hex",
            value.hex().upper(): "HEX",
            base64.b64encode(value).decode(): "base64",
            base64.b64encode(value).decode().rstrip("="): "base64",
        }
        for form, kind in forms.items():
            assert len(form) >= 16, f"{what} is too short to search for"
            self.forms[form] = f"{what} ({kind})"

    def found_in(self, text: str) -> list[str]:
        return [what for form, what in self.forms.items() if form in text]


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


class Runs:
    """Runs `tlsagen --debug ...` in-process and keeps what each printed and logged."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
    ) -> None:
        self.capsys, self.caplog = capsys, caplog
        self.seen: list[tuple[str, str]] = []  # (where, text)

    def __call__(self, *args: str | Path) -> int:
        argv = ["--debug", *map(str, args)]
        code = main(argv)
        out, err = self.capsys.readouterr()
        name = " ".join(argv)
        self.seen += [(f"{name}: argv", " ".join(argv))]
        self.seen += [(f"{name}: stdout", out), (f"{name}: stderr", err)]
        for record in self.caplog.records:
            logged = f"{record.getMessage()} {record.exc_text or ''} {record.stack_info or ''}"
            self.seen.append((f"{name}: log {record.name}", logged))
        self.caplog.clear()
        return code


@pytest.fixture
def runs(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Runs]:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    monkeypatch.setattr(logging.getLogger("tlsagen"), "propagate", True)
    with caplog.at_level(logging.DEBUG):  # every logger: dnspython, botocore, urllib3, ...
        yield Runs(capsys, caplog)


def assert_no_leak(secrets: Secrets, runs: Runs, tmp_path: Path) -> None:
    leaks = [(where, what) for where, text in runs.seen for what in secrets.found_in(text)]
    for path in sorted(tmp_path.rglob("*")):
        if path.is_file() and path not in secrets.inputs:
            text = path.read_bytes().decode("latin-1")
            leaks += [(str(path), what) for what in secrets.found_in(text)]
    assert not leaks, leaks


# --- RFC 2136 against the real BIND --------------------------------------------------------------


def key_file_text(name: str, secret: str) -> str:
    return f'key "{name}" {{\n\talgorithm hmac-sha256;\n\tsecret "{secret}";\n}};\n'


def rfc2136_config(
    secrets: Secrets, tmp_path: Path, zone_name: str, host: str, provider: str
) -> Path:
    return secrets.write(
        tmp_path / "tlsagen.toml",
        f"[defaults]\nttl = 60\nstate = '{tmp_path / 'state' / 'state.json'}'\n\n"
        f"[providers.dns]\ntype = 'rfc2136'\n{provider}timeout = 2\n\n"
        f"[[services]]\nname = 'mail'\nhosts = ['{host}.{zone_name}']\ncert = '{CHAIN}'\n",
    )


@pytest.mark.parametrize("secret_is", ["right", "wrong"])
@pytest.mark.parametrize("given_by", ["key-file", "env", "file", "credentials"])
def test_tsig_secret_never_shown(
    dns_lab: DnsLab,
    tmp_path: Path,
    fresh_host: str,
    runs: Runs,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    given_by: str,
    secret_is: str,
) -> None:
    zone = dns_lab.bind
    real = base64.b64decode(zone.key.secret)
    secret = real if secret_is == "right" else CANARY_TSIG
    secrets.plant("the testbed's TSIG secret", real)
    secrets.plant("a wrong TSIG secret", CANARY_TSIG)
    text = base64.b64encode(secret).decode()
    server = f"server = '{zone.primary.host}'\nport = {zone.primary.port}\n"
    nameservers = ", ".join(f"'{s.address()}'" for s in zone.servers)
    server += f"nameservers = [{nameservers}]\n"
    if given_by == "key-file":
        key = secrets.write(tmp_path / "tsig.key", key_file_text(zone.key.name, text))
        provider = f"{server}key-file = '{key}'\n"
    elif given_by == "env":
        monkeypatch.setenv("TLSAGEN_TEST_TSIG", text)
        provider = f"{server}key-name = '{zone.key.name}'\nsecret = 'env:TLSAGEN_TEST_TSIG'\n"
    elif given_by == "file":
        secrets.write(tmp_path / "tsig.secret", text + "\n")
        provider = f"{server}key-name = '{zone.key.name}'\nsecret = 'file:tsig.secret'\n"
    else:
        ini = f"dns_rfc2136_name = {zone.key.name}\ndns_rfc2136_secret = {text}\n"
        secrets.write(tmp_path / "rfc2136.ini", ini)
        provider = f"{server}credentials = 'rfc2136.ini'\n"
    config = rfc2136_config(secrets, tmp_path, zone.name, fresh_host, provider)
    expected = 0 if secret_is == "right" else 4
    assert runs("plan", "--config", config) == expected  # reads are signed too
    assert runs("publish", "--config", config) == expected
    assert_no_leak(secrets, runs, tmp_path)


@pytest.mark.parametrize(
    "provider",
    [
        "server = '127.0.0.1'\nport = {port}\nkey-file = 'tsig.key'\n",  # nothing listens
        "key-file = 'tsig.key'\nsecret = 'env:TLSAGEN_TEST_TSIG'\n",  # both: refused
        "key-name = 'k'\nsecret = '{secret}'\n",  # the secret itself: refused
        "credentials = 'typo.ini'\n",  # a misspelt key next to the secret
        "key-file = 'misplaced.key'\n",  # the secret without its field name
    ],
    ids=["unreachable", "clash", "inline", "ini-typo", "key-file-syntax"],
)
def test_tsig_secret_never_shown_on_config_and_network_errors(
    tmp_path: Path,
    runs: Runs,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    provider: str,
) -> None:
    secrets.plant("a TSIG secret", CANARY_TSIG)
    text = base64.b64encode(CANARY_TSIG).decode()
    monkeypatch.setenv("TLSAGEN_TEST_TSIG", text)
    secrets.write(tmp_path / "tsig.key", key_file_text("k", text))
    secrets.write(tmp_path / "misplaced.key", f'key "k" {{ algorithm hmac-sha256; "{text}"; }};')
    secrets.write(tmp_path / "typo.ini", f"dns_rfc2136_name = k\ndns_rfc2136_secrte = {text}\n")
    table = provider.format(port=free_port(), secret=text)
    config = rfc2136_config(secrets, tmp_path, "example.com", "mx1", table)
    assert runs("plan", "--config", config) in (3, 4)
    assert_no_leak(secrets, runs, tmp_path)


# --- Route 53 ------------------------------------------------------------------------------------


def route53_config(secrets: Secrets, tmp_path: Path, endpoint: str, extra: str = "") -> Path:
    return secrets.write(
        tmp_path / "tlsagen.toml",
        f"[defaults]\nstate = '{tmp_path / 'state' / 'state.json'}'\n"
        f"[providers.aws]\ntype = 'route53'\nendpoint-url = '{endpoint}'\ntimeout = 5\n{extra}"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.com']\ncert = '{CHAIN}'\n",
    )


def test_aws_secret_key_never_shown(
    moto: str, tmp_path: Path, runs: Runs, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    boto3.client("route53", endpoint_url=moto).create_hosted_zone(
        Name="example.com.", CallerReference="secrets"
    )
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_AWS)
    secrets.plant("the AWS secret key", CANARY_AWS.encode())
    assert runs("plan", "--config", route53_config(secrets, tmp_path, moto)) == 0
    assert runs("publish", "--config", route53_config(secrets, tmp_path, moto)) == 0
    elsewhere = (
        route53_config(secrets, tmp_path, moto)
        .read_text()
        .replace("mx1.example.com", "mx1.example.org")
    )
    assert runs("plan", "--config", secrets.write(tmp_path / "tlsagen.toml", elsewhere)) == 4
    inline = f"aws_secret_access_key = '{CANARY_AWS}'\n"
    assert runs("plan", "--config", route53_config(secrets, tmp_path, moto, inline)) == 3
    assert_no_leak(secrets, runs, tmp_path)


# --- private keys and their passwords ------------------------------------------------------------


def private_key(tmp_path: Path, secrets: Secrets) -> Path:
    """A new Ed25519 key (its private half planted) in a PEM file."""
    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    secrets.plant("the private key", raw)
    body = pem.splitlines()[1]  # the one base64 line: the PKCS#8 structure with the key in it
    secrets.plant("the private key's PEM body", base64.b64decode(body))
    secrets.forms[body.decode()] = "the private key's PEM body line"
    return secrets.write(tmp_path / "next.key", pem)


@needs_provider("zonefile")
def test_private_key_never_shown(tmp_path: Path, runs: Runs, secrets: Secrets) -> None:
    key = private_key(tmp_path, secrets)
    assert runs("generate", key, "--host", "mx1.example.com", "--params", "3 1 0") == 0
    for fmt in ("json", "nsupdate", "generic", "octodns", "dnscontrol"):
        assert runs("generate", key, "--host", "mx1.example.com", "--format", fmt) == 0
    damaged = secrets.write(tmp_path / "damaged.key", key.read_bytes()[:-40])
    assert runs("generate", damaged, "--host", "mx1.example.com") == 3
    two = secrets.write(tmp_path / "two.pem", CHAIN.read_bytes() + key.read_bytes())
    assert runs("generate", two, "--host", "mx1.example.com") == 3  # not the chain's key
    config = secrets.write(
        tmp_path / "tlsagen.toml",
        f"[defaults]\nstate = '{tmp_path / 'state' / 'state.json'}'\n"
        f"[providers.zones]\ntype = 'zonefile'\npath = 'example.com.zone'\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.com']\ncert = '{CHAIN}'\n"
        f"next-key = '{key}'\n",
    )
    (tmp_path / "example.com.zone").write_bytes((EXAMPLES / "gitops/example.com.zone").read_bytes())
    assert runs("publish", "--config", config) == 0
    assert runs("plan", "--config", config, "--json") == 0
    assert_no_leak(secrets, runs, tmp_path)


@pytest.mark.parametrize("given_by", ["file", "env"])
@pytest.mark.parametrize("password_is", ["right", "wrong"])
def test_key_password_never_shown(
    tmp_path: Path,
    runs: Runs,
    secrets: Secrets,
    monkeypatch: pytest.MonkeyPatch,
    given_by: str,
    password_is: str,
) -> None:
    right = (EXAMPLES / "next-encrypted.pass").read_text().strip()
    password = right if password_is == "right" else CANARY_PASSWORD
    secrets.plant("the key password", password.encode())
    secrets.plant("a wrong key password", CANARY_PASSWORD.encode())
    options: list[str | Path] = []
    if given_by == "file":
        options = ["--password-file", secrets.write(tmp_path / "pass.txt", password + "\n")]
    else:
        monkeypatch.setenv(PASSWORD_ENV, password)
    code = runs("generate", ENCRYPTED_KEY, "--host", "mx1.example.com", *options)
    assert code == (0 if password_is == "right" else 3)
    assert_no_leak(secrets, runs, tmp_path)


# --- what tlsagen runs ---------------------------------------------------------------------------

SOURCES = sorted([*ROOT.joinpath("tlsagen").rglob("*.py"), *ROOT.glob("providers/*/src/**/*.py")])
RUNNERS = {"run", "Popen", "call", "check_call", "check_output", "system", "popen"}
RUNNERS |= {f"exec{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")}
RUNNERS |= {f"spawn{s}" for s in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")}


def process_calls() -> dict[str, list[int]]:
    """Where the code starts processes: file -> line of each subprocess/os call that does."""
    found: dict[str, list[int]] = {}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            owner = node.func.value
            if (
                isinstance(owner, ast.Name)
                and owner.id in ("subprocess", "os")
                and node.func.attr in RUNNERS
            ):
                found.setdefault(str(path.relative_to(ROOT)), []).append(node.lineno)
    return found


def test_no_shell_anywhere() -> None:
    """No user-controlled string can reach a shell: no shell=True, os.system or os.popen."""
    offenders = []
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "shell":
                offenders.append(f"{path}:{node.value.lineno}: shell=")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("system", "popen")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
            ):
                offenders.append(f"{path}:{node.lineno}: os.{node.attr}")
    assert offenders == []


def test_the_processes_tlsagen_starts_are_the_reviewed_ones() -> None:
    """Each place that starts a process has been checked for secrets in its argv: the deploy
    reload command (the configured argv, nothing added) and the zone-file check command (the
    configured argv with {zone} and {file} filled in). A new one must be reviewed, then listed."""
    assert {path: len(lines) for path, lines in process_calls().items()} == {
        "tlsagen/rollover/deploy.py": 1,
        "providers/zonefile/src/tlsagen_zonefile/files.py": 1,
    }


@needs_provider("zonefile")
def test_the_zone_check_command_gets_no_secret(
    tmp_path: Path, runs: Runs, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run for real with every secret planted: neither the argv it received nor its environment
    holds any of them (the rest of the environment, PATH and all, is passed on)."""
    key = private_key(tmp_path, secrets)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_AWS)
    monkeypatch.setenv(PASSWORD_ENV, CANARY_PASSWORD)
    secrets.plant("the AWS secret key", CANARY_AWS.encode())
    secrets.plant("the key password", CANARY_PASSWORD.encode())
    argv_file = tmp_path / "argv.txt"
    recorder = secrets.write(
        tmp_path / "record-argv",
        f"#!{sys.executable}\nimport os, sys\n"
        f"open({str(argv_file)!r}, 'a').write(repr(sys.argv) + repr(dict(os.environ)))\n",
    )
    recorder.chmod(stat.S_IRWXU)
    (tmp_path / "example.com.zone").write_bytes((EXAMPLES / "gitops/example.com.zone").read_bytes())
    config = secrets.write(
        tmp_path / "tlsagen.toml",
        f"[defaults]\nstate = '{tmp_path / 'state' / 'state.json'}'\n"
        f"[providers.zones]\ntype = 'zonefile'\npath = 'example.com.zone'\n"
        f"check-command = ['{recorder}', '{{zone}}', '{{file}}']\n"
        f"[[services]]\nname = 'mail'\nhosts = ['mx1.example.com']\ncert = '{CHAIN}'\n"
        f"next-key = '{key}'\n",
    )
    assert runs("publish", "--config", config) == 0
    argv = argv_file.read_text()
    assert "example.com" in argv and "'PATH'" in argv and secrets.found_in(argv) == []
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == CANARY_AWS  # planted for the whole run
    assert_no_leak(secrets, runs, tmp_path)


def test_the_reload_command_gets_no_secret_in_its_environment(
    tmp_path: Path, secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """deploy.reload runs a real command with every secret planted in tlsagen's environment
    (an `env:` TSIG secret among them): the environment it receives holds none of them."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CANARY_AWS)
    monkeypatch.setenv(PASSWORD_ENV, CANARY_PASSWORD)
    monkeypatch.setenv("TSIG_SECRET_OF_TEST", CANARY_TSIG.decode())
    config_values.read_secret("env:TSIG_SECRET_OF_TEST", "test", tmp_path)
    secrets.plant("the AWS secret key", CANARY_AWS.encode())
    secrets.plant("the key password", CANARY_PASSWORD.encode())
    secrets.plant("a TSIG secret named by env:", CANARY_TSIG)
    dump = tmp_path / "environment.txt"
    recorder = secrets.write(
        tmp_path / "record-environment",
        f"#!{sys.executable}\nimport os\nopen({str(dump)!r}, 'w').write(repr(dict(os.environ)))\n",
    )
    recorder.chmod(stat.S_IRWXU)
    deploy.reload(Deploy(tmp_path / "cert.pem", tmp_path / "key.pem", (str(recorder),), 10))
    received = dump.read_text()
    assert "'PATH'" in received and secrets.found_in(received) == []


def test_commands_get_the_environment_without_its_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TSIG_SECRET_OF_TEST", "named by env:")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "a session token")
    monkeypatch.setenv("LANG", "C.UTF-8")
    assert config_values.read_secret("env:TSIG_SECRET_OF_TEST", "test", Path()) == "named by env:"
    passed = config_values.child_environment()
    assert "TSIG_SECRET_OF_TEST" not in passed and "AWS_SESSION_TOKEN" not in passed
    assert passed["LANG"] == "C.UTF-8"
