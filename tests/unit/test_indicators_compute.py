"""Every indicator on a hand-built warehouse of a few patients, against answers worked by hand.

The locality W has one neighbourhood N and practices P1 and P2. Data run from January 2024 to
December 2025, so 12-month indicators are reported from December 2024.

- p1: woman born 1960-06-15, P1, most deprived quintile; diabetes; HbA1c 50 (2024-03-10)
  then 70 (2024-11-05); A&E 2025-03-03; outpatient (specialty 100) 2025-03-02; in the
  high-needs stream with moderate frailty; app: named GP 2024-02-01, LTC review 2024-01-15.
- p2: man born 1950-01-01, P1, least deprived; diabetes; HbA1c 55 (2024-06-01); emergency
  admission 2025-03-05 to 2025-03-25 (20 days: 6 beyond the 14-day trim point). GP
  appointments in May 2025, booked -> seen: asked to be seen urgently, 05-05 -> 05-05
  attended, 05-06 -> 05-08 attended (two days), 05-12 -> 05-15 attended (three days),
  05-19 -> 05-20 not attended, 05-21 -> 05-22 cancelled; routine 05-01 -> 05-02 attended;
  not recorded 05-26 -> 05-26 attended. Seen within 48 hours: 2 of 4.
- p3: like p1 but opted out of data sharing, with an A&E attendance: never counted.
- p4: girl born 2022-05-01, P2; GP appointments in March 2025: attended same day (asked to
  be seen urgently), attended three days after booking (routine), and one not attended two
  days after booking (urgent). Seen within 48 hours: 1 of 2.
- p5: man born 1940-03-01, P2; atrial fibrillation; apixaban issued 2024-12-01; an
  outpatient attendance with no specialty recorded 2025-03-20.

Every answer must hold on every engine: the runs below are made once per engine (the
``engine`` fixture), with ``WRAPAROUND_ENGINE`` selecting it as a deployment would.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from builders import write_tables
from scipy.stats import chi2, norm

from wraparound import clinical
from wraparound.analytics.indicators import definition
from wraparound.analytics.indicators.run import run
from wraparound.warehouse.store import Warehouse

UTC = dt.UTC
DM = clinical.codelist("dm_cod")[0]
AF = clinical.codelist("afib_cod")[0]
HBA1C = clinical.observation_codes()["hba1c"].code
APIXABAN = "703908001"


def _ts(day: str, hour: int = 10) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _d(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


def _encounter(
    patient,
    kind,
    start,
    end=None,
    booked=None,
    status="attended",
    specialty=None,
    clinician=None,
    urgent=None,
):
    return {
        "patient_id": patient,
        "kind": kind,
        "start": _ts(start),
        "end": _ts(end) if end else _ts(start, 11),
        "booked_at": _ts(booked) if booked else None,
        "status": status,
        "specialty": specialty,
        "practitioner_role_id": clinician,
        "urgent_request": urgent,
    }


def build(root) -> Warehouse:
    patients = [
        ("p1", "1960-06-15", "female", "A", False),
        ("p2", "1950-01-01", "male", "B", False),
        ("p3", "1960-06-15", "female", "A", True),
        ("p4", "2022-05-01", "female", "A", False),
        ("p5", "1940-03-01", "male", "B", False),
    ]
    practice = {"p1": "P1", "p2": "P1", "p3": "P1", "p4": "P2", "p5": "P2"}
    return write_tables(
        root,
        {
            "organisations": [
                {"org_id": "W", "kind": "locality"},
                {"org_id": "N", "kind": "neighbourhood", "parent_id": "W"},
                {"org_id": "P1", "kind": "practice", "parent_id": "N"},
                {"org_id": "P2", "kind": "practice", "parent_id": "N"},
            ],
            "areas": [{"lsoa": "A", "imd_decile": 1}, {"lsoa": "B", "imd_decile": 10}],
            "patients": [
                {"patient_id": p, "birth_date": _d(b), "sex": s, "lsoa": a, "opted_out": o}
                for p, b, s, a, o in patients
            ],
            "registrations": [
                {
                    "patient_id": p,
                    "practice_id": practice[p],
                    "start_date": max(_d("2000-01-01"), _d(b)),
                }
                for p, b, *_ in patients
            ],
            "conditions": [
                {"patient_id": p, "system": "snomed", "code": DM, "onset_date": _d("2015-01-01")}
                for p in ("p1", "p2", "p3")
            ]
            + [
                {"patient_id": "p5", "system": "snomed", "code": AF, "onset_date": _d("2019-01-01")}
            ],
            "observations": [
                {"patient_id": p, "system": "snomed", "code": HBA1C, "date": _d(day), "value": v}
                for p, day, v in [
                    ("p1", "2024-03-10", 50),
                    ("p1", "2024-11-05", 70),
                    ("p2", "2024-06-01", 55),
                    ("p3", "2024-06-01", 40),
                ]
            ],
            "medications": [
                {
                    "patient_id": "p5",
                    "system": "snomed",
                    "code": APIXABAN,
                    "start_date": _d("2024-12-01"),
                    "kind": "request",
                }
            ],
            "encounters": [
                _encounter("p1", "community", "2024-01-01"),
                _encounter("p1", "community", "2025-12-31"),
                _encounter("p1", "ae_attendance", "2025-03-03"),
                _encounter("p3", "ae_attendance", "2025-03-03"),
                _encounter("p1", "outpatient", "2025-03-02", specialty="100"),
                _encounter("p5", "outpatient", "2025-03-20"),
                _encounter("p2", "emergency_admission", "2025-03-05", end="2025-03-25"),
                _encounter(
                    "p4",
                    "gp_appointment",
                    "2025-03-10",
                    booked="2025-03-10",
                    clinician="R1",
                    urgent=True,
                ),
                _encounter(
                    "p4",
                    "gp_appointment",
                    "2025-03-12",
                    booked="2025-03-09",
                    clinician="R2",
                    urgent=False,
                ),
                _encounter(
                    "p4",
                    "gp_appointment",
                    "2025-03-20",
                    booked="2025-03-18",
                    status="dna",
                    clinician="R1",
                    urgent=True,
                ),
                *[
                    _encounter("p2", "gp_appointment", seen, booked=booked, status=s, urgent=u)
                    for booked, seen, s, u in [
                        ("2025-05-05", "2025-05-05", "attended", True),
                        ("2025-05-06", "2025-05-08", "attended", True),
                        ("2025-05-12", "2025-05-15", "attended", True),
                        ("2025-05-19", "2025-05-20", "dna", True),
                        ("2025-05-21", "2025-05-22", "cancelled", True),
                        ("2025-05-01", "2025-05-02", "attended", False),
                        ("2025-05-26", "2025-05-26", "attended", None),
                    ]
                ],
            ],
        },
    )


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny") / "warehouse"
    build(root)
    return root


def _add_app_and_risk(root):
    (root / "app_events").mkdir()
    pq.write_table(
        pa.table(
            {
                "patient_id": ["p1", "p1", "p3"],
                "kind": ["named_gp_assigned", "ltc_review", "ltc_review"],
                "date": pa.array(
                    [_d("2024-02-01"), _d("2024-01-15"), _d("2024-01-15")], pa.date32()
                ),
            }
        ),
        root / "app_events" / "export-1.parquet",
    )
    # The referrals app's steps: p1's dermatology referral sent after advice (counted once,
    # though it entered "referred" twice), p2's advice accepted with no referral (not counted),
    # and r3, which the dermatology service opened at rheumatology (410) by redirecting r1:
    # the same referral continuing, not a second one sent.
    (root / "app_referrals").mkdir()
    pq.write_table(
        pa.table(
            {
                "referral_id": ["r1", "r1", "r1", "r2", "r2", "r3", "r3"],
                "patient_id": ["p1", "p1", "p1", "p2", "p2", "p1", "p1"],
                "transition": [
                    "request_advice",
                    "convert",
                    "convert",
                    "request_advice",
                    "accept_advice",
                    "redirect_in",
                    "receive",
                ],
                "to_state": [
                    "advice_requested",
                    "referred",
                    "referred",
                    "advice_requested",
                    "advice_accepted",
                    "referred",
                    "awaiting_triage",
                ],
                "at": [
                    _ts("2025-03-03"),
                    _ts("2025-03-10"),
                    _ts("2025-04-10"),
                    _ts("2025-03-03"),
                    _ts("2025-03-05"),
                    _ts("2025-03-20"),
                    _ts("2025-03-20"),
                ],
                "treatment_function": ["330", "330", "330", "330", "330", "410", "410"],
            }
        ),
        root / "app_referrals" / "referral_events.parquet",
    )
    run_dir = root / "results" / "risk" / "r1"
    run_dir.mkdir(parents=True)
    pq.write_table(
        pa.table(
            {
                "patient_id": ["p1", "p2"],
                "stream": ["high_needs", "less_complex"],
                "efi_category": ["moderate", "fit"],
            }
        ),
        run_dir / "scores.parquet",
    )
    (root / "results" / "risk" / "latest.json").write_text(json.dumps({"run_id": "r1"}))


@pytest.fixture(scope="module")
def published(engine, tmp_path_factory):
    """The whole library over the tiny warehouse with an app export and a risk run, on each
    engine: one run for every case (each Spark query costs seconds)."""
    root = tmp_path_factory.mktemp(f"tiny_app_{engine.name}") / "warehouse"
    build(root)
    _add_app_and_risk(root)
    with engine.selected():
        manifest = run(root, out=root / "out")
    return manifest, root / "out" / manifest["run_id"]


@pytest.fixture(scope="module")
def without_app(engine, tiny, tmp_path_factory):
    """The indicators that need the app's export or a risk run, over the tiny warehouse with
    neither, beside one that needs nothing (a run with nothing to publish is refused)."""
    out = tmp_path_factory.mktemp(f"out_{engine.name}")
    library = tuple(i for i in definition.load() if i.requires or i.id == "gp_dna_rate")
    with engine.selected():
        manifest = run(tiny, out=out, library=library)
    return manifest, out / manifest["run_id"]


def test_a_run_with_nothing_to_publish_is_refused_and_writes_nothing(tiny, tmp_path):
    """Only indicators awaiting data: one clear sentence, and no run, no latest."""
    needing = tuple(i for i in definition.load() if i.requires)
    with pytest.raises(ValueError, match=r"has a figure to publish \(\d+ awaiting data"):
        run(tiny, out=tmp_path / "out", library=needing)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def _value(run_dir, indicator, period, org, level="practice", subgroup="all"):
    values = pl.read_parquet(run_dir / "indicator_values.parquet")
    rows = values.filter(
        (pl.col("indicator_id") == indicator)
        & (pl.col("period") == period)
        & (pl.col("org_id") == org)
        & (pl.col("level") == level)
        & (pl.col("subgroup") == subgroup)
    )
    assert rows.height == 1, (indicator, period, org, rows)
    return rows.row(0, named=True)


def test_latest_hba1c_counts_not_any_hba1c(published):
    _, d = published
    # p1's latest (70) fails, p2's (55) passes; p3 is opted out.
    row = _value(d, "diabetes_hba1c_58", "2025-03", "P1")
    assert (row["numerator"], row["denominator"], row["value"]) == (1, 2, 50.0)
    # By June 2025 p2's reading is more than 12 months old.
    assert _value(d, "diabetes_hba1c_58", "2025-06", "P1")["numerator"] == 0


def test_twelve_month_indicators_start_when_the_look_back_is_complete(published):
    _, d = published
    values = pl.read_parquet(d / "indicator_values.parquet")
    first = values.filter(pl.col("indicator_id") == "diabetes_hba1c_58")["period"].min()
    assert first == "2024-12"
    rates = values.filter(pl.col("indicator_id") == "ae_attendances_rate")
    assert rates["period"].min() == "2024-01"


def test_anticoagulation_within_12_months(published):
    _, d = published
    assert _value(d, "af_anticoagulated", "2025-03", "P2")["value"] == 100.0
    assert _value(d, "af_anticoagulated", "2025-12", "P2")["value"] == 0.0


def test_access_indicators(published):
    _, d = published
    dna = _value(d, "gp_dna_rate", "2025-03", "P2")
    assert (dna["numerator"], dna["denominator"]) == (1, 3)
    same_day = _value(d, "under5_same_day", "2025-03", "P2")
    assert (same_day["numerator"], same_day["denominator"]) == (1, 2)
    assert _value(d, "booking_lead_days_median", "2025-03", "P2")["value"] == 1.5


def test_seen_within_48_hours_counts_urgent_requests_only(published):
    """Of appointments the patient asked to be seen urgently for, attended or not, those
    attended within two calendar days of booking (see the module docstring)."""
    _, d = published
    # p4: urgent same day (seen), urgent DNA (not seen); the routine one does not count.
    march = _value(d, "seen_within_48_hours", "2025-03", "P2")
    assert (march["numerator"], march["denominator"]) == (1, 2)
    # p2: same day and two days count; three days and the DNA do not; the cancelled, routine
    # and not-recorded appointments are not in the denominator.
    may = _value(d, "seen_within_48_hours", "2025-05", "P1")
    assert (may["numerator"], may["denominator"], may["value"]) == (2, 4, 50.0)
    locality = _value(d, "seen_within_48_hours", "2025-05", "W", level="locality")
    assert (locality["numerator"], locality["denominator"]) == (2, 4)
    # No urgent requests at P2 in May: no value, rather than a value of nothing.
    values = pl.read_parquet(d / "indicator_values.parquet")
    assert values.filter(
        (pl.col("indicator_id") == "seen_within_48_hours")
        & (pl.col("period") == "2025-05")
        & (pl.col("org_id") == "P2")
    ).is_empty()


def test_access_by_clinician_within_the_practice(published):
    _, d = published
    r1 = _value(d, "gp_dna_rate", "2025-03", "R1", level="clinician")
    assert (r1["numerator"], r1["denominator"], r1["parent_id"]) == (1, 2, "P2")
    assert r1["peer_value"] == pytest.approx(100 / 3)
    assert not r1["publishable"]


def test_rates_per_1000_person_years(published):
    _, d = published
    march = 31 / 365.25
    older = _value(d, "emergency_admissions_65plus_rate", "2025-03", "P1")
    assert older["numerator"] == 1
    assert older["denominator"] == pytest.approx(march)  # p2 only: p1 is 64
    assert older["value"] == pytest.approx(1000 / march)
    beds = _value(d, "excess_bed_days_rate", "2025-03", "P1")
    assert beds["numerator"] == 6
    assert beds["denominator"] == pytest.approx(2 * march)  # p1 and p2, not p3


def test_opted_out_patients_are_never_counted(published):
    _, d = published
    ae = _value(d, "ae_attendances_rate", "2025-03", "W", level="locality")
    assert ae["numerator"] == 1  # p1's; p3's is not counted


def test_dsr_not_shown_under_ten_events(published):
    _, d = published
    row = _value(d, "emergency_admissions_dsr", "2025-03", "W", level="locality")
    assert row["numerator"] == 1
    assert row["value"] is None and row["lower95"] is None


def test_confidence_limits_of_a_proportion_and_a_rate(published):
    """Wilson limits of a proportion and exact Poisson limits of a rate, written out from
    their formulas over the hand-worked counts."""
    _, d = published
    z = norm.ppf(0.975)
    hba1c = _value(d, "diabetes_hba1c_58", "2025-03", "P1")  # 1 of 2
    root = z * (z * z + 2) ** 0.5  # z sqrt(z^2 + 4 x (1 - x/n)) with x = 1, n = 2
    assert hba1c["lower95"] == pytest.approx(100 * (2 + z * z - root) / (2 * (2 + z * z)))
    assert hba1c["upper95"] == pytest.approx(100 * (2 + z * z + root) / (2 * (2 + z * z)))
    beds = _value(d, "excess_bed_days_rate", "2025-03", "P1")  # 6 over 2 x 31 days
    person_years = 2 * 31 / 365.25
    assert beds["value"] == pytest.approx(1000 * 6 / person_years)
    assert beds["lower95"] == pytest.approx(1000 * chi2.ppf(0.025, 12) / 2 / person_years)
    assert beds["upper95"] == pytest.approx(1000 * chi2.ppf(0.975, 14) / 2 / person_years)


# A directly standardised rate needs 10 events to be shown, so it has its own warehouse: in
# March 2025 at practice P1, d1 (man, 70 on 1 March: ESP band 70-74, weight 5,000) has ten
# emergency admissions; d2 (woman, 30: band 30-34, weight 6,500) has two; d3 (woman, 95: band
# 90+, weight 1,000) none; d4 (sex unknown) one, which a rate standardised by sex leaves out.
# Each registered person gives 31/365.25 person-years. The ESP weights sum to 100,000 per
# sex, so to 200,000 over the two sexes.
DSR_PEOPLE = [
    ("d1", "1954-06-15", "male", 10),
    ("d2", "1994-06-15", "female", 2),
    ("d3", "1930-01-01", "female", 0),
    ("d4", "1960-01-01", "unknown", 1),
]


@pytest.fixture(scope="module")
def dsr_run(engine, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"dsr_{engine.name}") / "warehouse"
    admissions = [
        _encounter(pid, "emergency_admission", f"2025-03-{day + 1:02d}")
        for pid, _, _, n in DSR_PEOPLE
        for day in range(n)
    ]
    write_tables(
        root,
        {
            "organisations": [
                {"org_id": "W", "kind": "locality"},
                {"org_id": "N", "kind": "neighbourhood", "parent_id": "W"},
                {"org_id": "P1", "kind": "practice", "parent_id": "N"},
            ],
            "areas": [{"lsoa": "A", "imd_decile": 1}],
            "patients": [
                {"patient_id": p, "birth_date": _d(b), "sex": s, "lsoa": "A", "opted_out": False}
                for p, b, s, _ in DSR_PEOPLE
            ],
            "registrations": [
                {"patient_id": p, "practice_id": "P1", "start_date": _d("2000-01-01")}
                for p, *_ in DSR_PEOPLE
            ],
            # The data run from April 2024 to 31 March 2025: whole months, and a whole
            # financial year for the outcomes' baseline.
            "encounters": [
                *admissions,
                _encounter("d3", "community", "2024-04-01"),
                _encounter("d3", "community", "2025-03-31"),
            ],
        },
    )
    dsr = tuple(i for i in definition.load() if i.id == "emergency_admissions_dsr")
    with engine.selected():
        manifest = run(root, out=root / "out", library=dsr)
    return root / "out" / manifest["run_id"]


def test_directly_standardised_rate(dsr_run):
    person_years = 31 / 365.25
    strata = [(5000, 10), (6500, 2), (1000, 0)]  # (ESP weight, events) per age band and sex
    dsr = sum(w * o / person_years for w, o in strata) / 200_000
    variance = sum(w * w * o / person_years**2 for w, o in strata) / 200_000**2
    z = norm.ppf(0.975)
    byar_lower = 12 * (1 - 1 / (9 * 12) - z / (3 * 12**0.5)) ** 3
    byar_upper = 13 * (1 - 1 / (9 * 13) + z / (3 * 13**0.5)) ** 3
    for level, org in (("locality", "W"), ("neighbourhood", "N"), ("practice", "P1")):
        row = _value(dsr_run, "emergency_admissions_dsr", "2025-03", org, level=level)
        assert row["numerator"] == 12  # d4's admission is not standardised
        assert row["denominator"] == pytest.approx(3 * person_years)
        assert row["value"] == pytest.approx(1000 * dsr)
        assert row["value"] == pytest.approx(1000 * 63_000 * 365.25 / 31 / 200_000)
        assert row["lower95"] == pytest.approx(
            1000 * (dsr + (variance / 12) ** 0.5 * (byar_lower - 12))
        )
        assert row["upper95"] == pytest.approx(
            1000 * (dsr + (variance / 12) ** 0.5 * (byar_upper - 12))
        )


def test_rates_by_specialty_include_practices_with_none(published):
    _, d = published
    assert (
        _value(d, "outpatient_attendances_by_specialty", "2025-03", "P1", subgroup="100")[
            "numerator"
        ]
        == 1
    )
    assert (
        _value(d, "outpatient_attendances_by_specialty", "2025-03", "P2", subgroup="100")["value"]
        == 0.0
    )


def test_an_attendance_without_a_specialty_is_its_own_group(published):
    """Never the whole-practice ("all") row, which a scorecard would show as the practice's."""
    _, d = published
    row = _value(d, "outpatient_attendances_by_specialty", "2025-03", "P2", subgroup="unknown")
    assert row["numerator"] == 1
    values = pl.read_parquet(d / "indicator_values.parquet")
    subgroups = set(
        values.filter(pl.col("indicator_id") == "outpatient_attendances_by_specialty")["subgroup"]
    )
    assert subgroups == {"100", "unknown"}


