"""pytest plugin: `pytest -p tests.testbed.without_providers` runs the tests with every provider
distribution hidden (see sitecustomize.py here), to prove that the core's tests need none."""

import os
from pathlib import Path

from . import sitecustomize as sitecustomize  # hides them in this process

_HERE = str(Path(__file__).parent)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [_HERE, os.environ.get("PYTHONPATH")]))
