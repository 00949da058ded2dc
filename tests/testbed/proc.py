"""Start, wait for, pause and stop the server processes of the testbed."""

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import NoReturn, TypeVar

import dns.exception

from .model import Server

INSTALL_HINT = "run scripts/install-test-deps.sh to install the DNS servers and tools"
READY_TIMEOUT = 20.0
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
TOOLS = (
    "named",
    "dnssec-keygen",
    "dnssec-signzone",
    "dnssec-dsfromkey",
    "nsupdate",
    "knotd",
    "unbound",
    "unbound-control",
)
# The servers the testbed starts: a test that starts one of these is in the `servers` tier
# (tests/testbed/tiers.py); Proc starts no other program.
DAEMONS = frozenset(
    {"named", "knotd", "unbound", "pdns_server", "moto_server", "pebble", "postfix"}
)

T = TypeVar("T")


class LabError(RuntimeError):
    """A testbed tool is missing, or a server failed to start or to answer in time."""


def binary(name: str) -> str:
    """The full path of a server or tool, or LabError telling how to install it."""
    path = shutil.which(name, path=_SEARCH_PATH)
    if path is None:
        raise LabError(f"{name} not found: {INSTALL_HINT}")
    return path


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool, path=_SEARCH_PATH) is None]


def run(argv: list[str], cwd: Path, stdin: str | None = None) -> str:
    """Run a tool to completion and return its stdout; LabError with its stderr if it fails."""
    result = subprocess.run(
        [binary(argv[0]), *argv[1:]],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(
            f"{' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result.stdout


def log_tail(log: Path, lines: int = 40) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return f"(no log at {log})"
    return "\n".join(text.splitlines()[-lines:])


class Proc:
    """A server process started in the foreground, its output going to log.

    Use it as a context manager: leaving the context stops the process.
    """

    def __init__(self, name: str, argv: list[str], log: Path, port: int) -> None:
        if argv[0] not in DAEMONS:
            raise LabError(f"{argv[0]} is not in DAEMONS: add it there so its tests are marked")
        self.log = log
        with log.open("wb") as out:
            self.popen = subprocess.Popen(
                [binary(argv[0]), *argv[1:]],
                cwd=log.parent,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.server = Server(name, "127.0.0.1", port, self.popen.pid)

    def wait_until(self, probe: Callable[[], T | None], what: str) -> T:
        """Poll probe() until it returns a value, and return it.

        Raises LabError, with the tail of the server's log, if the process exits or the
        probe keeps failing (None or a DNS/socket error) for READY_TIMEOUT seconds.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            code = self.popen.poll()
            if code is not None:
                self._fail(f"exited with status {code} before it would {what}")
            try:
                result = probe()
            except (dns.exception.DNSException, OSError):
                result = None
            if result is not None:
                return result
            if time.monotonic() > deadline:
                self._fail(f"did not {what} within {READY_TIMEOUT:.0f} s")
            time.sleep(0.05)

    def _fail(self, message: str) -> NoReturn:
        raise LabError(
            f"{self.server.name} (pid {self.server.pid}, port {self.server.port}) {message}; "
            f"last lines of {self.log}:\n{log_tail(self.log)}"
        )

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            self.popen.send_signal(signal.SIGCONT)  # a paused process acts on SIGTERM once resumed
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def __enter__(self) -> "Proc":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextmanager
def pause(server: Server) -> Iterator[None]:
    """SIGSTOP the server for the duration of the block (a hung or lagging server), then SIGCONT."""
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)
