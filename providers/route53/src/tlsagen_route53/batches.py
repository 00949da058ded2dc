"""Route 53 change batches: exact DELETE + CREATE per owner, split under the request limits.

Pure code: builds the request data, sends nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from tlsagen.provider import Change, Owner, ProviderError, RRset

if TYPE_CHECKING:
    from mypy_boto3_route53.type_defs import ChangeTypeDef

# Route 53 limits per ChangeResourceRecordSets request.
MAX_RECORDS = 1000  # ResourceRecord elements
MAX_CHARS = 32_000  # characters across all Value elements


@dataclass(frozen=True)
class Stored:
    """A TLSA RRset as Route 53 holds it: parsed, and the exact values a DELETE must repeat."""

    rrset: RRset
    values: tuple[str, ...]


@dataclass(frozen=True)
class Item:
    """The actions for one owner. They always travel in the same batch, so each owner's
    compare-and-swap stays atomic even when a change set needs several batches."""

    change: Change
    actions: tuple[ChangeTypeDef, ...]
    values: tuple[str, ...]  # every Value the actions send, for the limits

    @classmethod
    def of(cls, change: Change, stored: Stored | None) -> Item:
        """DELETE exactly what Route 53 holds (its values and TTL), then CREATE `after`."""
        actions: list[ChangeTypeDef] = []
        values: list[str] = []
        if stored is not None:
            actions.append(_action("DELETE", change.owner, stored.rrset.ttl, stored.values))
            values.extend(stored.values)
        if change.after is not None:
            texts = change.after.texts()
            actions.append(_action("CREATE", change.owner, change.after.ttl, texts))
            values.extend(texts)
        return cls(change, tuple(actions), tuple(values))

    @property
    def chars(self) -> int:
        return sum(map(len, self.values))


def _action(
    action: Literal["DELETE", "CREATE"], owner: Owner, ttl: int, values: Iterable[str]
) -> ChangeTypeDef:
    return {
        "Action": action,
        "ResourceRecordSet": {
            "Name": owner.name,
            "Type": "TLSA",
            "TTL": ttl,
            "ResourceRecords": [{"Value": value} for value in values],
        },
    }


def split(
    items: Sequence[Item], max_records: int = MAX_RECORDS, max_chars: int = MAX_CHARS
) -> list[list[Item]]:
    """The fewest batches, in order, that keep each owner whole and stay within the limits."""
    batches: list[list[Item]] = []
    records = chars = 0
    for item in items:
        if len(item.values) > max_records or item.chars > max_chars:
            raise ProviderError(
                f"{item.change.owner}: the change sends {len(item.values)} records and "
                f"{item.chars} characters, more than one Route 53 request may carry "
                f"({max_records} records, {max_chars} characters); publish fewer TLSA records"
            )
        full = records + len(item.values) > max_records or chars + item.chars > max_chars
        if not batches or full:
            batches.append([])
            records = chars = 0
        batches[-1].append(item)
        records += len(item.values)
        chars += item.chars
    return batches
