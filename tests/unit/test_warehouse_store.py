"""The warehouse store: atomic snapshots, schema conformance, and the upsert rule."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from wraparound.warehouse import schema
from wraparound.warehouse.engine import connect
from wraparound.warehouse.merge import upsert
from wraparound.warehouse.store import Warehouse, WarehouseError

T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


def areas(ids, updated=None, deciles=None, versions=None):
    n = len(ids)
    return pa.table(
        {
            "id": ids,
            "lsoa": ids,
            "imd_decile": pa.array(deciles or [5] * n, pa.int8()),
            "updated_at": pa.array(updated or [T0] * n, schema.TS),
            "version_id": pa.array(versions or [None] * n, pa.int64()),
            "batch": pa.array([0] * n, pa.int64()),
        }
    )


def load(wh, table):
    with connect(wh) as engine, wh.transaction({"source": "test"}) as tx:
        return upsert(engine, tx, "areas", table)


def snapshot(wh):
    return {name: wh.read(name).to_pylist() for name in schema.TABLES}


@pytest.fixture
def wh(tmp_path):
    w = Warehouse(tmp_path / "wh")
    with w.transaction({"source": "init"}):
        pass
    return w


def test_new_warehouse_has_every_table_empty(wh):
    assert wh.manifest.batch == 1
    for name, sch in schema.TABLES.items():
        assert wh.read(name).schema.equals(sch)
        assert wh.read(name).num_rows == 0


def test_failed_transaction_leaves_warehouse_unchanged(wh):
    load(wh, areas(["a", "b"]))
    before, manifest = snapshot(wh), (wh.root / "manifest.json").read_text()
    with pytest.raises(RuntimeError, match="boom"), wh.transaction() as tx:
        tx.append("areas", areas(["c"]))
        raise RuntimeError("boom")
    assert snapshot(wh) == before
    assert (wh.root / "manifest.json").read_text() == manifest
    assert not any(p.name.startswith("_") for p in wh.snapshot_dir().iterdir())


def test_reloading_identical_rows_changes_nothing(wh):
    assert load(wh, areas(["a", "b"])).as_dict() == {"inserted": 2, "replaced": 0, "unchanged": 0}
    first = snapshot(wh)
    assert load(wh, areas(["a", "b"])).as_dict() == {"inserted": 0, "replaced": 0, "unchanged": 2}
    assert snapshot(wh) == first


def test_newer_version_replaces_and_older_does_not(wh):
    load(wh, areas(["a"], deciles=[3]))
    stats = load(wh, areas(["a"], updated=[T0 + dt.timedelta(days=1)], deciles=[4]))
    assert stats.replaced == 1
    stats = load(wh, areas(["a"], updated=[T0 - dt.timedelta(days=1)], deciles=[9]))
    assert stats.unchanged == 1
    assert [r["imd_decile"] for r in wh.read("areas").to_pylist()] == [4]


def test_version_id_breaks_ties_in_updated_at(wh):
    load(wh, areas(["a"], versions=[1], deciles=[1]))
    load(wh, areas(["a"], versions=[2], deciles=[2]))
    assert wh.read("areas").column("imd_decile").to_pylist() == [2]


def test_conform_names_missing_columns_and_nulls():
    with pytest.raises(ValueError, match=r"missing columns \['lsoa'\]"):
        schema.conform("areas", areas(["a"]).drop(["lsoa"]))
    bad = areas(["a"]).set_column(1, "lsoa", pa.array([None], pa.string()))
    with pytest.raises(ValueError, match="required columns contain nulls"):
        schema.conform("areas", bad)


def test_other_schema_version_is_refused(wh):
    manifest = json.loads((wh.root / "manifest.json").read_text())
    manifest["schema_version"] = 999
    (wh.root / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(WarehouseError, match="schema version 999"):
        wh.read("areas")


def test_concurrent_writer_is_refused(wh):
    with wh.lock(), pytest.raises(WarehouseError, match="being written"), wh.transaction():
        pass


def test_old_snapshots_are_pruned(wh):
    for i in range(4):
        load(wh, areas([f"x{i}"]))
    kept = sorted(p.name for p in (wh.root / "snapshots").iterdir())
    assert len(kept) == 2


def test_snapshot_from_before_an_added_column_reads_and_merges_with_it_null(wh):
    """``schema.ADDED``: a warehouse written before ``encounters.urgent_request`` existed loads
    as it is (the column reads as null) and a later load writes the current schema."""
    import pyarrow.parquet as pq

    def encounter(id_, **extra):
        row = {"id": id_, "patient_id": "p", "kind": "gp_appointment", "start": T0,
               "status": "attended", "batch": 1, **extra}  # fmt: skip
        return {f.name: row.get(f.name) for f in schema.TABLES["encounters"]}

    current = schema.TABLES["encounters"]
    old_schema = pa.schema([f for f in current if f.name != "urgent_request"])
    path = wh.table_path("encounters")
    path.unlink()  # never write through a hard link shared with another snapshot
    row = {k: v for k, v in encounter("e1").items() if k != "urgent_request"}
    pq.write_table(pa.Table.from_pylist([row], schema=old_schema), path)

    table = wh.read("encounters")
    assert table.schema.equals(current)
    assert table.column("urgent_request").to_pylist() == [None]
    assert wh.read("encounters", columns=["urgent_request", "id"]).column_names == [
        "urgent_request",
        "id",
    ]
    with connect(wh) as engine:
        expr = engine.table("encounters")
        assert list(expr.columns) == current.names
        assert engine.to_arrow(expr).column("urgent_request").to_pylist() == [None]
        with wh.transaction({"source": "test"}) as tx:
            new = pa.Table.from_pylist([encounter("e2", urgent_request=True)], schema=current)
            upsert(engine, tx, "encounters", new)
    merged = pq.read_table(wh.table_path("encounters")).sort_by("id")
    assert merged.schema.equals(current)
    assert merged.column("urgent_request").to_pylist() == [None, True]


def test_taking_the_lock_removes_what_a_killed_writer_left(wh):
    """A staging folder, a snapshot folder the manifest does not name and a half-written
    manifest are a killed writer's; the published snapshots are kept."""
    from wraparound.warehouse import paths

    load(wh, areas(["a"]))
    current = wh.manifest.snapshot
    (paths.staging(wh.root) / "123-abc" / "areas").mkdir(parents=True)
    paths.snapshot(wh.root, current + 1).mkdir()
    paths.manifest_tmp(wh.root).write_text("{")
    with wh.lock():
        pass
    assert not paths.staging(wh.root).exists()
    assert not paths.snapshot(wh.root, current + 1).exists()
    assert not paths.manifest_tmp(wh.root).exists()
    assert paths.snapshot(wh.root, current).is_dir()
    assert [r["id"] for r in wh.read("areas").to_pylist()] == ["a"]


def test_a_held_transaction_needs_the_lock(wh):
    with pytest.raises(RuntimeError, match="without the warehouse lock"), wh.transaction(held=True):
        pass
    with wh.lock(), wh.transaction({"source": "test"}, held=True) as tx:
        pass
    assert wh.manifest.batch == tx.batch
