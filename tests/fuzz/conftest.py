"""Hypothesis budgets of the fuzz targets: a small one in every test run, a large one on demand.

    python -m pytest tests/fuzz                          # profile "fuzz-ci" (the default)
    HYPOTHESIS_PROFILE=fuzz python -m pytest tests/fuzz  # profile "fuzz": 100x the examples

The profiles apply to the tests of this directory only (through `FUZZ`); every other test keeps
the "tlsagen" profile that tests/conftest.py loads. See docs/fuzzing.md.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_BASE = settings.get_profile("tlsagen")  # registered by tests/conftest.py: no deadline
settings.register_profile("fuzz-ci", _BASE, max_examples=150)
settings.register_profile(
    "fuzz", _BASE, max_examples=15_000, suppress_health_check=[HealthCheck.too_slow]
)

FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "fuzz-ci"))
