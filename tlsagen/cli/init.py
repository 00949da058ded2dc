"""`tlsagen init`: a commented tlsagen.toml for one service, the certbot deploy hook that
publishes its records, and a systemd service and timer for `rollover advance`.

Every file goes to one directory (default /etc/tlsagen, where tlsagen looks for its
configuration). No file is ever overwritten, and the files are written all or none.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from pathlib import Path
from typing import Annotated

import typer

from tlsagen.errors import InputError, UsageError

DEFAULT_DIR = Path("/etc/tlsagen")
CONFIG, HOOK = "tlsagen.toml", "certbot-deploy-hook"
SERVICE, TIMER = "tlsagen-rollover.service", "tlsagen-rollover.timer"

PROVIDERS = {
    "rfc2136": """\
type = "rfc2136"
# The primary server that takes TSIG-signed dynamic updates for the zone: IP or IP:PORT.
# Remove the line to use the address of the zone's SOA MNAME.
server = "PRIMARY-IP"
# The TSIG key, as a BIND key file: `tsig-keygen tlsagen > {key_file}`, mode 0600. The
# server must let it update TLSA records (BIND: update-policy {{ grant tlsagen wildcard
# *.example.com TLSA; }};). Or: key-name + secret = "env:NAME" or "file:PATH".
key-file = "{key_file}"
# Every authoritative server must serve a change before it counts as published. Default:
# port 53 of every address of every NS of the zone; list them for hidden or other ports:
# nameservers = ["192.0.2.53", "198.51.100.53"]
""",
    "route53": """\
type = "route53"
# Credentials come from boto3's chain: AWS_* variables, ~/.aws/credentials, an instance role.
# It needs route53:ListHostedZonesByName, ListResourceRecordSets, ChangeResourceRecordSets,
# GetChange and GetDNSSEC.
# profile = "dns"
# zone-id = "Z0123456789ABCDEFGHIJ"      # default: the hosted zone found by name
""",
    "zonefile": """\
type = "zonefile"
# The zone file tlsagen edits (TLSA lines and the SOA serial only), or a directory of them;
# your pipeline signs and deploys it.
path = "ZONE-FILE"
serial = "increment"
""",
}
TO_FILL = {
    "rfc2136": "set 'server' and create the TSIG key file 'key-file'",
    "route53": "make AWS credentials available to root (see the comments)",
    "zonefile": "set 'path' to the zone file",
}
# --deploy: where tlsagen installs each certificate once its records are served everywhere,
# the reload command, and how the server is pointed at the files.
DEPLOYS = {
    "postfix": (
        "/etc/postfix/tlsagen",
        ["systemctl", "reload", "postfix"],
        "postconf -e 'smtpd_tls_chain_files = {key}, {cert}'",
    ),
    "dovecot": (
        "/etc/dovecot/tlsagen",
        ["systemctl", "reload", "dovecot"],
        "ssl_cert = <{cert} and ssl_key = <{key} in /etc/dovecot/conf.d/10-ssl.conf",
    ),
    "exim4": (
        "/etc/exim4/tlsagen",
        ["systemctl", "reload", "exim4"],
        "tls_certificate = {cert} and tls_privatekey = {key} in the Exim configuration",
    ),
}

CONFIG_TEXT = """\
# tlsagen.toml, written by `tlsagen init`. Every key: docs/configuration.md.

[defaults]
ttl = 3600                    # of the TLSA records
params = ["3 1 1"]            # DANE-EE, SubjectPublicKeyInfo, SHA-256: survives renewals
provider = "dns"
# A validating resolver for zone and NS lookups, and the DNSSEC gate of a key change:
# resolver = "127.0.0.1"

