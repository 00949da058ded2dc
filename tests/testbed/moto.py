"""moto_server, the stand-in for the Route 53 API (no local Route 53 exists), on loopback."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from .ports import free_port
from .proc import Proc


def _answers(url: str) -> bool | None:
    try:
        urlopen(f"{url}/moto-api/", timeout=1).close()
    except (URLError, ConnectionError):
        return None
    return True


@contextmanager
def start_moto(directory: Path) -> Iterator[str]:
    """A moto_server on a free port; yields its URL and stops it (by PID) afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = ["moto_server", "-H", "127.0.0.1", "-p", str(port)]
    with Proc("moto_server", argv, directory / "moto_server.log", port) as server:
        server.wait_until(lambda: _answers(url), "answer HTTP requests")
        yield url
