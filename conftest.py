"""Loads the testbed fixtures (real BIND, Knot, Unbound, ...) for every test directory."""

pytest_plugins = ["tests.testbed.tiers", "tests.testbed.plugin", "pytester"]