def test_levels_add_up(published):
    _, d = published
    hood = _value(d, "gp_dna_rate", "2025-03", "N", level="neighbourhood")
    locality = _value(d, "gp_dna_rate", "2025-03", "W", level="locality")
    assert hood["numerator"] == locality["numerator"] == 1
    assert hood["parent_id"] == "W"


def test_inequalities_by_quintile(published):
    _, d = published
    gaps = pl.read_parquet(d / "inequality_gaps.parquet").filter(
        (pl.col("indicator_id") == "diabetes_hba1c_58")
        & (pl.col("period") == "2025-03")
        & (pl.col("level") == "locality")
    )
    # Most deprived (p1): 0%; least deprived (p2): 100%.
    assert gaps.row(0, named=True)["gap"] == -100.0


def test_app_indicators_await_data_without_the_app_export(without_app):
    manifest, d = without_app
    status = {x["id"]: x["status"] for x in manifest["definitions"]}
    assert status["ltc_annual_review"] == "awaiting data: app_events"
    assert status["high_needs_named_gp"] == "awaiting data: app_events, risk"
    values = pl.read_parquet(d / "indicator_values.parquet")
    assert "ltc_annual_review" not in values["indicator_id"].to_list()


def test_referrals_per_1000_by_specialty_count_referrals_sent(published):
    """Real referral events, not outpatient attendances: one referral sent by p1 (P1) in
    March 2025, dermatology (treatment function 330); advice that avoided a referral is not
    a referral; in April the same referral entering "referred" again is not counted twice,
    nor is the referral rheumatology received when dermatology redirected it."""
    manifest, d = published
    status = {x["id"]: x["status"] for x in manifest["definitions"]}
    assert status["referrals_by_specialty"] == "computed"
    assert _value(d, "referrals_by_specialty", "2025-03", "P1", subgroup="330")["numerator"] == 1
    values = pl.read_parquet(d / "indicator_values.parquet").filter(
        (pl.col("indicator_id") == "referrals_by_specialty") & (pl.col("level") == "practice")
    )
    assert values["numerator"].sum() == 1
    assert set(values["subgroup"]) == {"330"}


