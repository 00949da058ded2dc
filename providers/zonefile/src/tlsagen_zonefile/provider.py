"""The zone-file provider: TLSA RRsets read from, and written into, BIND zone files."""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import dns.name
import dns.rdatatype

from tlsagen.provider import (
    ChangeSet,
    ConflictError,
    Endpoint,
    InputError,
    Owner,
    ProviderError,
    ReadsNoServer,
    RRset,
    already_applied,
)
from tlsagen_zonefile.edit import current_serial, edit
from tlsagen_zonefile.files import digest, locked, read_text, replace_file
from tlsagen_zonefile.serial import next_serial
from tlsagen_zonefile.settings import Settings
from tlsagen_zonefile.zone import Zone, parse_zone

log = logging.getLogger("tlsagen")


def _utc_today() -> date:
    return datetime.now(UTC).date()


class ZonefileProvider(ReadsNoServer):
    def __init__(self, settings: Settings, today: Callable[[], date] = _utc_today) -> None:
        self.settings = settings
        self.today = today
        # Each zone file's digest (with the files it includes) when last read or written here.
        self._seen: dict[Path, str] = {}
        self._dnssec_checked: set[Path] = set()

    def zones(self, owners: Collection[Owner]) -> Mapping[Owner, str]:
        if self.settings.directory:
            return {owner: self._zone_in_directory(owner) for owner in owners}
        zone, _ = self._load(None)
        for owner in owners:
            _check_in_zone(owner, zone)
        return {owner: zone.origin.to_text() for owner in owners}

    def read(self, zone: str, owners: Collection[Owner]) -> Mapping[Owner, RRset]:
        parsed, texts = self._load(zone)
        self._seen[parsed.path] = digest(texts)
        self._check_signing(parsed)
        held = {owner: parsed.rrset(owner) for owner in owners}
        return {owner: value for owner, value in held.items() if value is not None}

    def apply(self, changes: ChangeSet) -> None:
        directory = self.settings.path if self.settings.directory else self.settings.path.parent
        with locked(directory):
            self._apply(changes)

    def _apply(self, changes: ChangeSet) -> None:
        zone, texts = self._load(changes.zone)
        found = digest(texts)
        held = {}
        for change in changes.changes:
            _check_in_zone(change.owner, zone)
            if (rrset := zone.rrset(change.owner)) is not None:
                held[change.owner] = rrset
        if already_applied(held, changes.changes, f" in {zone.path}"):
            self._seen[zone.path] = found
            return  # a retried change that was already made
        if self._seen.get(zone.path, found) != found:
            raise ConflictError(f"{zone.path} changed since tlsagen read it; nothing was written")
        mode = self.settings.serial
        serial = None if mode == "keep" else next_serial(current_serial(zone), mode, self.today())
        text = edit(zone, changes.changes, serial)
        name = zone.origin.to_text().rstrip(".")
        check = [arg.replace("{zone}", name) for arg in self.settings.check_command]
        replace_file(zone.path, text, check, lambda: digest(_reread(texts)) == found)
        self._seen[zone.path] = digest({**texts, zone.path: text})

    def _check_signing(self, zone: Zone) -> None:
        """Warn, once per zone, when the zone file holds no DNSKEY at its apex and nothing else
        is said to sign the zone (signed-by = "server")."""
        if self.settings.signed_by == "server" or zone.path in self._dnssec_checked:
            return
        self._dnssec_checked.add(zone.path)
        apex_keys = (
            r for r in zone.records if r.rdtype == dns.rdatatype.DNSKEY and r.name == zone.origin
        )
        if next(apex_keys, None) is None:
            log.warning(
                "zone file %s holds no DNSKEY for %s, so tlsagen cannot tell that the zone is "
                "DNSSEC-signed: TLSA in an unsigned zone does nothing; if the server or your "
                "pipeline signs it (BIND dnssec-policy, Knot dnssec-signing), set signed-by = "
                '"server" in %s',
                zone.path,
                zone.origin,
                self.settings.where,
            )

    def servers(self, zone: str) -> Sequence[Endpoint]:
        return ()  # the zone file is served by whatever the user's pipeline deploys it to

    def _zone_in_directory(self, owner: Owner) -> str:
        name = dns.name.from_text(owner.name)
        tried = []
        while len(name) > 1:
            path = self._file(name.to_text())
            if path.exists() or path.is_symlink():
                return name.to_text()
            tried.append(path.name)
            name = name.parent()
        raise InputError(
            f"{self.settings.where}: no zone file for {owner} in {self.settings.path} "
            f"(looked for {', '.join(tried)})"
        )

    def _file(self, zone: str) -> Path:
        return self.settings.path / self.settings.pattern.replace("{zone}", zone.rstrip("."))

    def _load(self, zone: str | None) -> tuple[Zone, dict[Path, str]]:
        """The zone file parsed, and the text of it and of each file it includes."""
        origin: dns.name.Name | None
        if self.settings.directory:
            assert zone is not None
            path, origin = self._file(zone), dns.name.from_text(zone)
        else:
            path, origin = self.settings.path, self.settings.zone
        if path.is_symlink():
            raise ProviderError(
                f"{path} is a symbolic link, which tlsagen does not edit through; "
                f"set path to the file it points to ({path.resolve()})"
            )
        texts: dict[Path, str] = {}

        def read(source: Path) -> str:
            texts[source] = read_text(source)
            return texts[source]

        return parse_zone(path, origin, read), texts


def _check_in_zone(owner: Owner, zone: Zone) -> None:
    if not dns.name.from_text(owner.name).is_subdomain(zone.origin):
        raise InputError(f"{owner} is not in the zone {zone.origin} of {zone.path}")


def _reread(texts: Mapping[Path, str]) -> dict[Path, str]:
    return {path: read_text(path) for path in texts}
