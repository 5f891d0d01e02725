"""The app's records exported as app events for the indicators: the kinds and dates, the
opt-out, a rerun giving the same file, a missing warehouse refused with nothing written, and
end to end: the demo's casework exported and the coordination indicators computed from it."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.utils import timezone
from typer.testing import CliRunner
from worlds import patients

from wraparound.analytics.indicators import definition, inputs
from wraparound.analytics.indicators.run import run as run_indicators
from wraparound.apps.care.app_events import FILE_NAME, ExportError, export
from wraparound.apps.care.careplan import save_version
from wraparound.apps.care.models import CareTeamMember, ClinicalReview
from wraparound.apps.demo import create_demo_reviews
from wraparound.apps.records.models import User
from wraparound.cli import app as cli

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]

D = dt.date.fromisoformat
APP_INDICATORS = {
    "high_needs_named_gp",
    "high_needs_care_plan",
    "care_plans_reviewed_on_time",
    "ltc_annual_review",
    "frailty_assessment",
    "ld_annual_health_check",
    "dementia_care_plan_review",
}


@pytest.fixture
def warehouse(tmp_path, app_warehouse):
    """An empty directory that is a warehouse as far as the export checks (its manifest)."""
    out = tmp_path / "warehouse"
    out.mkdir()
    shutil.copy(app_warehouse / "manifest.json", out / "manifest.json")
    return out


def plan(patient, agreed_on: str | None, author) -> None:
    save_version(
        patient,
        {
            "what_matters": "Home",
            "goals": "Stay well",
            "review_date": D("2027-01-01"),
            "agreed": agreed_on is not None,
            "agreed_on": D(agreed_on) if agreed_on else None,
            "actions": [],
        },
        author,
    )


def events_of(path, *pseudonyms) -> set[tuple[str, str, str]]:
    table = pq.read_table(path)
    assert table.schema.equals(inputs.APP_EVENT_SCHEMA)
    return {
        (r["patient_id"], r["kind"], r["date"].isoformat())
        for r in table.to_pylist()
        if r["patient_id"] in pseudonyms
    }


def test_kinds_and_dates(warehouse):
    world = patients()
    related, other = world["related"], world["practice_only"]
    gp, coordinator = User.objects.get(username="gp"), User.objects.get(username="coordinator")
    CareTeamMember.objects.filter(patient=related, team_role="named_gp").update(
        since=timezone.make_aware(dt.datetime(2025, 6, 1, 23, 30), dt.UTC)  # 2 June in London
    )
    plan(related, "2024-09-01", coordinator)  # agreed
    plan(related, "2024-09-01", coordinator)  # an edit that keeps the agreement: nothing new
    plan(related, None, coordinator)  # a draft: nothing
    plan(related, "2025-10-01", coordinator)  # agreed again: reviewed
    ClinicalReview.objects.create(
        patient=related, kind="ltc_review", date=D("2025-12-01"), recorded_by=gp
    )
    ClinicalReview.objects.create(
        patient=related, kind="frailty_assessment", date=D("2026-01-10"), recorded_by=gp
    )
    ClinicalReview.objects.create(  # the same review twice: one event
        patient=related, kind="frailty_assessment", date=D("2026-01-10"), recorded_by=gp
    )
    related.conditions = [c for c in related.conditions if c != "Dementia"]
    related.save()
    other.conditions = [*other.conditions, "Dementia"]
    other.save()
    plan(other, "2024-05-01", coordinator)
    plan(other, "2025-05-02", coordinator)

    result = export(warehouse)

    path = warehouse / "app_events" / FILE_NAME
    assert result["path"] == str(path)
    assert events_of(path, related.pseudonym, other.pseudonym) == {
        (related.pseudonym, "named_gp_assigned", "2025-06-02"),
        (related.pseudonym, "care_plan_agreed", "2024-09-01"),
        (related.pseudonym, "care_plan_agreed", "2025-10-01"),
        (related.pseudonym, "care_plan_reviewed", "2025-10-01"),
        (related.pseudonym, "ltc_review", "2025-12-01"),
        (related.pseudonym, "frailty_assessment", "2026-01-10"),
        (other.pseudonym, "care_plan_agreed", "2024-05-01"),
        (other.pseudonym, "care_plan_agreed", "2025-05-02"),
        (other.pseudonym, "care_plan_reviewed", "2025-05-02"),
        (other.pseudonym, "dementia_care_plan_review", "2025-05-02"),
    }
    # Every named GP of the session's demo caseload is there too, and the indicators'
    # own reader accepts the file.
    named = {
        (pseudonym, timezone.localdate(since))
        for pseudonym, since in CareTeamMember.objects.filter(
            team_role="named_gp", patient__opted_out=False
        ).values_list("patient__pseudonym", "since")
    }
    assert result["by_kind"]["named_gp_assigned"] == len(named)
    assert inputs.read(warehouse).app_events.num_rows == result["events"]


def test_opted_out_patients_are_left_out(warehouse):
    related = patients()["related"]
    gp = User.objects.get(username="gp")
    ClinicalReview.objects.create(
        patient=related, kind="ltc_review", date=D("2025-12-01"), recorded_by=gp
    )
    plan(related, "2025-01-01", gp)
    export(warehouse)
    assert events_of(warehouse / "app_events" / FILE_NAME, related.pseudonym)

    related.opted_out = True
    related.save()
    result = export(warehouse)
    assert events_of(warehouse / "app_events" / FILE_NAME, related.pseudonym) == set()
    assert "ltc_review" not in result["by_kind"]


def test_a_rerun_replaces_the_file_with_the_same_one(warehouse):
    related = patients()["related"]
    ClinicalReview.objects.create(
        patient=related,
        kind="annual_health_check",
        date=D("2025-11-11"),
        recorded_by=User.objects.get(username="gp"),
    )
    first = export(warehouse)
    path = warehouse / "app_events" / FILE_NAME
    written = path.read_bytes()
    second = export(warehouse)
    assert first == second
    assert path.read_bytes() == written  # no duplicates, byte for byte the same
    assert [p.name for p in (warehouse / "app_events").iterdir()] == [FILE_NAME]  # no temp
    table = pq.read_table(path)
    assert table.num_rows == len(set(zip(*table.to_pydict().values(), strict=True)))


def test_no_warehouse_is_refused_and_nothing_is_written(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-warehouse"
    with pytest.raises(ExportError, match="no such warehouse directory"):
        export(missing)
    assert not missing.exists()
    not_a_warehouse = tmp_path / "empty"
    not_a_warehouse.mkdir()
    with pytest.raises(ExportError, match="not a warehouse"):
        export(not_a_warehouse)
    assert list(not_a_warehouse.iterdir()) == []

    monkeypatch.setenv("WRAPAROUND_WAREHOUSE", str(tmp_path))  # restored after the test
    result = CliRunner().invoke(cli, ["app", "export-events", "--warehouse", str(missing)])
    assert result.exit_code == 2
    assert "no such warehouse directory" in result.output
    assert not missing.exists()


def test_an_empty_export_leaves_the_indicators_awaiting_data(warehouse):
    (warehouse / "app_events").mkdir()
    pq.write_table(
        pa.table({"patient_id": [], "kind": [], "date": []}, schema=inputs.APP_EVENT_SCHEMA),
        warehouse / "app_events" / FILE_NAME,
    )
    found = inputs.read(warehouse)
    assert found.app_events is None and found.described["app_events"]["rows"] == 0


def test_demo_casework_exported_gives_the_coordination_indicators_numbers(tmp_path, app_warehouse):
    """The demo's reviews, exported into a copy of the test locality, then the seven
    app-sourced indicators: every one computed, with numbers for the demo practice."""
    warehouse = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, warehouse, ignore=shutil.ignore_patterns("indicators"))
    assert inputs.read(warehouse).app_events is None  # so far, awaiting data

    made = create_demo_reviews()
    assert made["care_plans"] and made["ltc_review"] and made["care_plan_reviews"]
    export(warehouse)
    library = tuple(i for i in definition.load() if i.id in APP_INDICATORS)
    manifest = run_indicators(warehouse, out=tmp_path / "after", library=library)

    assert {d["id"]: d["status"] for d in manifest["definitions"]} == dict.fromkeys(
        APP_INDICATORS, "computed"
    )
    values = pl.read_parquet(tmp_path / "after" / manifest["run_id"] / "scorecard.parquet")
    practice = User.objects.get(username="gp").scope_org_id
    latest = values.filter((pl.col("level") == "practice") & (pl.col("org_id") == practice))
    by_id = {r["indicator_id"]: r for r in latest.iter_rows(named=True)}
    assert set(by_id) == APP_INDICATORS
    named_gp = by_id["high_needs_named_gp"]
    assert named_gp["denominator"] > 0 and 0 < named_gp["numerator"] <= named_gp["denominator"]
    assert named_gp["value"] == pytest.approx(100 * named_gp["numerator"] / named_gp["denominator"])
    for indicator_id in ("ltc_annual_review", "high_needs_care_plan"):
        assert by_id[indicator_id]["numerator"] > 0, indicator_id