def test_app_and_risk_indicators_when_present(published):
    manifest, d = published
    status = {x["id"]: x["status"] for x in manifest["definitions"]}
    assert status["ltc_annual_review"] == "computed"
    assert manifest["inputs"]["risk"]["run_id"] == "r1"
    # LTC registers: p1, p2 (diabetes) at P1; p1 reviewed 2024-01-15 (p3 is opted out).
    review = _value(d, "ltc_annual_review", "2024-12", "P1")
    assert (review["numerator"], review["denominator"]) == (1, 2)
    assert _value(d, "ltc_annual_review", "2025-01", "P1")["numerator"] == 0
    named = _value(d, "high_needs_named_gp", "2024-02", "P1")
    assert (named["numerator"], named["denominator"]) == (1, 1)
    assert _value(d, "high_needs_named_gp", "2024-01", "P1")["numerator"] == 0
    frailty = _value(d, "frailty_assessment", "2025-03", "P1")
    assert (frailty["numerator"], frailty["denominator"]) == (0, 1)


def test_public_tables_are_disclosure_controlled(published):
    _, d = published
    public = pl.read_parquet(d / "public" / "indicator_values.parquet")
    assert set(public["level"].unique()) <= {"practice", "neighbourhood", "locality"}
    small = public.filter(pl.col("suppressed"))
    assert small.height and small["value"].null_count() == small.height
    shown = public.filter(~pl.col("suppressed") & pl.col("numerator").is_not_null())
    assert (shown["numerator"] % 5 == 0).all()


