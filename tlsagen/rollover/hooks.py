"""ACME clients: which renewal a hook run is about, their next keys, and checks on their settings.

- certbot deploy hook: RENEWED_LINEAGE=/etc/letsencrypt/live/NAME, RENEWED_DOMAINS="a b"; the
  lineage's settings are in CONFIG_DIR/renewal/NAME.conf (CONFIG_DIR holds live/).
- dehydrated hook script: `deploy_cert DOMAIN KEYFILE CERTFILE FULLCHAINFILE CHAINFILE TIMESTAMP`;
  every other event is ignored. With PRIVATE_KEY_ROLLOVER=yes it keeps privkey.roll.pem.
- acme.sh `--reloadcmd`: runs with CERT_PATH, CERT_KEY_PATH, CA_CERT_PATH, CERT_FULLCHAIN_PATH
  and Le_Domain; with --always-force-new-domain-key it keeps the next key as KEY.next.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tlsagen.config import Service
from tlsagen.core.material import SUPPORTED_CURVES
from tlsagen.errors import UsageError

CERTBOT, DEHYDRATED, ACMESH = "certbot", "dehydrated", "acme.sh"
ACMESH_VARIABLES = ("CERT_PATH", "CERT_KEY_PATH", "CA_CERT_PATH", "CERT_FULLCHAIN_PATH")
DEHYDRATED_ROLL_KEY = "privkey.roll.pem"
DEPLOY_CERT_ARGS = ("DOMAIN", "KEYFILE", "CERTFILE", "FULLCHAINFILE", "CHAINFILE", "TIMESTAMP")

# certbot's defaults for a renewal configuration without these keys (certbot >= 2.0)
CERTBOT_DEFAULTS = {"key_type": "ecdsa", "rsa_key_size": "2048", "elliptic_curve": "secp256r1"}


@dataclass(frozen=True)
class Renewal:
    """A certificate an ACME client has just renewed."""

    client: str  # CERTBOT, DEHYDRATED or ACMESH
    directories: tuple[Path, ...]  # where its files are (a certbot lineage, certs/DOMAIN)
    files: tuple[Path, ...]
    domains: tuple[str, ...]

    @property
    def name(self) -> str:
        return " ".join(self.domains) or str((*self.directories, *self.files)[0])

    def concerns(self, service: Service) -> bool:
        """Whether the service reads its current key from this renewal's files.

        Paths are compared in every spelling their links give them, so that a symbolic link to
        the lineage (or to a directory above it) names the same lineage.
        """
        files = {s for p in self.files for s in _spellings(p)}
        directories = {s for p in self.directories for s in _spellings(p)}
        for source in (*service.current, *([service.private_key] if service.private_key else [])):
            for path in _spellings(Path(source)):
                if path in files or path in directories or path.parent in directories:
                    return True
        return False


_MAX_LINKS = 40  # as the kernel's ELOOP limit


def _spellings(path: Path) -> set[Path]:
    """`path` as given (absolute), with the directories above it resolved, and so again for each
    link it leads to in turn. The last component is followed one link at a time, never resolved
    at once: certbot's live/NAME/fullchain.pem is a link into archive/, yet belongs to live/NAME."""
    found = {Path(os.path.abspath(path))}
    current = Path(os.path.abspath(path))
    for _ in range(_MAX_LINKS):
        current = Path(os.path.realpath(current.parent)) / current.name
        found.add(current)
        if not current.is_symlink():
            break
        current = Path(os.path.abspath(current.parent / os.readlink(current)))
    return found


def from_environment(environ: Mapping[str, str]) -> Renewal | None:
    """The renewal a certbot deploy hook or an acme.sh reload command runs for, if any."""
    lineage = environ.get("RENEWED_LINEAGE")
    if lineage:
        domains = tuple(environ.get("RENEWED_DOMAINS", "").split())
        return Renewal(CERTBOT, (Path(lineage),), (), domains)
    if environ.get("CERT_KEY_PATH") and environ.get("CERT_FULLCHAIN_PATH"):
        files = tuple(Path(environ[v]) for v in ACMESH_VARIABLES if environ.get(v))
        domain = environ.get("Le_Domain")
        return Renewal(ACMESH, _directories(files), files, (domain,) if domain else ())
    return None


def dehydrated(args: Sequence[str]) -> Renewal | None:
    """The renewal of a dehydrated `deploy_cert` call; None for every other hook event."""
    if not args or args[0] != "deploy_cert":
        return None
    if len(args) < len(DEPLOY_CERT_ARGS):  # old versions pass no TIMESTAMP
        raise UsageError(f"deploy_cert expects {' '.join(DEPLOY_CERT_ARGS)}; got {len(args) - 1}")
    files = tuple(Path(p) for p in args[2:6])  # KEYFILE CERTFILE FULLCHAINFILE CHAINFILE
    return Renewal(DEHYDRATED, _directories(files), files, (args[1],))


