"""The error tree. Each class carries the process exit code documented in docs/exit-codes.md."""

from __future__ import annotations


class TlsagenError(Exception):
    """Base of every error tlsagen reports to the user as a one-line message."""

    exit_code = 1
    label = "error"  # how the command line introduces the message


class UsageError(TlsagenError):
    """The command line is wrong: a bad option value, a bad host name."""

    exit_code = 2


class InputError(TlsagenError):
    """A certificate, key, configuration or state file cannot be used."""

    exit_code = 3


class ProviderError(TlsagenError):
    """DNS or the provider API failed; nothing was applied, unless the message says so."""

    exit_code = 4


class ConflictError(TlsagenError):
    """DNS changed since it was read; nothing was applied and a re-run is safe."""

    exit_code = 5


class UnsafeError(TlsagenError):
    """A safety gate refused the step."""

    exit_code = 6


class MismatchError(TlsagenError):
    """A live key is not covered by any published record."""

    exit_code = 7


class ChangesPending(TlsagenError):
    """`plan --exit-code`: the plan is not empty; `rollover advance --exit-code`: steps wait."""

    exit_code = 8
    label = "changes pending"


class LateKeyError(TlsagenError):
    """A renewed key went live before its records were published; they are published now."""

    exit_code = 9
    label = "warning"


class DeployError(TlsagenError):
    """Installing a certificate or reloading the server failed; the previous files are back."""

    exit_code = 10


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "internal error (traceback only with --debug)",
    2: "usage error: bad option or name",
    3: "bad input: certificate, key, configuration or state file",
    4: "provider or DNS failure; the message says whether the change was applied",
    5: "conflict: another writer changed DNS since it was read; re-run is safe, it plans anew",
    6: "unsafe: a safety gate refused the step",
    7: "mismatch: a live key is not covered by any record",
    8: "changes pending (plan --exit-code); steps waiting (rollover advance --exit-code)",
    9: "warning: a renewed key went live before its records were published (now published)",
    10: "deploy failed: the reload command failed, the previous certificate files are back",
}
