"""The two test tiers: `servers` (tests that need real server processes) and the offline rest.

A server here is a daemon of the testbed, a program in `DAEMONS` (BIND, Knot, Unbound,
PowerDNS, Postfix, pebble, moto_server): it must be installed, takes a second or more to start,
and is shared by the tests of a session. The hostile-server suite (tests/hostile) counts too:
each of its tests runs tlsagen as a process of its own against a rogue DNS or SMTP server and
waits out real timeouts on purpose (dripped bytes, the 10 s probe deadline), so its `hostile`
fixture is registered. Servers written in Python that a unit test talks to in its own process
(the Cloudflare and deSEC emulators, the rogue DNS servers of tests/test_dns.py and the like)
are not: they need nothing installed and answer in milliseconds, with retries not slept, so
their tests stay in the offline tier, `pytest -m "not servers"`.

The marker follows the fixtures: a fixture that starts a daemon is decorated with
`@starts_servers` where it is defined, and every test whose fixture closure holds one gets the
`servers` marker at collection. A test that starts a daemon in its own body carries
`@pytest.mark.servers` by hand.

The guard keeps both honest. While a test without the marker sets up and runs, starting a
program in `DAEMONS` (seen through Python's audit hooks, so any way of starting it counts) or
asking for a `@starts_servers` fixture by `request.getfixturevalue` fails it; a test marked by
hand that passes without starting a daemon or using a server fixture fails too (its marker is
stale). So a server fixture left undecorated, or a test that starts named itself unmarked, is
found by the first run of the suite.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pytest

from .proc import DAEMONS

F = TypeVar("F", bound=Callable[..., Any])

SERVER_FIXTURES: set[str] = set()
_started: list[str] | None = None  # daemons started by the guarded phase running now, if any


def starts_servers(fixture: F) -> F:
    """Register a fixture (put this under `@pytest.fixture`) whose tests are in the `servers`
    tier: one that starts a daemon, or the hostile suite's `hostile`."""
    SERVER_FIXTURES.add(fixture.__name__)
    return fixture


_SPAWNS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.exec", "os.system"})


def _program(event: str, args: tuple[Any, ...]) -> str:
    """The program a process-starting audit event (one of _SPAWNS) runs."""
    if event == "os.system":
        words = shlex.split(os.fsdecode(args[0])) or [""]
        return words[0]
    executable, argv = args[0], args[1]
    if executable is None:
        executable = shlex.split(argv)[0] if isinstance(argv, str) else argv[0]
    return os.fsdecode(executable)


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in _SPAWNS and _started is not None:
        program = _program(event, args)
        if os.path.basename(program) in DAEMONS:
            _started.append(program)


def pytest_configure(config: pytest.Config) -> None:
    sys.addaudithook(_audit)


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by the marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.servers)


def _used_server_fixtures(item: pytest.Item) -> set[str]:
    request = getattr(item, "_request", None)  # it knows the fixtures asked for at run time too
    return SERVER_FIXTURES.intersection(request.fixturenames if request else ())


def _guarded(item: pytest.Item) -> Generator[None, None, None]:
    """Run one phase of a test, noting the daemons it starts; fail it if it is not marked."""
    global _started
    started: list[str] = []
    _started = started
    try:
        yield
    finally:
        _started = None
    item.stash[_STARTED] = [*item.stash.get(_STARTED, []), *started]
    used = sorted(_used_server_fixtures(item))
    if item.get_closest_marker("servers") is None and (started or used):
        pytest.fail(
            f"{item.nodeid} is not marked `servers` but starts or uses a server "
            f"({', '.join(started + used)}): decorate the fixture that starts it with "
            "@starts_servers, or mark the test @pytest.mark.servers (see tests/testbed/tiers.py)",
            pytrace=False,
        )


_STARTED = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    return (yield from _guarded(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Guarded as setup; then a test marked by hand that passed must have started a server."""
    yield from _guarded(item)
    stale = item.get_closest_marker("servers") and not item.stash[_STARTED]
    if stale and not _used_server_fixtures(item):
        pytest.fail(
            f"{item.nodeid} is marked `servers` but starts no server and uses no server "
            "fixture: remove its marker (see tests/testbed/tiers.py)",
            pytrace=False,
        )
