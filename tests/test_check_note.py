"""The rollover note of `tlsagen check`, against the real BIND + Unbound + Postfix of the testbed:
it must not send certbot users to a standing next key, which certbot never uses."""

from __future__ import annotations

from tests.test_check_live import MX1, Bed, Cli, bed, check, owner, problems, publish, rec

__all__ = ["bed"]  # the fixture


def test_the_next_key_note_names_the_clients_that_use_one(cli: Cli, bed: Bed) -> None:
    port = bed.mail.starttls_port
    publish(bed, owner(port), [rec("3 1 1", bed.mail.ecdsa)])
    _, data = check(cli, f"{MX1}:{port}", "--starttls", "smtp", *bed.dns_args())
    (note,) = [p for p in problems(data) if p.startswith("note: rollover:")]
    assert "dehydrated's roll key or acme.sh's KEY.next" in note, note
    assert "certbot never uses a next key: let tlsagen stage its renewals" in note
    assert "rollover start" not in note
