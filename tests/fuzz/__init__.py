"""Fuzz targets: every parser either reads its input or refuses it with a TlsagenError."""
