"""tlsagen: generate, publish, roll over and verify DANE TLSA records."""

__version__ = "0.1.0"
