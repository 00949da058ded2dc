"""The network edges: DNS queries, validating lookups, TLS probes, JSON web APIs."""