[providers.dns]
{provider}
[[services]]
name = {name}
hosts = {hosts}
ports = {ports}
# The certificate: a certbot lineage directory (it need not exist before the first issuance).
cert = {lineage}
{deploy}"""

NO_DEPLOY = """\
# The server reads the certificate from the lineage itself, so a new key goes live at the
# renewal: give certbot --reuse-key (certbot reconfigure --cert-name NAME --reuse-key), or let
# tlsagen deploy (tlsagen init --deploy postfix) so each new key waits until its record is served.
"""
DEPLOY = """\
# tlsagen installs each renewed certificate here once its records have been served by every
# authoritative server for 2 x TTL, then runs `reload`. Point the server at these files:
#   {how}
deploy = {{ cert = {cert}, key = {key}, reload = {reload} }}
"""

HOOK_TEXT = """\
#!/bin/sh
# certbot deploy hook, written by `tlsagen init`: publishes the TLSA records of the certificate
# certbot just issued{staged}. certbot runs it with:
#   certbot certonly --cert-name {name} -d {host} --deploy-hook {hook}
#   certbot reconfigure --cert-name {name} --deploy-hook {hook}   (an existing certificate)
exec {tlsagen} publish --config {config}
"""

SERVICE_TEXT = """\
# {unit}, written by `tlsagen init`: the steps of a key rollover whose gates have opened
# (deploy a staged certificate and reload, retire the records of a replaced key).
# Exit 0 when every due step is done and the rest wait on a clock; 6 when a step is refused.
[Unit]
Description=tlsagen rollover advance: due TLSA key rollover steps
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={tlsagen} rollover advance --config {config}
"""

TIMER_TEXT = """\
# {unit}, written by `tlsagen init`: runs {service} every 5 minutes.
[Unit]
Description=Run tlsagen rollover advance every 5 minutes

[Timer]
OnCalendar=*:0/5
RandomizedDelaySec=30
Persistent=true

