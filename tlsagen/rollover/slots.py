"""A service's key slots read from where they live: files, and the server itself.

- current: what the server presents or may present now. With `deploy`, the files installed at
  the deploy paths (and, while an install is pending, the files it replaced); without, the
  configured `cert`/`key`.
- presented: under rollover the server is probed on every address. What it presents decides
  when the retire gate opens, and records of it are never removed; but a probed key never gets
  a record it does not already have (a probe could meet an impostor).
- staged (with `deploy` only): the ACME client's certificate when it differs from the installed one.
- next: configured `next-key` files, dehydrated's privkey.roll.pem, acme.sh's KEY.next, and the key
  `rollover start` generated in the state directory.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tlsagen.config import Service
from tlsagen.config_values import refuse_shared_directories
from tlsagen.core import material, policy
from tlsagen.core.endpoint import Endpoint
from tlsagen.core.tlsa import Params, TLSAData, compute
from tlsagen.errors import InputError, ProviderError, TlsagenError
from tlsagen.rollover import deploy, hooks, planner

if TYPE_CHECKING:
    from tlsagen.net import lookup

PROBE_TIMEOUT = 10.0  # the whole probe of a service: its every address, every handshake
PROBE_WORKERS = 8


@dataclass(frozen=True)
class Slots:
    current: tuple[material.Material, ...]
    presented: tuple[material.Material, ...]  # what the probe saw (kept in DNS, never added)
    live: tuple[material.Material, ...] | None  # what every address presents (None: not settled)
    staged: deploy.Files | None
    nexts: tuple[material.Material, ...]
    warnings: tuple[str, ...]


def key_id(found: material.Material) -> str:
    return hashlib.sha256(found.spki).hexdigest()


def records(found: material.Material, params: Sequence[Params]) -> frozenset[TLSAData]:
    """The records of `found` under each parameter set it can be hashed with.

    A bare next key has no chain, so usages 0/2 (which hash the CA) are left to the certificate.
    """
    computed = set()
    for chosen in params:
        try:
            computed.add(compute(found, chosen))
        except InputError:
            if found.chain:
                raise
    return frozenset(computed)


def read_file(service: Service, setting: str, source: str) -> material.Material:
    """Read one of a service's files; errors name the service and the configuration key."""
    if source != "-" and not Path(source).exists():
        raise InputError(
            f"service {service.name} {setting}: {source} has not been created yet; "
            f"{deploy.NOT_YET_ISSUED}"
        )
    try:
        return material.read_source(source)
    except InputError as exc:
        raise InputError(f"service {service.name} {setting}: {exc}") from None


def key(found: material.Material, params: Sequence[Params]) -> planner.Key:
    return planner.Key(key_id(found), found.source, records(found, params))


def next_sources(service: Service, generated: Path | None) -> tuple[list[str], list[str]]:
    """(existing next-key files, warnings about configured ones that do not exist yet)."""
    found, warnings = [], []
    for source in service.next_keys:
        if Path(source).exists():
            found.append(source)
        else:
            warnings.append(
                f"service {service.name}: next-key {source} does not exist yet; "
                f"'tlsagen rollover start {service.name}' generates it"
            )
    found += [str(path) for path, _ in hooks.next_key_files(service)]
    if generated is not None and generated.exists() and not service.next_keys:
        refuse_shared_directories(generated, f"service {service.name}: next key")
        found.append(str(generated))
    return list(dict.fromkeys(found)), warnings