def _directories(files: Sequence[Path]) -> tuple[Path, ...]:
    return tuple(dict.fromkeys(path.parent for path in files))


def next_key_files(service: Service) -> list[tuple[Path, str]]:
    """Standing next keys an ACME client keeps beside the service's current key: (path, client)."""
    found: list[tuple[Path, str]] = []
    for source in service.current:
        path = Path(source)
        directory = path if path.is_dir() else path.parent
        roll = directory / DEHYDRATED_ROLL_KEY
        if roll.is_file():
            found.append((roll, DEHYDRATED))
        found += [(p, ACMESH) for p in sorted(directory.glob("*.key.next"))]
    if service.private_key:
        upcoming = Path(service.private_key + ".next")
        if upcoming.is_file():
            found.append((upcoming, ACMESH))
    return list(dict.fromkeys(found))


# --- certbot renewal configuration ---------------------------------------------------------------


def certbot_conf_path(lineage: Path) -> Path:
    """CONFIG_DIR/renewal/NAME.conf for the lineage CONFIG_DIR/live/NAME."""
    return lineage.parent.parent / "renewal" / f"{lineage.name}.conf"


def certbot_lineage(service: Service) -> Path | None:
    """The certbot lineage (CONFIG_DIR/live/NAME, with its renewal/NAME.conf) the service's
    current key is read from, if it is one."""
    for source in service.current:
        path = Path(source)
        lineage = path if path.is_dir() else path.parent
        if lineage.parent.name == "live" and certbot_conf_path(lineage).is_file():
            return lineage
    return None


def renewal_params(text: str) -> dict[str, str]:
    """The [renewalparams] of a certbot renewal configuration (configobj syntax, flat keys)."""
    params: dict[str, str] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            section = line.strip("[]").strip()
        elif section == "renewalparams" and "=" in line:
            key, _, value = line.partition("=")
            params[key.strip()] = value.strip().strip("'\"")
    return params


def _certbot_key_type(key_type: str) -> tuple[str, str]:
    """("rsa", "2048") or ("ecdsa", "P-256") for a key type as material names it."""
    kind, _, detail = key_type.partition(" ")
    return ("rsa", detail) if kind == "RSA" else ("ecdsa" if kind == "EC" else kind.lower(), detail)


def certbot_warnings(
    name: str, params: Mapping[str, str], key_type: str, deploys: bool
) -> list[str]:
    """What in a lineage's renewal settings would break the TLSA records at the next renewal."""
    warnings = []
    reuse = params.get("reuse_key", "False").lower() == "true"
    if not reuse and not deploys:
        warnings.append(
            f"certbot makes a new key at every renewal of {name} (reuse_key is not set), and "
            "without staged deployment that key goes live before its TLSA record is published; "
            "add deploy = { cert, key, reload } to the service (docs/rollover.md) or run "
            f"'certbot reconfigure --cert-name {name} --reuse-key'"
        )
    wanted = {key: params.get(key, default) for key, default in CERTBOT_DEFAULTS.items()}
    kind, detail = _certbot_key_type(key_type)
    differs = {
        "key_type": wanted["key_type"].lower() != kind,
        "rsa_key_size": kind == "rsa" and wanted["rsa_key_size"] != detail,
        "elliptic_curve": kind == "ecdsa"
        and SUPPORTED_CURVES.get(wanted["elliptic_curve"].lower()) != detail,
    }
    curve = {v: k for k, v in SUPPORTED_CURVES.items()}.get(detail, detail)
    flags = {
        "key_type": f"--key-type {kind}",
        "rsa_key_size": f"--rsa-key-size {detail}",
        "elliptic_curve": f"--elliptic-curve {curve}",
    }
    for key in (k for k, different in differs.items() if different):
        default = "" if key in params else " (certbot's default)"
        effect = "fails (reuse_key is set)" if reuse else "makes a new key of that kind"
        warnings.append(
            f"renewal/{name}.conf asks for {key} = {wanted[key]}{default} but the current key "
            f"is {key_type}: the next renewal {effect}; make them match, e.g. 'certbot "
            f"reconfigure --cert-name {name} {flags[key]}'"
        )
        break
    return warnings


def dehydrated_warnings(service: Service, deploys: bool) -> list[str]:
    if deploys or any(client == DEHYDRATED for _, client in next_key_files(service)):
        return []
    return [
        f"dehydrated keeps no next key for service {service.name} ({DEHYDRATED_ROLL_KEY}); set "
        "PRIVATE_KEY_ROLLOVER=yes in dehydrated's config (unless PRIVATE_KEY_RENEW=no), or add "
        "deploy = { cert, key, reload } to the service, so that no key goes live unpublished"
    ]
