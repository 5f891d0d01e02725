"""Hub appointments flow back as app appointments and the indicators count them (issue 13):

- with no app appointments (no file, or an empty one) every indicator computes exactly as
  before and the four access-standards indicators await data;
- with some, the GP appointment indicators count hub and practice appointments alike (the
  DNA rate's locality denominator grows by exactly the attended and missed ones), the
  standards indicators give the hand-worked figures, and nothing else changes.
"""

from __future__ import annotations

import datetime as dt
import shutil
from zoneinfo import ZoneInfo

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from wraparound.analytics.indicators import inputs
from wraparound.analytics.indicators.run import run
from wraparound.apps.access import events
from wraparound.apps.access.models import Appointment, Hub, Site
from wraparound.apps.records.models import Organisation, Patient
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

pytestmark = [pytest.mark.django_db, pytest.mark.xdist_group("app")]
LONDON = ZoneInfo("Europe/London")
STANDARDS = (
    "access_under5_same_day_from_request",
    "access_urgent_within_2_hours",
    "access_same_day_if_necessary",
    "access_within_48_hours_from_request",
)
GP_APPOINTMENT = {
    "gp_dna_rate",
    "booking_lead_days_median",
    "seen_within_48_hours",
    "under5_same_day",
    "hub_minutes_used_rate",
    "hub_minutes_booked_rate",
    *STANDARDS,
}


@pytest.fixture
def warehouse(tmp_path, app_warehouse):
    out = tmp_path / "warehouse"
    shutil.copytree(app_warehouse, out, ignore=shutil.ignore_patterns("results"))
    return out


def _values(manifest, warehouse) -> pl.DataFrame:
    run_dir = warehouse / "results" / "indicators" / manifest["run_id"]
    return pl.read_parquet(run_dir / "indicator_values.parquet")


def _by_indicator(values: pl.DataFrame) -> dict[str, pl.DataFrame]:
    keys = ["indicator_id", "period", "level", "org_id", "subgroup"]
    return {
        i: values.filter(pl.col("indicator_id") == i).sort(keys, nulls_last=True)
        for i in values["indicator_id"].unique().to_list()
    }


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    """Equal, but for the last bits of floating-point sums (a DSR adds in any order)."""
    assert_frame_equal(a, b, check_exact=False, rel_tol=1e-9, abs_tol=1e-9)


def _last_day(warehouse) -> dt.date:
    with connect(Warehouse(warehouse)) as engine:
        enc = engine.table("encounters")
        return engine.to_arrow(enc.aggregate(last=enc.start.max()))["last"][0].as_py().date()


def _book(warehouse) -> dict:
    """Five hub appointments for patients of the warehouse, in its last month of data."""
    last = _last_day(warehouse)
    day = last if last.day == 1 else last - dt.timedelta(days=1)
    hub_org = Organisation.objects.filter(kind="hub").order_by("pk").first()
    hub = Hub.objects.create(organisation=hub_org, neighbourhood=hub_org.parent, name=hub_org.name)
    Site.objects.create(hub=hub, name="Hub site")
    people = list(
        Patient.objects.filter(
            opted_out=False, death_date__isnull=True, neighbourhood=hub_org.parent
        ).order_by("pk")[:5]
    )
    assert len(people) == 5

    def at(hh, mm=0):
        return dt.datetime(day.year, day.month, day.day, hh, mm, tzinfo=LONDON)

    plan = [
        # need, requested, start, status: urgent within 2 hours met / not met
        ("urgent_2h", at(8), at(10), "finished"),
        ("urgent_2h", at(8), at(10, 1), "seen"),
        ("urgent_2h", None, at(11), "finished"),  # no request time: not met in the indicator
        ("same_day", at(8), at(12), "did_not_attend"),  # a DNA: not met
        ("same_day", at(8), at(13), "cancelled_patient"),  # left out
    ]
    for person, (need, requested, start, status) in zip(people, plan, strict=True):
        appt = Appointment.objects.create(
            patient=person,
            hub=hub,
            booking_org=hub_org,
            start=start,
            end=start + dt.timedelta(minutes=15),
            mode="face_to_face",
            slot_type="urgent",
            need=need,
            help_requested_at=requested,
            status=status,
        )
        Appointment.objects.filter(pk=appt.pk).update(booked_at=at(7))
    return {"period": f"{day.year:04d}-{day.month:02d}"}


