"""Practitioner whole-time equivalents (issue 16: the early warning's patients per GP WTE)
in the organisation data: read from the FHIR PractitionerRole extension, refused when it is
not a number, optional in the CSV format (``schema.ADDED``), and null in older snapshots. The
synthetic generator writes them and the FHIR round trip keeps them
(``tests/integration/test_roundtrip.py``)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from wraparound.sources.csv.read import header_spec
from wraparound.sources.fhir import mapping as m
from wraparound.sources.fhir.extract import Context, extract
from wraparound.sources.ingest_batch import Batch
from wraparound.sources.ingest_values import Clock, Reject
from wraparound.sources.synthetic.organisations import FTE_CYCLE
from wraparound.warehouse import schema
from wraparound.warehouse.pseudonym import Pseudonymiser


def _ctx() -> Context:
    return Context(Batch(Clock(datetime(2026, 1, 1, tzinfo=UTC))), Pseudonymiser(b"k"))


def _role(**fields) -> dict:
    return {
        "resourceType": "PractitionerRole",
        "id": "r",
        "practitioner": {"reference": "Practitioner/p1"},
        "code": [{"coding": [{"system": m.STAFF_ROLE_SYSTEM, "code": "gp"}]}],
        **fields,
    }


def test_fte_read_from_the_extension():
    c = _ctx()
    extract(_role(extension=[{"url": m.FTE_EXT, "valueDecimal": 0.6}]), 0, c)
    extract(_role(id="r2"), 0, c)
    rows = c.batch.rows["practitioner_roles"]
    fte = [f.name for f in schema.TABLES["practitioner_roles"]].index("fte")
    assert [r[fte] for r in rows] == [0.6, None]


@pytest.mark.parametrize("bad", ["0.6", -1, True])
def test_fte_not_a_number_is_refused(bad):
    with pytest.raises(Reject, match="whole-time-equivalent"):
        extract(_role(extension=[{"url": m.FTE_EXT, "valueDecimal": bad}]), 0, _ctx())


def test_fte_optional_in_csv_and_null_in_older_snapshots():
    required, optional = header_spec("practitioner_roles")
    assert "fte" in optional and "fte" not in required
    old = pa.table({"id": ["r"], "practitioner_id": ["p"], "org_id": ["P1"], "role": ["gp"]})
    upgraded = schema.upgrade("practitioner_roles", old)
    assert upgraded.column("fte").to_pylist() == [None]
    assert all(0 < f <= 1 for f in FTE_CYCLE)
