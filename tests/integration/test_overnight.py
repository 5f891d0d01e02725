"""`wraparound refresh`, the overnight run, as an operator runs it (a fresh process each
night, the app database named by WRAPAROUND_DB): the first night loads the app whole, a night
with a feed refreshes it incrementally, and a night that fails (a corrupt feed, a damaged
warehouse file, a failure inside the app refresh itself) leaves every row of the app database
as the previous night left it, with the failed stage in the run report."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BIN = str(Path(sys.executable).parent / "wraparound")
ENC = "id,nhs_number,kind,start,end,booked_at,status,mode,org_id,practitioner_role_id,specialty"
ENC_V = ENC + ",updated_at"


def wraparound(db: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "WRAPAROUND_DB": str(db)}
    env.pop("DATABASE_URL", None)
    env.pop("WRAPAROUND_DEBUG", None)
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=env)


def app_state(db: Path) -> dict[str, list[str]]:
    """Every row of every table of the app database."""
    con = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {t: sorted(map(repr, con.execute(f'SELECT * FROM "{t}"'))) for t in tables}
    finally:
        con.close()


def query(db: Path, sql: str, *args) -> list[tuple]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def on_register(db: Path) -> list[str]:
    """NHS numbers of patients on the current register, in order."""
    return [
        r[0]
        for r in query(
            db,
            "SELECT p.nhs_number FROM registers_registerentry e "
            "JOIN registers_registerrun r ON r.id = e.run_id "
            "JOIN records_patient p ON p.id = e.patient_id WHERE r.current "
            "ORDER BY p.nhs_number",
        )
    ]


def feed(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "encounters.csv").write_text("\n".join([ENC_V, *rows]) + "\n")
    return folder


def admission(source_id: str, nhs_number: str, day: str) -> str:
    return (
        f"{source_id},{nhs_number},emergency_admission,{day}T10:00:00Z,{day}T18:00:00Z,,"
        f"attended,,R9A,,,{day}T19:00:00Z"
    )


def contacts_of(db: Path, source_id: str) -> int:
    """The app's timeline rows of the encounter the feed sent as ``source_id``."""
    sql = "SELECT count(*) FROM care_contact WHERE encounter_id LIKE ?"
    return query(db, sql, f"%{source_id}%")[0][0]


@pytest.fixture(scope="module")
def nights(stratified_warehouse, tmp_path_factory):
    """A warehouse and app database after a first night (no feed) and a second night whose
    feed admits a patient on the register. The first night starts from the session's
    stratified locality (``--from demand``: one stratification fewer to wait for); the second
    runs every stage."""
    root = tmp_path_factory.mktemp("overnight")
    wh, db = root / "warehouse", root / "app.sqlite3"
    shutil.copytree(stratified_warehouse, wh)
    first = wraparound(db, "refresh", "--warehouse", str(wh), "--from", "demand", "--quiet")
    assert first.returncode == 0, first.stderr
    (report_1,) = (wh / "runs" / "overnight").glob("*.json")  # the default place
    after_first = app_state(db)
    followed = on_register(db)[0]
    batch = feed(root / "feed-1", [admission("night-2-adm", followed, "2026-04-02")])
    second = wraparound(
        db, "refresh", str(batch), "--warehouse", str(wh), "--report", str(root / "r2.json")
    )
    assert second.returncode == 0, second.stderr
    return {
        "root": root,
        "warehouse": wh,
        "db": db,
        "first": json.loads(report_1.read_text()),
        "first_out": first,
        "after_first": after_first,
        "second": json.loads((root / "r2.json").read_text()),
        "second_out": second,
        "followed": followed,
    }


STAGES = (
    "ingest",
    "stratify",
    "demand",
    "indicators",
    "evaluate",
    "local_qof",
    "app_refresh",
    "app_events",
    "app_commit",
)


def stages(report: dict) -> dict[str, dict]:
    return {s["stage"]: s for s in report["stages"]}


def test_the_first_night_loads_the_app_whole(nights):
    report, db = nights["first"], nights["db"]
    assert report["outcome"] == "ok" and report["failed_stage"] is None
    by = stages(report)
    assert [s["stage"] for s in report["stages"]] == list(STAGES)
    assert by["ingest"]["reason"] == by["stratify"]["reason"] == "--from demand"
    assert by["evaluate"]["status"] == "skipped"  # nothing evaluated on this warehouse yet
    for name in ("demand", "indicators", "local_qof", "app_refresh", "app_events"):
        assert by[name]["status"] == "ok", by[name]
        assert by[name]["seconds"] > 0 and by[name]["peak_rss_mib"] > 50
    assert report["memory_method"].startswith("VmHWM")
    assert by["app_refresh"]["details"]["mode"] == "full"
    assert report["sizes"]["patients"] == 3000 and report["sizes"]["resources_ingested"] == 0
    # The app holds what the stages published: the patients, the register run, the scorecard.
    assert query(db, "SELECT count(*) FROM records_patient")[0][0] == 3000
    run_id = json.loads((nights["warehouse"] / "results" / "risk" / "latest.json").read_text())
    assert query(db, "SELECT run_id FROM registers_registerrun WHERE current") == [
        (run_id["run_id"],)
    ]
    assert len(on_register(db)) > 0
    assert by["app_refresh"]["details"]["indicator_run"] == by["indicators"]["details"]["run_id"]
    assert (nights["warehouse"] / "app_events" / "app_events.parquet").exists()
    said = nights["first_out"].stdout
    assert said.startswith("Refreshed") and "3,000 patients" in said


