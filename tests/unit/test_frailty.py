"""The electronic Frailty Index against its specification (Clegg et al. 2016), on
hand-built records: category boundaries, the 65+ rule, and the polypharmacy rule.

Every case is a patient of one tiny warehouse, and the eFI is taken once per engine (the
``engine`` fixture): each case must give its hand-worked answer on DuckDB and on Spark."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import AS_OF, coded_deficits, medicine, person, write

from wraparound import clinical
from wraparound.analytics import frailty
from wraparound.analytics.population import registered_on

CATEGORIES = [
    (0, "fit"),
    (4, "fit"),
    (5, "mild"),
    (8, "mild"),
    (9, "moderate"),
    (12, "moderate"),
    (13, "severe"),
    (20, "severe"),
]


def _medicine_codes(n: int) -> list[str]:
    return [m.code for m in clinical.medications()][:n]


POLYPHARMACY = [
    # five distinct medicines in the last year
    ([(c, AS_OF - dt.timedelta(days=10)) for c in _medicine_codes(5)], True),
    # four distinct medicines, one of them issued three times: still four
    (
        [(c, AS_OF - dt.timedelta(days=10)) for c in _medicine_codes(4)]
        + [(_medicine_codes(1)[0], AS_OF - dt.timedelta(days=d)) for d in (50, 100)],
        False,
    ),
    # the fifth was issued 365 days before: outside the 12 months up to the date
    (
        [(c, AS_OF - dt.timedelta(days=10)) for c in _medicine_codes(4)]
        + [(_medicine_codes(5)[4], AS_OF - dt.timedelta(days=365))],
        False,
    ),
    # ... but 364 days before is inside, and the date itself counts
    (
        [(c, AS_OF) for c in _medicine_codes(4)]
        + [(_medicine_codes(5)[4], AS_OF - dt.timedelta(days=364))],
        True,
    ),
    # the fifth was issued after the date
    (
        [(c, AS_OF - dt.timedelta(days=10)) for c in _medicine_codes(4)]
        + [(_medicine_codes(5)[4], AS_OF + dt.timedelta(days=1))],
        False,
    ),
]


def _cases() -> list[dict]:
    """Every case's patient: ``cat<n>`` with n deficits at 70; ``young`` (64) and ``old``
    (65) with 13 each; ``late`` with 3 recorded the day after; ``poly<i>`` with the i-th
    polypharmacy case's issues at 75."""
    parts = []
    for n, _ in CATEGORIES:
        parts += [person(f"cat{n}", 70), {"conditions": coded_deficits(f"cat{n}", n)}]
    parts += [
        person("young", 64),
        person("old", 65),
        {"conditions": coded_deficits("young", 13) + coded_deficits("old", 13)},
        person("late", 80),
        {"conditions": coded_deficits("late", 3, onset=AS_OF + dt.timedelta(days=1))},
    ]
    for i, (issues, _) in enumerate(POLYPHARMACY):
        pid = f"poly{i}"
        parts += [
            person(pid, 75),
            {"medications": [medicine(pid, code, day) for code, day in issues]},
        ]
    return parts


@pytest.fixture(scope="module")
def cases_warehouse(tmp_path_factory):
    return write(tmp_path_factory.mktemp("efi") / "warehouse", *_cases())


@pytest.fixture(scope="module")
def efi_rows(engine, cases_warehouse) -> dict[str, dict]:
    """The eFI of every case patient at ``AS_OF``, on each engine."""
    with engine.connect(cases_warehouse) as opened:
        people = registered_on(opened, AS_OF).select("patient_id", "age")
        rows = opened.to_arrow(frailty.efi(opened, people, AS_OF)).to_pylist()
    return {r["patient_id"]: r for r in rows}


@pytest.mark.parametrize(("deficits", "category"), CATEGORIES)
def test_category_boundaries(efi_rows, deficits, category):
    row = efi_rows[f"cat{deficits}"]
    assert row["efi_deficits"] == deficits
    assert row["efi"] == pytest.approx(deficits / 36)
    assert row["efi_category"] == category


def test_under_65_gets_no_score_but_keeps_findings(efi_rows):
    assert efi_rows["young"]["efi"] is None and efi_rows["young"]["efi_category"] is None
    assert efi_rows["young"]["efi_deficits"] == 13
    assert efi_rows["old"]["efi_category"] == "severe"


def test_deficits_recorded_after_the_date_do_not_count(efi_rows):
    assert efi_rows["late"]["efi_deficits"] == 0


@pytest.mark.parametrize(
    ("case", "present"), [(i, present) for i, (_, present) in enumerate(POLYPHARMACY)]
)
def test_polypharmacy_counts_distinct_medicines_in_the_last_year(efi_rows, case, present):
    row = efi_rows[f"poly{case}"]
    assert row["efi_polypharmacy"] == int(present)
    assert row["efi_deficits"] == int(present)


def test_every_case_patient_has_a_row(efi_rows):
    assert len(efi_rows) == len(CATEGORIES) + 3 + len(POLYPHARMACY)


def test_every_deficit_has_a_column():
    assert len(frailty.deficit_columns()) == clinical.EFI_DEFICIT_COUNT
