"""The electronic Frailty Index against its specification (Clegg et al. 2016), on
hand-built records: category boundaries, the 65+ rule, and the polypharmacy rule."""

from __future__ import annotations

import datetime as dt

import pytest
from test_features_records import AS_OF, coded_deficits, medicine, person, write

from wraparound import clinical
from wraparound.analytics import frailty
from wraparound.analytics.population import registered_on
from wraparound.warehouse.engine import connect


def efi_rows(wh, as_of=AS_OF) -> dict[str, dict]:
    with connect(wh) as engine:
        people = registered_on(engine, as_of).select("patient_id", "age")
        rows = engine.to_arrow(frailty.efi(engine, people, as_of)).to_pylist()
    return {r["patient_id"]: r for r in rows}


@pytest.mark.parametrize(
    ("deficits", "category"),
    [
        (0, "fit"),
        (4, "fit"),
        (5, "mild"),
        (8, "mild"),
        (9, "moderate"),
        (12, "moderate"),
        (13, "severe"),
        (20, "severe"),
    ],
)
def test_category_boundaries(tmp_path, deficits, category):
    wh = write(tmp_path, person("p", 70), {"conditions": coded_deficits("p", deficits)})
    row = efi_rows(wh)["p"]
    assert row["efi_deficits"] == deficits
    assert row["efi"] == pytest.approx(deficits / 36)
    assert row["efi_category"] == category


def test_under_65_gets_no_score_but_keeps_findings(tmp_path):
    wh = write(
        tmp_path,
        person("young", 64),
        person("old", 65),
        {"conditions": coded_deficits("young", 13) + coded_deficits("old", 13)},
    )
    rows = efi_rows(wh)
    assert rows["young"]["efi"] is None and rows["young"]["efi_category"] is None
    assert rows["young"]["efi_deficits"] == 13
    assert rows["old"]["efi_category"] == "severe"


def test_deficits_recorded_after_the_date_do_not_count(tmp_path):
    wh = write(
        tmp_path,
        person("p", 80),
        {"conditions": coded_deficits("p", 3, onset=AS_OF + dt.timedelta(days=1))},
    )
    assert efi_rows(wh)["p"]["efi_deficits"] == 0


def _medicine_codes(n: int) -> list[str]:
    return [m.code for m in clinical.medications()][:n]


@pytest.mark.parametrize(
    ("issues", "present"),
    [
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
    ],
)
def test_polypharmacy_counts_distinct_medicines_in_the_last_year(tmp_path, issues, present):
    wh = write(
        tmp_path,
        person("p", 75),
        {"medications": [medicine("p", code, day) for code, day in issues]},
    )
    row = efi_rows(wh)["p"]
    assert row["efi_polypharmacy"] == int(present)
    assert row["efi_deficits"] == int(present)


def test_every_deficit_has_a_column():
    assert len(frailty.deficit_columns()) == clinical.EFI_DEFICIT_COUNT
