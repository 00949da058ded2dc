"""`tlsagen providers`: the installed providers and their versions."""

from __future__ import annotations


def providers() -> None:
    """List the installed providers (entry points in the group tlsagen.providers)."""
    from tlsagen import registry  # importlib.metadata is slow to import: only this command needs it

    found = registry.installed()
    if not found:
        print("no providers installed; pip install tlsagen[all]")
    for kind, dist in found.items():
        print(f"{kind}\t{dist}")
