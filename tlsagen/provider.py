"""The provider API: everything a provider distribution imports from tlsagen, in one module.
It defines nothing: it names what the modules below it hold.

A provider (`tlsagen-rfc2136`, `tlsagen-route53`, `tlsagen-zonefile`, and any written elsewhere)
imports `tlsagen.provider` and nothing else of tlsagen (its tests add `tlsagen.testing`, the
contract suite); tests/test_layering.py holds them to it. Here are:

- the contract: `Provider`, `ProviderSettings` (what a factory receives), `ProviderFactory`,
  `ReadsNoServer` (its `confirmed` and `served` for a provider that reads no listed server);
  they live in registry.py, so that a shared helper module below this one can use them;
- value types: `Owner`, `RRset`, `Malformed`, `Change`, `ChangeSet`, `TLSAData`, `Params`,
  `Endpoint`; reading records as stored (`stored_record`, `stored_rrset`, `generic_octets`);
- the compare-and-swap verdict `already_applied` (applied / not applied / conflict);
- errors: `ProviderError` (exit 4), `ConflictError` (5), `InputError` (3) and their base;
- settings helpers, so configuration errors read alike in every provider (`check_keys`,
  `get_str`, ..., `read_secret`, `check_secret_file`, `parse_endpoint`);
- files: `write_atomic`, `sync_directory`, `child_environment` for subprocesses;
- DNS: the query path (`exchange`, `exchange_tcp`, `ask`, `soa_serial`, `from_wire`, which reads
  the TLSA records dnspython refuses, one deadline for UDP and TCP) and the one pair of
  conversions between tlsagen's records and dnspython's (`to_rrset`, `to_rdatas`);
- the entry-point registry (`ENTRY_POINT_GROUP`, `installed`, `load`);
- for providers of HTTP APIs without conditional writes (Cloudflare, deSEC): the client and the
  read-write-read-back compare-and-swap of `tlsagen.net.webapi`, loaded on first use only, so that
  other providers do not pay for the HTTP and TLS modules.

docs/providers/writing.md tells how to write a provider with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tlsagen.config_values import (
    MAX_INT,
    MAX_SECONDS,
    check_keys,
    check_secret_file,
    child_environment,
    get_bool,
    get_float,
    get_int,
    get_str,
    get_str_list,
    read_secret,
    resolve_path,
)
from tlsagen.core.endpoint import Endpoint, parse_endpoint
from tlsagen.core.records import (
    Change,
    ChangeSet,
    Malformed,
    Owner,
    RRset,
    already_applied,
    generic_octets,
    holds_every_after,
    rrset,
    settle_unanswered,
    stored_record,
    stored_rrset,
)
from tlsagen.core.tlsa import Params, TLSAData
from tlsagen.errors import ConflictError, InputError, ProviderError, TlsagenError, UsageError
from tlsagen.files import sync_directory, write_atomic
from tlsagen.net.dns import (
    AnswerError,
    OtherQuestion,
    ReplyError,
    ReplyTimeout,
    ask,
    exchange,
    exchange_tcp,
    from_wire,
    soa_serial,
    to_rdatas,
    to_rrset,
)
from tlsagen.registry import (
    ENTRY_POINT_GROUP,
    KNOWN,
    Provider,
    ProviderFactory,
    ProviderSettings,
    ReadsNoServer,
    installed,
    load,
    missing_provider,
)

if TYPE_CHECKING:
    from tlsagen.net.webapi import Answer, ApiSettings, Unanswered, addresses, compare_and_swap

_WEB_API = ("Answer", "ApiSettings", "Unanswered", "addresses", "compare_and_swap")


def __getattr__(name: str) -> object:
    """The names of tlsagen.net.webapi, imported when a provider first asks for one."""
    if name in _WEB_API:
        from tlsagen.net import webapi

        return getattr(webapi, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ENTRY_POINT_GROUP",
    "KNOWN",
    "MAX_INT",
    "MAX_SECONDS",
    "Answer",
    "AnswerError",
    "ApiSettings",
    "Change",
    "ChangeSet",
    "ConflictError",
    "Endpoint",
    "InputError",
    "Malformed",
    "OtherQuestion",
    "Owner",
    "Params",
    "Provider",
    "ProviderError",
    "ProviderFactory",
    "ProviderSettings",
    "RRset",
    "ReadsNoServer",
    "ReplyError",
    "ReplyTimeout",
    "TLSAData",
    "TlsagenError",
    "Unanswered",
    "UsageError",
    "addresses",
    "already_applied",
    "ask",
    "check_keys",
    "check_secret_file",
    "child_environment",
    "compare_and_swap",
    "exchange",
    "exchange_tcp",
    "from_wire",
    "generic_octets",
    "get_bool",
    "get_float",
    "get_int",
    "get_str",
    "get_str_list",
    "holds_every_after",
    "installed",
    "load",
    "missing_provider",
    "parse_endpoint",
    "read_secret",
    "resolve_path",
    "rrset",
    "settle_unanswered",
    "soa_serial",
    "stored_record",
    "stored_rrset",
    "sync_directory",
    "to_rdatas",
    "to_rrset",
    "write_atomic",
]
