"""The `[providers.NAME]` table of a Route 53 provider, checked. Imports no AWS library."""

from __future__ import annotations

from dataclasses import dataclass

from tlsagen.provider import InputError, ProviderSettings, check_keys, get_bool, get_float, get_str

KEYS = ("profile", "region", "zone-id", "endpoint-url", "private", "timeout")
# Parts of key names that say "a credential is being put in the file".
_CREDENTIAL_HINTS = ("access_key", "secret", "session_token", "password", "credential")


@dataclass(frozen=True)
class Settings:
    where: str  # "tlsagen.toml [providers.NAME]", for error messages
    profile: str | None = None
    region: str | None = None
    zone_id: str | None = None  # without the "/hostedzone/" prefix
    endpoint_url: str | None = None
    private: bool = False  # use private hosted zones instead of public ones
    timeout: float = 300.0  # seconds to wait for a change to be INSYNC

    @classmethod
    def parse(cls, settings: ProviderSettings) -> Settings:
        options, where = settings.options, settings.where
        for key in options:
            if any(hint in key.lower().replace("-", "_") for hint in _CREDENTIAL_HINTS):
                raise InputError(
                    f"{where}: '{key}' looks like an AWS credential, and credentials never go in "
                    "tlsagen.toml; remove it and use the AWS credential chain: AWS_ACCESS_KEY_ID "
                    "and AWS_SECRET_ACCESS_KEY, a profile (profile = NAME), or an instance role"
                )
        check_keys(options, KEYS, where)
        endpoint = get_str(options, "endpoint-url", where)
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise InputError(f"{where} endpoint-url: expected an http:// or https:// URL")
        zone_id = get_str(options, "zone-id", where)
        return cls(
            where=where,
            profile=get_str(options, "profile", where),
            region=get_str(options, "region", where),
            zone_id=zone_id.rsplit("/", 1)[-1] if zone_id else None,
            endpoint_url=endpoint,
            private=get_bool(options, "private", where, False),
            timeout=get_float(options, "timeout", where, 300.0),
        )
