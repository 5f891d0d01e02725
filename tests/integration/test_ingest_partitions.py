"""Partitioned tables (``store.PARTITIONS``): a daily batch rewrites only the periods it
touches and hard-links the rest; rows never end up twice when a new version moves period; an
unpartitioned warehouse reads as it is and is partitioned by its next load; the engine and
``Warehouse.read`` see the same rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from engines import SPARK_GROUP, spark_local
from ingest_data import NOW, condition, contents, encounter, locality, write_ndjson

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse import paths
from wraparound.warehouse.check import readable
from wraparound.warehouse.engine import connect
from wraparound.warehouse.merge import upsert
from wraparound.warehouse.schema import TABLES
from wraparound.warehouse.store import Warehouse


def load(wh: Path, folder: Path):
    result = run_ingest([folder], wh, progress=False, now=NOW)
    assert result.ok, result.report["errors"]
    return result


def periods(wh: Path, table: str) -> dict[str, int]:
    """Partition file name -> inode in the current snapshot."""
    w = Warehouse(wh)
    folder = paths.table_dir(wh, w.manifest.snapshot, table)
    return {p.name: p.stat().st_ino for p in sorted(folder.glob("*.parquet"))}


def history(n: int) -> list[dict]:
    """Encounters over several months of 2024 for the locality's patients."""
    return [
        encounter(
            f"old-{i}",
            f"pat-{1 + i % 2}",
            "EMER",
            f"2024-{1 + i % 6:02d}-10T10:00:00Z",
            f"2024-{1 + i % 6:02d}-10T12:00:00Z",
        )
        for i in range(n)
    ]


def test_a_daily_batch_rewrites_only_the_periods_it_touches(tmp_path):
    wh = tmp_path / "wh"
    load(wh, write_ndjson(tmp_path / "a", locality() + history(24)))
    before = periods(wh, "encounters")
    observations = periods(wh, "observations")
    assert {"2024-01.parquet", "2024-06.parquet", "2025-02.parquet"} <= set(before)
    readable(wh)  # the partitioned layout is a valid warehouse
    # New encounters in March 2024 only.
    new = [encounter("new-1", "pat-1", "EMER", "2024-03-20T10:00:00Z", "2024-03-20T11:00:00Z")]
    result = load(wh, write_ndjson(tmp_path / "b", new))
    assert result.report["tables"]["encounters"] == {"inserted": 1, "replaced": 0, "unchanged": 0}
    after = periods(wh, "encounters")
    assert set(after) == set(before)
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {"2024-03.parquet"}  # every other period is the same file, hard-linked
    # Tables the batch did not touch are hard-linked too.
    assert periods(wh, "observations") == observations
    rows = Warehouse(wh).read("encounters")
    assert rows.num_rows == 24 + 4 + 1
    assert len(set(rows.column("id").to_pylist())) == rows.num_rows


def test_a_new_version_that_changes_period_leaves_no_copy_behind(tmp_path):
    wh = tmp_path / "wh"
    load(wh, write_ndjson(tmp_path / "a", locality() + history(6)))
    moved = {
        **encounter("old-0", "pat-1", "EMER", "2024-11-02T10:00:00Z", "2024-11-02T12:00:00Z"),
        "meta": {"lastUpdated": "2025-06-01T00:00:00Z"},
    }
    result = load(wh, write_ndjson(tmp_path / "b", [moved]))
    assert result.report["tables"]["encounters"] == {"inserted": 0, "replaced": 1, "unchanged": 0}
    rows = [r for r in Warehouse(wh).read("encounters").to_pylist() if r["id"] == "old-0"]
    assert len(rows) == 1 and rows[0]["start"].month == 11
    assert "2024-11.parquet" in periods(wh, "encounters")
    # The older version arriving again changes nothing.
    again = load(wh, write_ndjson(tmp_path / "c", history(1)))
    assert again.report["tables"]["encounters"]["unchanged"] == 1


@pytest.mark.parametrize(
    "name", ["duckdb", pytest.param("spark", marks=pytest.mark.xdist_group(SPARK_GROUP))]
)
def test_engines_and_read_see_the_same_partitioned_rows(tmp_path, monkeypatch, name):
    wh = tmp_path / "wh"
    load(wh, write_ndjson(tmp_path / "a", locality() + history(12)))
    assert len(periods(wh, "encounters")) > 3
    if name == "spark":
        spark_local(monkeypatch)
    with connect(wh, engine=name) as engine:
        enc = engine.table("encounters")
        via_engine = engine.to_arrow(enc.order_by("id"))
        per_kind = engine.to_arrow(enc.group_by("kind").agg(n=enc.count()).order_by("kind"))
    direct = Warehouse(wh).read("encounters").sort_by("id")

    def naive(rows):  # Spark hands instants back without their (UTC) zone
        return [{k: v.replace(tzinfo=None) if hasattr(v, "tzinfo") else v for k, v in r.items()}
                for r in rows]  # fmt: skip

    assert naive(via_engine.to_pylist()) == naive(direct.to_pylist())
    assert via_engine.schema.names == TABLES["encounters"].names
    assert sum(per_kind.column("n").to_pylist()) == direct.num_rows


