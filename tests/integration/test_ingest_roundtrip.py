"""The contract's round-trip rule: ``synth -> FHIR -> ingest`` gives exactly the warehouse
that ``synth -> warehouse`` gives, every table and column, bookkeeping included."""

from __future__ import annotations

import pytest
from ingest_data import contents

from wraparound.sources.ingest import run_ingest

synthetic = pytest.importorskip("wraparound.sources.synthetic.writer")


def test_synth_fhir_ingest_equals_synth_warehouse(tmp_path):
    synthetic.write_synthetic(tmp_path / "wh", patients=300, seed=5, progress=False)
    synthetic.write_synthetic(tmp_path / "fhir", patients=300, seed=5, fmt="fhir",
                              progress=False)
    result = run_ingest([tmp_path / "fhir"], tmp_path / "ingested", progress=False)
    assert result.ok, result.report["errors"][:5]
    assert contents(tmp_path / "ingested") == contents(tmp_path / "wh")
