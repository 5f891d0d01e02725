"""Ingest under hostile conditions, with real processes: ``kill -9`` at any point of a load
leaves the warehouse as it was and the next load cleans up and completes; two loads at once
never lose an update; a batch read by a pool of workers in spans equals the batch read here.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ingest_data import NHS, NOW, condition, contents, encounter, locality, patient, write_ndjson

from wraparound.sources.ingest import run_ingest
from wraparound.warehouse import paths
from wraparound.warehouse.store import Warehouse

INGEST = (
    "import sys; from datetime import datetime; from wraparound.sources.ingest import run_ingest; "
    "r = run_ingest(sys.argv[2:], sys.argv[1], progress=False, "
    "now=datetime.fromisoformat('" + NOW.isoformat() + "')); "
    "print(r.summary_line); sys.exit(0 if r.ok else 1)"
)


def second_batch(folder: Path) -> Path:
    """New events for the locality's patients, and a new version of one patient."""
    return write_ndjson(
        folder,
        [
            patient("pat-2", NHS[1], "1988-11-30", sex="male", updated="2025-06-01T00:00:00Z"),
            condition("cond-9", "pat-1", "44054006", "2020-01-01"),
            encounter("enc-9", "pat-1", "EMER", "2025-05-01T10:00:00Z", "2025-05-01T14:00:00Z"),
        ],
    )


def ingest_process(wh: Path, batch: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", INGEST, str(wh), str(batch)],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def leftovers(wh: Path) -> list[str]:
    """What a killed load may leave: staging, or a snapshot the manifest does not name."""
    current = Warehouse(wh).manifest.snapshot
    found = [str(p.relative_to(wh)) for p in paths.staging(wh).glob("*")]
    found += [
        d.name for d in paths.snapshots(wh).iterdir() if d.name.isdigit() and int(d.name) > current
    ]
    return found


@pytest.fixture
def loaded(tmp_path):
    wh = tmp_path / "wh"
    first = run_ingest([write_ndjson(tmp_path / "first", locality())], wh, progress=False, now=NOW)
    assert first.ok, first.report["errors"]
    return wh, second_batch(tmp_path / "second")


@pytest.mark.parametrize("point", ["staged", "checked", "merging", "publishing"])
def test_kill_9_at_any_point_leaves_the_previous_warehouse(loaded, point):
    wh, batch = loaded
    manifest = paths.manifest(wh).read_bytes()
    before = contents(wh)
    proc = ingest_process(wh, batch, WRAPAROUND_FAULT_KILL=point)
    proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGKILL
    # Readable, and exactly the previous state: the manifest and every table.
    assert paths.manifest(wh).read_bytes() == manifest
    assert contents(wh) == before
    assert leftovers(wh), "the kill should have left a staging area or snapshot behind"
    # The next load cleans up what the killed one left, and completes.
    again = run_ingest([batch], wh, progress=False, now=NOW)
    assert again.ok, again.report["errors"]
    assert leftovers(wh) == []
    after = contents(wh)
    assert {r["id"] for r in after["conditions"]} == {"cond-1", "cond-2", "cond-9"}
    assert "enc-9" in {r["id"] for r in after["encounters"]}
    assert not (paths.manifest_tmp(wh)).exists()


def test_kill_9_from_outside_while_reading(loaded):
    """A real ``kill -9`` sent by another process, at a moment it chooses (the load is held
    in its reading phase, its staging area on disk)."""
    wh, batch = loaded
    manifest = paths.manifest(wh).read_bytes()
    proc = ingest_process(wh, batch, WRAPAROUND_FAULT_PAUSE="staged", WRAPAROUND_FAULT_SECONDS="60")
    deadline = time.monotonic() + 60
    while not any(paths.staging(wh).glob("*/*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(paths.staging(wh).glob("*/*")), proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert paths.manifest(wh).read_bytes() == manifest
    again = run_ingest([batch], wh, progress=False, now=NOW)
    assert again.ok and leftovers(wh) == []


def test_a_second_load_is_refused_while_one_runs_and_nothing_is_lost(loaded, tmp_path):
    wh, batch = loaded
    other = write_ndjson(
        tmp_path / "other", [condition("cond-7", "pat-2", "38341003", "2021-01-01")]
    )
    first = ingest_process(
        wh, batch, WRAPAROUND_FAULT_PAUSE="checked", WRAPAROUND_FAULT_SECONDS="6"
    )
    deadline = time.monotonic() + 60
    while not any(paths.staging(wh).glob("*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = ingest_process(wh, other)
    _, err = second.communicate(timeout=120)
    assert second.returncode != 0
    assert "is being written by another process" in err
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    # The refused load changed nothing; run again, it lands beside the first one's rows.
    assert "cond-7" not in {r["id"] for r in contents(wh)["conditions"]}
    again = run_ingest([other], wh, progress=False, now=NOW)
    assert again.ok
    ids = {r["id"] for r in contents(wh)["conditions"]}
    assert {"cond-9", "cond-7"} <= ids


def test_workers_reading_spans_give_the_same_warehouse(tmp_path):
    """The pool path (a process per core, large NDJSON files split into spans of lines)
    loads exactly what reading in this process loads, errors and positions included."""
    resources = locality() + [
        condition(f"c-{i}", f"pat-{1 + i % 3}", "38341003", "2015-06-01") for i in range(400)
    ]
    folder = write_ndjson(tmp_path / "in", resources)
    here = run_ingest([folder], tmp_path / "a", progress=False, now=NOW, workers=1)
    pool = run_ingest([folder], tmp_path / "b", progress=False, now=NOW, workers=2, span_bytes=4096)
    assert here.ok and pool.ok
    assert contents(tmp_path / "a", drop=("batch",)) == contents(tmp_path / "b", drop=("batch",))
    assert here.report["files"] == pool.report["files"]
    # An error far into a split file is reported at its line in the whole file.
    bad = [*resources, condition("c-bad", "pat-nobody", "38341003", "2015-06-01")]
    folder = write_ndjson(tmp_path / "bad", bad)
    one = run_ingest([folder], tmp_path / "c", progress=False, now=NOW, workers=1)
    two = run_ingest([folder], tmp_path / "d", progress=False, now=NOW, workers=2, span_bytes=4096)
    assert not one.ok and not two.ok
    assert one.report["errors"] == two.report["errors"]
    assert one.report["errors"][0]["position"] == "line 403"
    assert one.report["errors"][0]["code"] == "dangling_reference"