def test_a_night_with_a_feed_refreshes_the_app_incrementally(nights):
    report, db = nights["second"], nights["db"]
    by = stages(report)
    assert report["outcome"] == "ok"
    assert all(by[s]["status"] == "ok" for s in STAGES if s != "evaluate"), by
    assert by["ingest"]["status"] == "ok" and by["ingest"]["details"]["resources_read"] == 1
    assert report["sizes"]["resources_ingested"] == 1 and report["sizes"]["warehouse_batch"] == 2
    refresh = by["app_refresh"]["details"]
    assert refresh["mode"] == "incremental" and refresh["touched_patients"] == 1
    # A new register run, the admission on the patient's timeline, and an alert for it.
    assert refresh["register_run"] == by["stratify"]["details"]["run_id"]
    assert contacts_of(db, "night-2-adm") == 1
    alerts = query(
        db,
        "SELECT count(*) FROM care_alert a JOIN records_patient p ON p.id = a.patient_id "
        "WHERE p.nhs_number = ? AND a.encounter_id LIKE '%night-2-adm%'",
        nights["followed"],
    )[0][0]
    assert alerts >= 1
    assert query(db, "SELECT count(*) FROM records_warehouseload")[0][0] == 2
    assert app_state(db) != nights["after_first"]


def _copy(nights, name: str) -> tuple[Path, Path, Path]:
    root = nights["root"] / name
    shutil.copytree(nights["warehouse"], root / "warehouse")
    shutil.copy(nights["db"], root / "app.sqlite3")
    return root, root / "warehouse", root / "app.sqlite3"


def test_a_corrupt_feed_stops_the_night_and_changes_nothing(nights):
    root, wh, db = _copy(nights, "corrupt-feed")
    before = app_state(db)
    manifest = (wh / "manifest.json").read_text()
    bad = root / "feed"
    bad.mkdir()
    (bad / "Encounter.ndjson").write_text('{"resourceType": "Encounter", "id": "x"\n')
    done = wraparound(db, "refresh", str(bad), "--warehouse", str(wh), "--report", f"{root}/r.json")
    assert done.returncode == 1
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: the overnight refresh failed at ingest:"), done.stderr
    assert "the app still shows the previous refresh" in line and "Traceback" not in done.stderr
    report = json.loads((root / "r.json").read_text())
    assert report["outcome"] == "failed" and report["failed_stage"] == "ingest"
    assert {s["status"] for s in report["stages"][1:]} == {"skipped"}
    assert (wh / "manifest.json").read_text() == manifest  # nothing written to the warehouse
    assert app_state(db) == before


def test_a_damaged_warehouse_file_stops_the_night_before_the_app(nights):
    """The indicators read the app's exported events: a corrupt export fails that stage, and
    neither the later warehouse stages nor the app refresh run."""
    root, wh, db = _copy(nights, "bad-events")
    before = app_state(db)
    latest = (wh / "results" / "indicators" / "latest.json").read_text()
    (wh / "app_events" / "app_events.parquet").write_bytes(b"PAR1 this is not parquet")
    done = wraparound(
        db, "refresh", "--warehouse", str(wh), "--from", "indicators", "--report", f"{root}/r.json"
    )
    assert done.returncode == 1 and "failed at indicators" in done.stderr, done.stderr
    report = json.loads((root / "r.json").read_text())
    by = stages(report)
    assert report["failed_stage"] == "indicators" and by["indicators"]["status"] == "failed"
    assert by["stratify"]["reason"] == "--from indicators"
    assert all(by[s]["status"] == "skipped" for s in ("local_qof", "app_refresh", "app_events"))
    assert (wh / "results" / "indicators" / "latest.json").read_text() == latest
    assert app_state(db) == before


def test_a_failure_inside_the_app_refresh_rolls_the_whole_app_back(nights):
    """The refresh writes patients and contacts before the timeline index; with the index
    folder made a file it fails there, and the transaction takes back what it had written.
    Put right, the same run loads the new contact (so the failed one had something to undo)."""
    root, wh, db = _copy(nights, "bad-index")
    other = on_register(db)[1]
    batch = feed(root / "feed", [admission("night-3-adm", other, "2026-04-03")])
    loaded = wraparound(db, "ingest", str(batch), "--warehouse", str(wh), "--quiet")
    assert loaded.returncode == 0, loaded.stderr
    before = app_state(db)
    index = wh / "app_index"
    index.rename(root / "app_index")
    index.write_text("not a folder")
    done = wraparound(
        db, "refresh", "--warehouse", str(wh), "--from", "app_refresh", "--report", f"{root}/r.json"
    )
    assert done.returncode == 1 and "failed at app_refresh" in done.stderr, done.stderr
    report = json.loads((root / "r.json").read_text())
    assert report["failed_stage"] == "app_refresh"
    assert report["app"] == "unchanged: as the previous refresh left it"
    assert report["app_database"] == {"engine": "sqlite", "name": str(db)}
    assert app_state(db) == before
    assert contacts_of(db, "night-3-adm") == 0
    index.unlink()
    (root / "app_index").rename(index)
    again = wraparound(db, "refresh", "--warehouse", str(wh), "--from", "app_refresh", "--quiet")
    assert again.returncode == 0, again.stderr
    assert contacts_of(db, "night-3-adm") == 1


def test_bad_options_are_one_sentence_and_run_nothing(nights, tmp_path):
    db = tmp_path / "app.sqlite3"
    missing = wraparound(db, "refresh", "--warehouse", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and "is not a warehouse" in missing.stderr
    wrong = wraparound(db, "refresh", "--warehouse", str(nights["warehouse"]), "--from", "x")
    assert wrong.returncode == 2 and "not a stage" in wrong.stderr
    assert not db.exists()