def test_manifest_names_snapshot_and_definition_hashes(published):
    manifest, d = published
    assert manifest["warehouse"]["snapshot"] == 1
    assert len(manifest["definitions"]) >= 20
    assert all(len(x["sha256"]) == 64 for x in manifest["definitions"])
    latest = json.loads((d.parent / "latest.json").read_text())
    assert latest["run_id"] == manifest["run_id"]
    assert (d / "outliers_latest.csv").exists()


def test_inequality_gaps_come_out_in_one_order_whatever_the_input_order():
    """A full join's row order varies from run to run; the published gaps must not."""
    from wraparound.analytics.indicators import levels

    rows = pl.DataFrame(
        [
            {
                "indicator_id": i,
                "period": p,
                "subgroup": "all",
                "level": lvl,
                "org_id": org,
                "imd_quintile": q,
                "value": float(n),
            }
            for n, (i, p, lvl, org, q) in enumerate(
                (i, p, lvl, org, q)
                for i in ("a", "b")
                for p in ("2025-01", "2025-02")
                for lvl, org in (
                    ("locality", "L"),
                    ("neighbourhood", "N1"),
                    ("neighbourhood", "N2"),
                )
                for q in (1, 3, 5)
                if not (org == "N2" and q == 5)  # one end missing: no least-deprived value
            )
        ]
    )
    once = levels.gaps(rows)
    for seed in range(5):
        assert levels.gaps(rows.sample(fraction=1.0, shuffle=True, seed=seed)).equals(once)
    keys = ["indicator_id", "period", "subgroup", "level", "org_id"]
    assert once.equals(once.sort(keys, nulls_last=True))
    gap = once.filter(
        (pl.col("indicator_id") == "a")
        & (pl.col("period") == "2025-01")
        & (pl.col("level") == "locality")
    ).row(0, named=True)
    assert (gap["most_deprived"], gap["least_deprived"], gap["gap"]) == (0.0, 2.0, -2.0)
    assert once.filter(pl.col("org_id") == "N2")["least_deprived"].is_null().all()