[Install]
WantedBy=timers.target
"""


def _toml(value: object) -> str:
    """A TOML string or array of strings and numbers (JSON's syntax for them is TOML's)."""
    return json.dumps(value, ensure_ascii=False)


def _unit_word(text: str) -> str:
    """One word of a systemd command line: `%` doubled, quoted when it holds a space."""
    text = text.replace("%", "%%")
    if any(c.isspace() or c in "\"'\\" for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def _tlsagen() -> str:
    found = shutil.which("tlsagen")
    return str(Path(found).absolute()) if found else "/usr/local/bin/tlsagen"


def render(
    provider: str,
    hosts: list[str],
    ports: list[int],
    lineage: Path,
    deploy: str,
    name: str,
    directory: Path,
    tlsagen: str,
) -> dict[str, str]:
    """File name -> content, for every file `init` writes."""
    config = directory / CONFIG
    if deploy == "none":
        deploy_text = NO_DEPLOY
    else:
        where, reload, how = DEPLOYS[deploy]
        cert, key = f"{where}/fullchain.pem", f"{where}/privkey.pem"
        deploy_text = DEPLOY.format(
            how=how.format(cert=cert, key=key),
            cert=_toml(cert),
            key=_toml(key),
            reload=_toml(reload),
        )
    staged = (
        " and stages it, to be installed once its records are served" if deploy != "none" else ""
    )
    return {
        CONFIG: CONFIG_TEXT.format(
            provider=PROVIDERS[provider].format(key_file=directory / "tsig.key"),
            name=_toml(name),
            hosts=_toml(hosts),
            ports=_toml(ports),
            lineage=_toml(str(lineage)),
            deploy=deploy_text,
        ),
        HOOK: HOOK_TEXT.format(
            staged=staged,
            name=name,
            host=hosts[0],
            hook=shlex.quote(str(directory / HOOK)),
            tlsagen=shlex.quote(tlsagen),
            config=shlex.quote(str(config)),
        ),
        SERVICE: SERVICE_TEXT.format(
            unit=SERVICE, tlsagen=_unit_word(tlsagen), config=_unit_word(str(config))
        ),
        TIMER: TIMER_TEXT.format(unit=TIMER, service=SERVICE),
    }


def write_all(directory: Path, files: dict[str, str]) -> None:
    """Write every file or none, never replacing one: each is linked into place from a
    temporary file (a link fails when the name exists), and those placed are removed when a
    later one fails."""
    taken = [directory / name for name in files if (directory / name).exists()]
    if taken:
        raise InputError(
            f"{taken[0]} exists; init never overwrites a file: move it away, or give "
            "--output-dir (nothing written)"
        )
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"cannot create {directory} ({exc.strerror}); run as root or give --output-dir"
        ) from None
    placed: list[Path] = []
    try:
        for name, text in files.items():
            path = directory / name
            temporary = directory / f".{name}.init"
            mode = 0o755 if name == HOOK else 0o644
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(text)
                os.link(temporary, path)
            finally:
                temporary.unlink(missing_ok=True)
            placed.append(path)
    except OSError as exc:
        for path in placed:
            path.unlink(missing_ok=True)
        raise InputError(
            f"cannot write {exc.filename or directory} ({exc.strerror}); nothing written"
        ) from None


def init(
    provider: Annotated[str, typer.Option(help="The DNS provider: rfc2136, route53 or zonefile.")],
    host: Annotated[list[str], typer.Option(help="A host the service runs on; repeatable.")],
    lineage: Annotated[
        Path,
        typer.Option(help="The certificate: a certbot lineage (/etc/letsencrypt/live/NAME)."),
    ],
    deploy: Annotated[
        str,
        typer.Option(
            help="Let tlsagen install each certificate once its records are served: postfix, "
            "dovecot, exim4, or none (the server reads the lineage)."
        ),
    ] = "none",
    port: Annotated[
        list[int] | None,
        typer.Option(min=1, max=65535, help="A port of the service; repeatable. Default: 25."),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The service name. Default: the lineage's name.")
    ] = None,
    output_dir: Annotated[
        Path, typer.Option(help="Where to write the files; created if missing.")
    ] = DEFAULT_DIR,
) -> None:
    """Write tlsagen.toml, a certbot deploy hook and a systemd timer for one service.

    Nothing is overwritten: if any of the four files exists, nothing is written (exit 3).
    """
    from tlsagen.core.records import Owner

    if provider not in PROVIDERS:
        raise UsageError(f"--provider {provider}: use one of {', '.join(PROVIDERS)}")
    if deploy != "none" and deploy not in DEPLOYS:
        raise UsageError(f"--deploy {deploy}: use one of {', '.join(DEPLOYS)} or none")
    ports = port or [25]
    for each in host:
        Owner.for_service(each, ports[0])  # a bad host name is an error now, not at publish
    directory = output_dir.absolute()
    lineage = lineage.absolute()
    for option, text in (
        ("--name", name or ""),
        ("--lineage", lineage),
        ("--output-dir", directory),
    ):
        if not str(text).isprintable():  # it goes into a shell script and a unit file
            raise UsageError(f"{option}: control characters are not allowed")
    files = render(
        provider, host, ports, lineage, deploy, name or lineage.name, directory, _tlsagen()
    )
    write_all(directory, files)
    config, hook = directory / CONFIG, directory / HOOK
    units = f"{directory / SERVICE} {directory / TIMER}"
    print(f"wrote {', '.join(str(directory / n) for n in files)}")
    print("next:")
    print(f"  1. edit {config}: {TO_FILL[provider]}")
    print(f"  2. tlsagen plan --config {config}")
    print(
        f"  3. certbot certonly --cert-name {lineage.name} -d {host[0]} --deploy-hook {hook}\n"
        f"     (a certificate certbot has already: certbot reconfigure --cert-name "
        f"{lineage.name} --deploy-hook {hook})"
    )
    print(
        f"  4. cp {units} /etc/systemd/system/ && systemctl daemon-reload && "
        f"systemctl enable --now {TIMER}"
    )