def read(
    service: Service,
    now: datetime,
    generated: Path | None = None,
    probe_from: Endpoint | None = None,
    probing: bool = False,
) -> Slots:
    """Read every slot of `service`; probe its server when `probing` (resolving through
    `probe_from`, else the system resolver)."""
    sources, warnings = next_sources(service, generated)
    nexts = tuple(read_file(service, "next-key", source) for source in sources)
    staged = None
    settled = True
    if service.deploy is not None:
        installed = deploy.installed(service.deploy)
        current = tuple(f.chain for f in (installed.files, installed.previous) if f is not None)
        settled = not installed.pending and installed.files is not None
        try:
            source = deploy.read_files(*deploy.source_paths(service))
        except InputError as exc:
            warnings.append(f"service {service.name}: nothing staged: {exc}")
        else:
            staged = None if source.same_as(installed.files) else source
    else:
        current = tuple(read_file(service, service.current_setting, s) for s in service.current)
    for found in (*current, *nexts, *([staged.chain] if staged else [])):
        warnings += policy.lint_material(found, now)
    for port in sorted({owner.port for owner in service.owners}):
        warnings += policy.lint_params(service.params, port)
    live: tuple[material.Material, ...] | None = current if settled else None
    presented: tuple[material.Material, ...] = ()
    if probing and service.probe:
        probed, problems = probe_service(service, probe_from)
        warnings += problems
        if probed is not None:
            presented = probed
            live = probed if settled and not problems else None
            known = {key_id(m) for m in (*current, *nexts, *([staged.chain] if staged else []))}
            warnings += [
                f"service {service.name}: the server presents {m.source}'s key "
                f"{key_id(m)[:16]}…, which is not configured (its records are kept, never added)"
                for m in probed
                if key_id(m) not in known
            ]
    return Slots(current, presented, live, staged, nexts, tuple(warnings))


# --- the live server -----------------------------------------------------------------------------


def _addresses(host: str, asking: lookup.Resolver) -> list[str]:
    """The addresses of `host`; ProviderError when the resolver gave no usable answer (a
    timeout, SERVFAIL or a bogus answer is not "no address")."""
    from tlsagen.net import lookup

    found = []
    for rdtype in ("A", "AAAA"):
        answer = asking.query(host, rdtype)
        if answer.status in (lookup.INDETERMINATE, lookup.BOGUS):
            raise ProviderError(
                f"resolver {asking.endpoint} gave no usable {rdtype} answer for {host} "
                f"({answer.status}: {answer.detail})"
            )
        found += answer.values()
    return found


def probe_service(
    service: Service, resolver: Endpoint | None
) -> tuple[tuple[material.Material, ...] | None, list[str]]:
    """The chains the server presents on every address of every owner, and what went wrong.

    None when no owner's host has an address (nothing can connect to it, so the files count).
    """
    from tlsagen.net import lookup, probe

    deadline = time.monotonic() + PROBE_TIMEOUT  # it may run under the state lock
    targets = []
    try:
        asking = lookup.Resolver(resolver or lookup.system_resolver(), 3.0)
        for owner in service.owners:
            if time.monotonic() > deadline:
                raise ProviderError(f"the resolver took over {PROBE_TIMEOUT:g} s")
            host = owner.host.rstrip(".")
            protocol = service.starttls or probe.starttls_for(owner.port)
            targets += [(a, owner.port, host, protocol) for a in _addresses(host, asking)]
    except TlsagenError as exc:
        return None, [f"service {service.name}: cannot resolve its hosts to probe them: {exc}"]
    if not targets:
        return None, []

    def fetch(target: tuple[str, int, str, str]) -> tuple[list[probe.Served], str | None]:
        address, port, host, protocol = target
        left = max(deadline - time.monotonic(), 0.0)
        served, error = probe.fetch_each_key(address, port, host, protocol, left)
        problem = f"probe of {host} at {address} port {port}: {error}" if error else None
        return served, problem

    with ThreadPoolExecutor(PROBE_WORKERS) as pool:
        results = list(pool.map(fetch, targets))
    problems = [f"service {service.name}: {p}" for _, p in results if p]
    presented: dict[str, material.Material] = {}
    keys_by_address = []
    for (address, port, host, _), (served, _) in zip(targets, results, strict=True):
        found = []
        for one in (one for one in served if one.chain):
            try:
                found.append(material.from_certificates(f"{address}:{port}", list(one.chain)))
            except TlsagenError as exc:  # e.g. a key type tlsagen cannot use: not this key's
                problems.append(
                    f"service {service.name}: probe of {host} at {address} port {port}: "
                    f"cannot use the certificate it presents: {exc}"
                )
        presented.update({key_id(m): m for m in found})
        keys_by_address.append(frozenset(key_id(m) for m in found))
    if len(set(keys_by_address)) > 1:
        problems.append(f"service {service.name}: its addresses present different keys")
    return tuple(presented.values()), problems
