"""Social-care contacts are a kind of their own: the risk model's features are the same with
and without them (none is counted as a community, GP, outpatient or hospital contact)."""

from __future__ import annotations

import datetime as dt
import shutil

import pyarrow.compute as pc

from wraparound.analytics.features import features
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

INDEX_DATE = dt.date(2025, 4, 1)


def test_features_ignore_social_care(small_warehouse, tmp_path):
    copy = tmp_path / "warehouse"
    shutil.copytree(small_warehouse, copy)
    warehouse = Warehouse(copy)
    encounters = warehouse.read("encounters")
    social = pc.equal(encounters["kind"], "social_care")
    in_window = pc.and_(
        social,
        pc.less(
            encounters["start"],
            pc.cast(
                dt.datetime.combine(INDEX_DATE, dt.time(), tzinfo=dt.UTC), encounters["start"].type
            ),
        ),
    )
    assert pc.sum(in_window).as_py() > 0, "the locality has social care before the index date"
    with connect(warehouse) as engine:
        before = features(engine, INDEX_DATE).sort_by("patient_id")
    with warehouse.transaction({"note": "test: no social care"}) as tx:
        tx.append("encounters", encounters.filter(pc.invert(social)))
    with connect(warehouse) as engine:
        after = features(engine, INDEX_DATE).sort_by("patient_id")
    assert before.equals(after)
