"""Unbound: the validating resolver, anchored at the private root, with a stub per zone."""

from collections.abc import Sequence
from pathlib import Path

from .model import Server
from .proc import Proc, run


def conf_path(directory: Path) -> Path:
    return directory / "unbound.conf"


def start_unbound(
    directory: Path, port: int, root_ds: str, stubs: dict[str, Sequence[Server]]
) -> Proc:
    """unbound validating from root_ds (a DS record), asking stubs (zone -> servers) directly."""
    directory.mkdir(parents=True, exist_ok=True)
    anchor = directory / "root.ds"
    anchor.write_text(root_ds + "\n")
    stub_zones = "".join(
        f'stub-zone:\n    name: "{zone}"\n'
        + "".join(f"    stub-addr: {s.host}@{s.port}\n" for s in servers)
        for zone, servers in stubs.items()
    )
    conf = conf_path(directory)
    conf.write_text(
        f"""server:
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    num-threads: 1
    username: ""
    chroot: ""
    directory: "{directory}"
    pidfile: "{directory}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    val-log-level: 2
    ede: yes
    trust-anchor-signaling: no
    trust-anchor-file: "{anchor}"
    do-not-query-localhost: no
    local-zone: "test." nodefault
    cache-max-ttl: 5
    cache-max-negative-ttl: 1
    aggressive-nsec: no
    infra-keep-probing: yes

remote-control:
    control-enable: yes
    control-interface: "{directory}/control.sock"

{stub_zones}"""
    )
    return Proc("unbound", ["unbound", "-d", "-c", str(conf)], directory / "unbound.log", port)


def control(directory: Path, *args: str) -> str:
    """Run unbound-control against the resolver configured in directory."""
    return run(["unbound-control", "-c", str(conf_path(directory)), *args], directory)
