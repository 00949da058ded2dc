"""What every atheris harness shares: run a parser under libFuzzer, where a TlsagenError is the
parser refusing its input and any other exception is a crash (see docs/fuzzing.md)."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

import atheris

from tlsagen.errors import TlsagenError

ROOT = Path(__file__).parents[1]
EXAMPLES = ROOT / "docs/examples"


def fuzz(target: Callable[[bytes], object], seeds: Iterable[bytes]) -> None:
    """Fuzz `target` with the libFuzzer options and corpus directories on the command line.

    Without a corpus directory, the run starts from `seeds` in a new temporary one.
    """

    def one_input(data: bytes) -> None:
        with contextlib.suppress(TlsagenError):
            target(data)

    argv = sys.argv
    if all(arg.startswith("-") for arg in argv[1:]):
        corpus = Path(tempfile.mkdtemp(prefix="tlsagen-fuzz-corpus-"))
        for number, seed in enumerate(seeds):
            (corpus / f"seed-{number}").write_bytes(seed)
        argv = [*argv, str(corpus)]
        print(f"corpus: {corpus}", file=sys.stderr)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()
