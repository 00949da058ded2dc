"""Run Python as if only tlsagen were installed: no provider distribution (`tlsagen_*`) can be
imported and `importlib.metadata.entry_points` lists none of the `tlsagen.providers` group.

Loaded at interpreter start through PYTHONPATH by the pytest plugin of this directory
(`pytest -p tests.testbed.without_providers`), so the processes a test starts (the `tlsagen`
CLI, `python -c ...`) see the same as the test process.
"""

import importlib.abc
import importlib.metadata
import sys
from typing import Any

GROUP = "tlsagen.providers"
_entry_points = importlib.metadata.entry_points


class _Hidden(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0].startswith("tlsagen_"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden)", name=name)


def _without_providers(**params: Any) -> importlib.metadata.EntryPoints:
    found = _entry_points(**params)
    return importlib.metadata.EntryPoints(point for point in found if point.group != GROUP)


if "tlsagen.registry" in sys.modules or any(name.startswith("tlsagen_") for name in sys.modules):
    raise RuntimeError("tlsagen was imported before its providers could be hidden")
sys.meta_path.insert(0, _Hidden())
importlib.metadata.entry_points = _without_providers  # type: ignore[assignment]