def test_an_unpartitioned_warehouse_reads_and_its_next_load_partitions_it(tmp_path):
    wh = Warehouse(tmp_path / "wh")
    # The layout of warehouses written before partitioning (and of the generator): one file.
    first = run_ingest([write_ndjson(tmp_path / "a", locality())], wh, progress=False, now=NOW)
    assert first.ok
    one_file = contents(wh.root)
    with connect(wh) as engine, wh.transaction({"source": "test"}) as tx:
        upsert(engine, tx, "conditions", wh.read("conditions"))  # writes a single file
    assert wh.table_path("conditions").is_file()
    assert contents(wh.root, drop=("batch",)) == contents(wh.root, drop=("batch",))
    assert {r["id"] for r in contents(wh.root)["conditions"]} == {
        r["id"] for r in one_file["conditions"]
    }
    load(
        wh.root,
        write_ndjson(tmp_path / "b", [condition("c-new", "pat-1", "38341003", "2020-02-02")]),
    )
    assert not wh.table_path("conditions").exists()
    assert set(periods(wh.root, "conditions")) >= {"2015.parquet", "2020.parquet"}
    ids = {r["id"] for r in contents(wh.root)["conditions"]}
    assert ids == {"cond-1", "cond-2", "c-new"}
    assert isinstance(wh.read("conditions"), pa.Table)


def test_a_first_load_keeps_the_newest_of_each_repeated_id_and_every_other_row(tmp_path):
    """The merge looks for the newest version only among ids that come more than once
    (``merge._newest``): the rows of ids sent once pass straight through, those of repeated
    ids go to the window. Both kinds in one first load, into a partitioned table (encounters)
    and a whole one (conditions): versions out of order, and a tie that the row read last
    wins."""
    v = [f"2025-0{i}-01T00:00:00Z" for i in (1, 2, 3)]
    events = [
        encounter("e-once", "pat-1", "AMB", "2024-05-01T10:00:00Z", specialty="110"),
        encounter("e-rep", "pat-1", "AMB", "2024-06-01T10:00:00Z", specialty="100"),
        encounter("e-rep", "pat-1", "AMB", "2024-08-01T10:00:00Z", specialty="300"),
        encounter("e-rep", "pat-1", "AMB", "2024-07-01T10:00:00Z", specialty="120"),
        condition("c-once", "pat-1", "44054006", "2016-01-01"),
        condition("c-rep", "pat-1", "38341003", "2017-01-01", updated=v[2]),
        condition("c-rep", "pat-1", "49436004", "2018-01-01", updated=v[0]),
        condition("c-tie", "pat-3", "38341003", "2019-01-01", updated=v[1]),
        condition("c-tie", "pat-3", "49436004", "2020-01-01", updated=v[1]),
    ]
    # Encounters carry no meta here: every version is as new as the others, so the one
    # read last (July) wins.
    load(tmp_path / "wh", write_ndjson(tmp_path / "in", [*locality(), *events]))
    got = contents(tmp_path / "wh")
    encounters = {r["id"]: r for r in got["encounters"]}
    assert encounters["e-rep"]["specialty"] == "120"
    assert encounters["e-once"]["specialty"] == "110"
    assert len(got["encounters"]) == len(encounters) == 6  # the locality's 4, and these 2
    conditions = {r["id"]: r["code"] for r in got["conditions"]}
    assert conditions == {
        "cond-1": "38341003",
        "cond-2": "49436004",
        "c-once": "44054006",
        "c-rep": "38341003",  # the newest, read first
        "c-tie": "49436004",  # the same stamp: the one read last
    }
    # Each encounter is in the period of its winning version, once.
    assert "2024-07.parquet" in periods(tmp_path / "wh", "encounters")
    assert "2024-08.parquet" not in periods(tmp_path / "wh", "encounters")


