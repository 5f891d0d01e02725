"""Month reuse (``analytics/indicators/reuse.py``): after a day's batch, a run computes only
the months the batch can change and takes the rest from the previous run, and what it
publishes is identical, table for table and bit for bit, to a full recompute of the new
warehouse. On DuckDB with every app-recorded indicator computing too; on Spark (local mode)
with one indicator, to stay cheap.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from pathlib import Path

import polars as pl
import pytest
from engines import SPARK_GROUP, spark_local
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from wraparound.analytics.indicators import definition, reuse
from wraparound.analytics.indicators import periods as months
from wraparound.analytics.indicators.run import run
from wraparound.cli import app
from wraparound.sources.ingest import run_ingest

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from _indicator_batch import write_app_events, write_batch

NOT_COMPARED = ("cells", "inputs")
"""What a run keeps for the next one to reuse: not published."""


def _published(run_dir: Path) -> dict[str, pl.DataFrame]:
    out = {}
    for path in sorted(run_dir.rglob("*.parquet")):
        name = str(path.relative_to(run_dir))
        if name.split("/")[0] in NOT_COMPARED:
            continue
        frame = pl.read_parquet(path)
        out[name] = frame.sort(frame.columns, nulls_last=True)
    return out


def assert_same_run(reused: Path, full: Path) -> None:
    a, b = _published(reused), _published(full)
    assert a.keys() == b.keys()
    for name in a:
        try:
            assert_frame_equal(a[name], b[name], check_exact=True)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None
    lines = [sorted((d / "outliers_latest.csv").read_text().splitlines()) for d in (reused, full)]
    assert lines[0] == lines[1]


def _run_dir(out: Path, manifest: dict) -> Path:
    return out / manifest["run_id"]


@pytest.fixture(scope="module")
def nightly(small_warehouse, tmp_path_factory):
    """A full run, then a day's batch (new GP appointments, A&E attendances, readings and
    diagnoses in the last week, a discharge) and the app's new events, then the reusing
    run and a full run of the new warehouse."""
    root = tmp_path_factory.mktemp("reuse")
    wh = root / "warehouse"
    shutil.copytree(small_warehouse, wh)
    write_app_events(wh)
    first = run(wh)
    feed = write_batch(wh, root / "batch", resources=300, seed=7)
    loaded = run_ingest([root / "batch"], wh, progress=False)
    assert loaded.ok, loaded.report["errors"][:3]
    write_app_events(wh, extra=20)
    second = run(wh)
    full = run(wh, out=root / "full", full=True)
    return {"wh": wh, "root": root, "first": first, "second": second, "full": full, "feed": feed}


def test_a_reusing_run_publishes_exactly_what_a_full_run_does(nightly):
    second, full = nightly["second"], nightly["full"]
    out = nightly["wh"] / "results" / "indicators"
    assert_same_run(_run_dir(out, second), _run_dir(nightly["root"] / "full", full))
    computed = [d["id"] for d in second["definitions"] if d["status"] == "computed"]
    assert len(computed) >= 21  # every app-events indicator computes here too
    assert second["reused_from"] == nightly["first"]["run_id"]
    done = second["months_computed"]
    assert sum(done.values()) < sum(full["months_computed"].values()) / 5
    # The batch is in the last month: rates and appointments recompute it, and only it;
    # a 12-month look-back recomputes the months whose year includes the new readings.
    last = months.month_index(dt.date.fromisoformat(nightly["feed"]["last_day"]))
    assert done["ae_attendances_rate"] == 1 and done["gp_dna_rate"] == 1
    assert full["months_computed"]["ae_attendances_rate"] == 36
    assert last == months.month_index(dt.date.fromisoformat(second["periods"]["data_to"]))
    assert all(n <= 36 for n in done.values())


def test_an_unchanged_warehouse_reuses_every_month(nightly):
    again = run(nightly["wh"])
    assert sum(again["months_computed"].values()) == 0
    out = nightly["wh"] / "results" / "indicators"
    assert_same_run(_run_dir(out, again), _run_dir(nightly["root"] / "full", nightly["full"]))
    # Unchanged cells are hard-linked from the previous run, not written again.
    before = _run_dir(out, nightly["second"]) / reuse.CELLS_DIR / "ae_attendances_rate.parquet"
    now = _run_dir(out, again) / reuse.CELLS_DIR / "ae_attendances_rate.parquet"
    assert before.stat().st_ino == now.stat().st_ino


def test_a_changed_definition_recomputes_that_indicator_whole(nightly, tmp_path):
    folder = tmp_path / "indicators"
    shutil.copytree(Path(str(definition.package_dir())), folder)
    path = folder / "diabetes_hba1c_58.toml"
    path.write_text(path.read_text().replace("version = 1", "version = 2", 1))
    again = run(nightly["wh"], library=definition.load(folder))
    done = again["months_computed"]
    assert done["diabetes_hba1c_58"] == 36
    assert again["reuse_reasons"]["diabetes_hba1c_58"] == "its definition, codes or cohort changed"
    assert sum(v for k, v in done.items() if k != "diabetes_hba1c_58") == 0


def test_full_flag_recomputes_every_month(nightly, monkeypatch):
    """``wraparound indicators --full`` (one indicator, to stay quick)."""
    one = tuple(i for i in definition.load() if i.id == "gp_dna_rate")
    monkeypatch.setattr(definition, "load", lambda directory=None: one)
    args = ["indicators", "--warehouse", str(nightly["wh"])]
    reused = CliRunner().invoke(app, args)
    assert reused.exit_code == 0, reused.output
    assert "Months computed: 0 of 36 indicator-months (the rest reused" in reused.output
    full = CliRunner().invoke(app, [*args, "--full"])
    assert full.exit_code == 0, full.output
    assert "Months computed: 36 of 36 indicator-months." in full.output


# ---------------------------------------------------------------------------------------------
# Which months a change reaches (hand-worked)
# ---------------------------------------------------------------------------------------------


def _indicator(name: str):
    return {i.id: i for i in definition.load()}[name]


M = months.month_index(dt.date(2025, 6, 1))


def test_a_reading_reaches_the_months_of_its_look_back():
    bp = _indicator("hypertension_bp_controlled")
    code = next(k[1] for k in reuse.dependencies(bp) if k[0] == "observations")
    touched = {("observations", code): {(M, M)}}
    assert reuse.affected(bp, touched, M - 24, M + 24) == set(range(M, M + 12))
    # Clipped to the reported months.
    assert reuse.affected(bp, touched, M - 24, M + 3) == set(range(M, M + 4))
    # A reading nothing counts changes nothing; an encounter only its own month.
    assert reuse.affected(bp, {("observations", "0"): {(M, M)}}, M - 24, M + 24) == set()
    ae = _indicator("ae_attendances_rate")
    assert reuse.affected(ae, {("encounters", "ae_attendance"): {(M, M)}}, 0, M + 24) == {M}
    assert reuse.affected(ae, {("encounters", "gp_appointment"): {(M, M)}}, 0, M + 24) == set()


def _diff(old: list[dict], new: list[dict], columns) -> reuse._Diff:
    return reuse._Diff(new, old, columns)


def test_a_moved_registration_end_reaches_only_the_months_between():
    cols = reuse.READ_COLUMNS["registrations"]
    spell = {"id": "r1", "patient_id": "p", "practice_id": "A", "start_date": dt.date(2015, 1, 1)}
    old = {**spell, "end_date": None}
    new = {**spell, "end_date": dt.date(2025, 6, 10)}
    touched: reuse.Touched = {}
    reuse._to_months(None, {"registrations": _diff([old], [new], cols)}, touched)
    assert touched == {reuse.EVERYONE: {(M, reuse.FOREVER)}}
    # Re-sent unchanged: nothing.
    touched = {}
    reuse._to_months(None, {"registrations": _diff([new], [new], cols)}, touched)
    assert touched == {}
    # Moved to another practice: every month of both versions.
    touched = {}
    moved = {**new, "practice_id": "B"}
    reuse._to_months(None, {"registrations": _diff([new], [moved], cols)}, touched)
    start = months.month_index(dt.date(2015, 1, 1))
    assert touched == {reuse.EVERYONE: {(start, M)}}


def test_a_recorded_death_reaches_the_months_from_it():
    cols = reuse.READ_COLUMNS["patients"]
    person = {"id": "x", "patient_id": "p", "birth_date": dt.date(1950, 1, 1), "sex": "female"}
    person |= {"lsoa": "E01", "opted_out": False}
    old = {**person, "death_date": None}
    new = {**person, "death_date": dt.date(2025, 6, 3)}
    touched: reuse.Touched = {}
    reuse._to_months(None, {"patients": _diff([old], [new], cols)}, touched)
    assert touched == {reuse.EVERYONE: {(M, reuse.FOREVER)}}


def test_a_code_list_change_changes_the_fingerprint(monkeypatch):
    af = _indicator("af_anticoagulated")
    before = reuse.fingerprint(af, "duckdb", None)
    assert reuse.fingerprint(af, "duckdb", None) == before
    assert reuse.fingerprint(af, "spark", None) != before
    real = reuse.clinical.codelist
    monkeypatch.setattr(reuse.clinical, "codelist", lambda cid: [*real(cid), "1234567"])
    assert reuse.fingerprint(af, "duckdb", None) != before


# ---------------------------------------------------------------------------------------------
# Spark (local mode): the same check with one indicator (a rate: events and person-time)
# ---------------------------------------------------------------------------------------------

SPARK_LIBRARY = ("ae_attendances_rate",)


@pytest.mark.slow
@pytest.mark.xdist_group(SPARK_GROUP)
def test_reuse_on_spark_matches_a_full_run(small_warehouse, tmp_path, monkeypatch):
    spark_local(monkeypatch)
    monkeypatch.setenv("WRAPAROUND_ENGINE", "spark")
    library = tuple(i for i in definition.load() if i.id in SPARK_LIBRARY)
    wh = tmp_path / "warehouse"
    shutil.copytree(small_warehouse, wh)
    first = run(wh, library=library)
    write_batch(wh, tmp_path / "batch", resources=120, seed=11)
    assert run_ingest([tmp_path / "batch"], wh, progress=False).ok
    second = run(wh, library=library)
    full = run(wh, out=tmp_path / "full", library=library, full=True)
    assert second["reused_from"] == first["run_id"]
    assert second["months_computed"]["ae_attendances_rate"] == 1
    out = wh / "results" / "indicators"
    assert_same_run(_run_dir(out, second), _run_dir(tmp_path / "full", full))
