"""``engine.rows_of``: the rows of a few patients, read once and held, on every engine (the
``engine`` fixture). An incremental app refresh reads the touched patients' encounters from
several steps through it, so it must give exactly what a filter on the table gives, and
answer later asks from what it holds, not from the warehouse again."""

from __future__ import annotations

import datetime as dt

import pytest
from builders import admission, person, write

from wraparound.warehouse.engine import DirectCareTableError

START = dt.datetime(2026, 3, 1, 9)


@pytest.fixture(scope="module")
def rows_warehouse(tmp_path_factory):
    people = [person(p, 70) for p in ("a", "b", "c")]
    encounters = {
        "encounters": [
            admission("a", START, START + dt.timedelta(days=2)),
            admission("a", START + dt.timedelta(days=9), None, kind="ae_attendance"),
            admission("b", START, None),
            admission("c", START + dt.timedelta(days=1), None),
        ]
    }
    return write(tmp_path_factory.mktemp("rows_of") / "warehouse", *people, encounters)


def _sorted(table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def test_rows_of_is_the_filtered_table_and_is_read_once(engine, rows_warehouse):
    wanted = frozenset({"a", "c", "nobody"})
    with engine.connect(rows_warehouse) as opened:
        enc = opened.table("encounters")
        expected = _sorted(opened.to_arrow(enc.filter(enc.patient_id.isin(sorted(wanted)))))
        held = opened.rows_of("encounters", wanted)
        assert _sorted(opened.to_arrow(held)) == expected
        assert {r["patient_id"] for r in expected} == {"a", "c"} and len(expected) == 3
        assert held.schema() == enc.schema()
        # The same patients again: what is held, not another read of the warehouse.
        assert opened.rows_of("encounters", frozenset({"nobody", "c", "a"})) is held
        # Other patients, or another table, are read for themselves.
        assert _sorted(opened.to_arrow(opened.rows_of("encounters", frozenset({"b"})))) == [
            r for r in _sorted(opened.to_arrow(enc)) if r["patient_id"] == "b"
        ]
        assert opened.to_arrow(opened.rows_of("patients", wanted)).num_rows == 2


def test_rows_of_refuses_direct_care_tables(engine, rows_warehouse):
    with engine.connect(rows_warehouse) as opened, pytest.raises(DirectCareTableError):
        opened.rows_of("identity", frozenset({"a"}))