def test_appointments_are_counted_alike_and_nothing_else_changes(warehouse):
    before = run(warehouse)
    status = {d["id"]: d["status"] for d in before["definitions"]}
    for standard in STANDARDS:
        assert status[standard] == "awaiting data: app_appointments"
    assert status["hub_minutes_used_rate"] == "computed"
    assert "app_appointments" not in before["inputs"]

    # An export with nothing booked: an empty file, still awaiting, every figure the same.
    assert events.export(warehouse) == 0
    assert inputs.read(warehouse).app_appointments is None
    empty = run(warehouse)
    assert [d["status"] for d in empty["definitions"]] == [
        d["status"] for d in before["definitions"]
    ]
    old = _by_indicator(_values(before, warehouse))
    same = _by_indicator(_values(empty, warehouse))
    assert old.keys() == same.keys()
    for key in old:
        _same(old[key], same[key])

    booked = _book(warehouse)
    assert events.export(warehouse) == 5
    table = pq.read_table(paths.app_appointments(warehouse))
    assert table.column("status").to_pylist() == [
        "attended",
        "attended",
        "attended",
        "dna",
        "cancelled",
    ]
    assert table.column("standard_met").to_pylist() == [True, False, None, False, None]
    after = run(warehouse)
    new = _by_indicator(_values(after, warehouse))
    for key in old:
        if key not in GP_APPOINTMENT:
            _same(old[key], new[key])

    def locality(frame, period=booked["period"]):
        row = frame.filter((pl.col("level") == "locality") & (pl.col("period") == period))
        assert row.height == 1
        return row.row(0, named=True)

    # Three attended and one DNA more in the DNA rate's denominator, one DNA more on top.
    dna_old, dna_new = locality(old["gp_dna_rate"]), locality(new["gp_dna_rate"])
    assert dna_new["denominator"] == dna_old["denominator"] + 4
    assert dna_new["numerator"] == dna_old["numerator"] + 1
    # Urgent within 2 hours: 1 met of the 3 attended (one late, one with no request time).
    urgent = locality(new["access_urgent_within_2_hours"])
    assert (urgent["numerator"], urgent["denominator"]) == (1, 3)
    same_day = locality(new["access_same_day_if_necessary"])
    assert (same_day["numerator"], same_day["denominator"]) == (0, 1)
    # Hub minutes used: 3 attended x 15 minutes more than before.
    used_old, used_new = (
        locality(old["hub_minutes_used_rate"]),
        locality(new["hub_minutes_used_rate"]),
    )
    assert used_new["numerator"] == pytest.approx(used_old["numerator"] + 45)


def test_opted_out_patients_are_not_exported(warehouse):
    _book(warehouse)
    first = Appointment.objects.order_by("pk").first()
    Patient.objects.filter(pk=first.patient_id).update(opted_out=True)
    assert events.export(warehouse) == 4
    ids = pq.read_table(paths.app_appointments(warehouse)).column("id").to_pylist()
    assert f"{events.ID_PREFIX}{first.pk}" not in ids


def test_a_malformed_appointments_file_is_a_clear_error(warehouse):
    target = paths.app_appointments(warehouse)
    target.parent.mkdir(parents=True)
    pq.write_table(pl.DataFrame({"id": ["x"]}).to_arrow(), target)
    with pytest.raises(inputs.InputError, match="app appointments need columns"):
        inputs.read(warehouse)
