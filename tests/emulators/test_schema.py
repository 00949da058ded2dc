"""The schema excerpts catch what the published APIs would refuse, so an emulator that checks
against them can fail a test."""

from __future__ import annotations

from tests.emulators.schema import Schema


def test_cloudflare_excerpt_refuses_fields_a_tlsa_record_has_not() -> None:
    schema = Schema("cloudflare")
    good = {"name": "_25._tcp.mx1.example.com", "type": "TLSA", "ttl": 300, "data": {"usage": 3}}
    assert schema.errors({"posts": [good], "deletes": [{"id": "1"}]}, "RecordBatchParams") == []
    bad = {**good, "content": "3 1 1 ab", "ttl": 0}
    assert sorted(schema.errors({"posts": [bad], "deletes": [{}]}, "RecordBatchParams")) == [
        "RecordBatchParams.deletes[0]: id is required",
        "RecordBatchParams.posts[0].ttl: 0 is below 1",
        "RecordBatchParams.posts[0]: content is not a known field",
    ]
    assert schema.errors({"per_page": "100"}, "ZoneListParams") == [
        "ZoneListParams.per_page: '100' does not match ^([5-9]|[1-4][0-9]|50)$"
    ]


def test_desec_excerpt_refuses_what_the_bulk_endpoint_would() -> None:
    schema = Schema("desec")
    good = {"subname": "_25._tcp.mx1", "type": "TLSA", "ttl": 3600, "records": ["3 1 1 ab"]}
    assert schema.errors([good], "BulkWrite") == []
    bad = {"subname": "_25._tcp.MX1", "type": "TLSA", "ttl": "3600", "name": "x."}
    assert schema.errors([bad], "BulkWrite") == [
        "BulkWrite[0].subname: '_25._tcp.MX1' does not match ^([*][.])?[a-z0-9_.-]{0,178}$",
        "BulkWrite[0].ttl: '3600' is not integer",
        "BulkWrite[0]: name is not a known field",
    ]
    assert schema.errors({"name": "example.com"}, "Domain") == [
        "Domain: created is required",
        "Domain: minimum_ttl is required",
        "Domain: published is required",
        "Domain: touched is required",
    ]
