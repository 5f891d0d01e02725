"""Reasons are computed only for the patients a person reads (docs/risk.md): the app shows
them for everyone on its worklists, so every register entry it loads has its reasons, the
same as the published run's, while patients the run left unexplained (reasons null) are on
no worklist."""

from __future__ import annotations

import polars as pl
import pytest

from wraparound.analytics import results
from wraparound.apps.registers.models import RegisterEntry, RegisterRun

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]


def test_every_worklist_patient_has_the_runs_reasons(app_warehouse):
    run_dir = results.latest_run(app_warehouse, "risk")
    scores = pl.read_parquet(run_dir / "scores.parquet", columns=["patient_id", "reasons"])
    published = dict(scores.iter_rows())
    run = RegisterRun.objects.get(current=True)
    entries = list(RegisterEntry.objects.filter(run=run).select_related("patient"))
    assert entries
    for entry in entries:
        assert published[entry.patient.pseudonym] is not None
        assert entry.reasons == published[entry.patient.pseudonym]
    assert sum(1 for e in entries if e.reasons) > len(entries) / 2
    unexplained = {p for p, r in published.items() if r is None}
    assert unexplained, "everyone was explained: the selection did nothing"
    assert not unexplained & {e.patient.pseudonym for e in entries}