def test_when_the_repeated_ids_do_not_fit_every_row_is_ranked_with_the_same_result(
    tmp_path, monkeypatch
):
    from ingest_data import out_of_memory_when

    v = ["2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"]
    events = [
        condition("c-once", "pat-1", "44054006", "2016-01-01"),
        condition("c-rep", "pat-1", "38341003", "2017-01-01", updated=v[1]),
        condition("c-rep", "pat-1", "49436004", "2018-01-01", updated=v[0]),
    ]
    folder = write_ndjson(tmp_path / "in", [*locality(), *events])
    load(tmp_path / "plain", folder)
    # The search for repeated ids runs out of memory in slices and in finer slices, as a 3M
    # export's 58.5M encounters did in one aggregate.
    opened = out_of_memory_when(monkeypatch, lambda sql: "INTO m_repeated" in sql)
    load(tmp_path / "ranked", folder)
    assert opened[-1].failed > 0
    drop = ("batch",)
    assert contents(tmp_path / "ranked", drop) == contents(tmp_path / "plain", drop)
    codes = {r["id"]: r["code"] for r in contents(tmp_path / "ranked")["conditions"]}
    assert codes["c-rep"] == "38341003"


def test_repeated_ids_are_found_in_slices_of_the_ids_with_the_same_result(tmp_path, monkeypatch):
    """However many slices of ``hash(id)`` the search for repeated ids is cut into, and when
    the first cut runs out of memory and a finer one is tried, the load is the same as in
    one aggregate."""
    from ingest_data import out_of_memory_when

    from wraparound.warehouse import merge

    v = ["2025-01-01T00:00:00Z", "2025-03-01T00:00:00Z"]
    events = [
        condition(f"c-{i}", "pat-1", "44054006", "2016-01-01", updated=v[i % 2]) for i in range(12)
    ] + [
        condition("c-3", "pat-1", "38341003", "2017-01-01", updated=v[0]),
        condition("c-4", "pat-1", "49436004", "2018-01-01", updated=v[1]),
        encounter("e-rep", "pat-1", "AMB", "2024-06-01T10:00:00Z", specialty="100"),
        encounter("e-rep", "pat-1", "AMB", "2024-07-01T10:00:00Z", specialty="120"),
    ]
    folder = write_ndjson(tmp_path / "in", [*locality(), *events])
    load(tmp_path / "whole", folder)
    monkeypatch.setattr(merge, "IDS_PER_SLICE", 2)
    load(tmp_path / "sliced", folder)
    opened = out_of_memory_when(monkeypatch, lambda sql: "INTO m_repeated" in sql, times=1)
    load(tmp_path / "finer", folder)
    assert opened[-1].failed == 1
    drop = ("batch",)
    whole = contents(tmp_path / "whole", drop)
    assert contents(tmp_path / "sliced", drop) == whole
    assert contents(tmp_path / "finer", drop) == whole
    codes = {r["id"]: r["code"] for r in whole["conditions"]}
    assert codes["c-3"] == "44054006"  # the newer stamp (v[1]) beats the repeat's v[0]
    assert codes["c-4"] == "49436004"  # the repeat is newer than the first (v[0])
    assert {r["id"]: r["specialty"] for r in whole["encounters"]}["e-rep"] == "120"


def test_a_first_write_that_runs_out_of_memory_is_written_again_ranked(tmp_path, monkeypatch):
    """A region's first load ran out of DuckDB's memory writing its partitions straight from
    the judged rows; the table is then written again with every row ranked, which ends the
    joins before the write. The warehouse is the same as a load that never ran out, for
    partitioned tables and whole ones, and the report names the tables written that way."""
    from ingest_data import out_of_memory_when

    events = [
        encounter("e-once", "pat-1", "AMB", "2024-05-01T10:00:00Z", specialty="110"),
        encounter("e-rep", "pat-1", "AMB", "2024-06-01T10:00:00Z", specialty="100"),
        encounter("e-rep", "pat-1", "AMB", "2024-07-01T10:00:00Z", specialty="120"),
        condition("c-once", "pat-1", "44054006", "2016-01-01"),
    ]
    folder = write_ndjson(tmp_path / "in", [*locality(), *events])
    plain = load(tmp_path / "plain", folder).report
    assert "ranked_after_out_of_memory" not in plain["tables"]["encounters"]

    def straight_write(sql: str) -> bool:
        return sql.lstrip().startswith("COPY") and "row_number()" not in sql

    opened = out_of_memory_when(monkeypatch, straight_write)
    report = load(tmp_path / "ranked", folder).report
    assert opened[-1].failed >= 2  # at least a partitioned table and a whole one
    # The report says which tables went the ranked way: a partitioned one (conditions) and
    # a whole one (patients); the encounters' write, whose repeated id is ranked within it
    # (not a straight write, here), did not run out.
    for table in ("conditions", "patients"):
        assert report["tables"][table]["ranked_after_out_of_memory"] == 1
    assert "ranked_after_out_of_memory" not in report["tables"]["encounters"]
    drop = ("batch",)
    assert contents(tmp_path / "ranked", drop) == contents(tmp_path / "plain", drop)
    assert set(periods(tmp_path / "ranked", "encounters")) == set(
        periods(tmp_path / "plain", "encounters")
    )
