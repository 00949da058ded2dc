"""Values and pure computation: TLSA data, records, key material, DANE matching, renderings."""
