"""synth → FHIR → ingest gives exactly the warehouse that synth → warehouse gives.

This is the test that the FHIR writer, the reader and the generator agree on every column of
every table (docs/fhir-mapping.md is the contract between them).
"""

from __future__ import annotations

import pytest

from wraparound.sources.ingest import run_ingest
from wraparound.sources.synthetic.writer import write_synthetic
from wraparound.warehouse.schema import TABLES
from wraparound.warehouse.store import Warehouse

pytestmark = pytest.mark.xdist_group("roundtrip")


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    write_synthetic(root / "direct", patients=1200, seed=8, progress=False)
    write_synthetic(root / "fhir", patients=1200, seed=8, fmt="fhir", progress=False)
    result = run_ingest([root / "fhir"], root / "ingested", progress=False)
    assert result.ok, result.report["errors"][:5]
    return Warehouse(root / "direct"), Warehouse(root / "ingested")


@pytest.mark.parametrize("table", list(TABLES))
def test_table_identical(both, table):
    direct, ingested = both
    a = direct.read(table).sort_by("id")
    b = ingested.read(table).sort_by("id")
    assert a.num_rows == b.num_rows
    for column in a.column_names:
        assert a.column(column).equals(b.column(column)), f"{table}.{column} differs"


def test_every_encounter_kind_and_status_survives(both):
    direct, _ = both
    enc = direct.read("encounters")
    assert len(set(enc.column("kind").to_pylist())) == 7  # social_care too
    assert {"attended", "dna", "cancelled"} <= set(enc.column("status").to_pylist())
