"""The dataclasses the tests code against: servers, TSIG keys, zones and the whole lab."""

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Server:
    """One authoritative server or resolver endpoint."""

    name: str
    host: str
    port: int
    pid: int

    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class TsigKey:
    name: str
    algorithm: str
    secret: str
    key_file: Path


@dataclass(frozen=True)
class Zone:
    name: str
    primary: Server
    servers: tuple[Server, ...]
    key: TsigKey
    txt_only_key: TsigKey


@dataclass(frozen=True)
class DnsLab:
    root: Server
    bind: Zone
    knot: Zone
    bogus_zone: str
    unsigned_zone: str
    resolver: Server
    workdir: Path
