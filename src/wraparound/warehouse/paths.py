"""Every path inside a warehouse directory, in one module.

A warehouse directory holds the committed snapshots and everything published beside them::

    DIR/manifest.json                          which snapshot is current (store.py)
    DIR/.lock                                  held by the one writer at a time
    DIR/snapshots/000007/<table>.parquet       the tables, identity included (schema.py)
    DIR/staging/                               a batch being prepared by ingest
    DIR/oracle/true_risk.parquet               synthetic localities only: true risks
    DIR/oracle/intervention.parquet            ... and the admissions a simulated intervention
    DIR/oracle/intervention.json               prevented, with what was simulated
    DIR/evaluation/<intervention>/             evaluation results (analytics/evaluation.py)
    DIR/evaluation/demand/                     demand projection (analytics/demand.py)
    DIR/results/<kind>/<run_id>/               published analytic results (risk, indicators)
    DIR/results/<kind>/latest.json             which run of a kind is current
    DIR/app_events/app_events.parquet          what the app records, for the indicators
    DIR/app_appointments/appointments.parquet  the app's hub appointments, for the indicators
    DIR/app_index/encounters-000007/           the app's timeline index, per snapshot (a
                                               folder of patient-bucket parts and a delta)
    DIR/app_index/record-000007/               the app's medicines and results index

Code that reads or writes any of these asks this module for the path rather than joining
names itself, so the layout is stated once (docs/warehouse.md describes it) and a file
cannot be written in one place and looked for in another. Functions take the warehouse root
(a path) and only build paths; none touches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from wraparound import vocabulary

MANIFEST = "manifest.json"
LOCK = ".lock"
SNAPSHOTS = "snapshots"
STAGING = "staging"
ORACLE_DIR = "oracle"
ORACLE_FILE = "true_risk.parquet"
RESULTS = "results"
LATEST = "latest.json"
APP_EVENTS_DIR = "app_events"
APP_EVENTS_FILE = "app_events.parquet"
APP_APPOINTMENTS_DIR = "app_appointments"
APP_APPOINTMENTS_FILE = "appointments.parquet"
TIMELINE_INDEX_DIR = "app_index"

# Results kinds the pipeline publishes (``analytics/results.py``).
RISK = vocabulary.RISK
INDICATORS = vocabulary.INDICATORS

Root = str | os.PathLike


def manifest(root: Root) -> Path:
    """``DIR/manifest.json``: the one file readers follow."""
    return Path(root) / MANIFEST


def manifest_tmp(root: Root) -> Path:
    """Where a new manifest is written before it replaces the old one atomically."""
    return Path(root) / f"{MANIFEST}.tmp"


def lock(root: Root) -> Path:
    return Path(root) / LOCK


def snapshots(root: Root) -> Path:
    return Path(root) / SNAPSHOTS


def snapshot(root: Root, number: int) -> Path:
    """``DIR/snapshots/NNNNNN``: one committed (or being committed) snapshot."""
    return snapshots(root) / f"{number:06d}"


def table_file(root: Root, number: int, table: str) -> Path:
    """A table's Parquet file in snapshot ``number``."""
    return snapshot(root, number) / f"{table}.parquet"


def table_dir(root: Root, number: int, table: str) -> Path:
    """A partitioned table's folder in snapshot ``number`` (``store.PARTITIONS``): one
    ``<period>.parquet`` per period of its event date."""
    return snapshot(root, number) / table


def staging(root: Root) -> Path:
    """``DIR/staging``: a batch being prepared (ingest), never read by anything else."""
    return Path(root) / STAGING


def oracle(root: Root) -> Path:
    """``DIR/oracle/true_risk.parquet``: true risks of a synthetic locality, for evaluation
    only; no analytics code reads it, and a warehouse loaded by ingest has none."""
    return Path(root) / ORACLE_DIR / ORACLE_FILE


def oracle_intervention(root: Root) -> Path:
    """``DIR/oracle/intervention.parquet``: one row per emergency admission a simulated
    intervention prevented (``synth --intervention``); for testing the evaluation only."""
    return Path(root) / ORACLE_DIR / "intervention.parquet"


def oracle_intervention_summary(root: Root) -> Path:
    """``DIR/oracle/intervention.json``: what ``synth --intervention`` simulated."""
    return Path(root) / ORACLE_DIR / "intervention.json"


def evaluation(root: Root, intervention_id: str) -> Path:
    """``DIR/evaluation/<intervention_id>``: the published evaluation of one intervention
    (``report.json``, ``panel.parquet``), written by ``wraparound evaluate``."""
    return Path(root) / "evaluation" / intervention_id


def demand(root: Root) -> Path:
    """``DIR/evaluation/demand``: the published demand projection (``projection.json``)."""
    return Path(root) / "evaluation" / "demand"


def results(root: Root, kind: str) -> Path:
    """``DIR/results/<kind>``: the published runs of one kind (``RISK``, ``INDICATORS``)."""
    return Path(root) / RESULTS / kind


def results_latest(root: Root, kind: str) -> Path:
    """``DIR/results/<kind>/latest.json``: the pointer to the current run of a kind."""
    return results(root, kind) / LATEST


def run_manifest(run: Root) -> Path:
    """``DIR/results/<kind>/<run_id>/manifest.json``: what a published run was computed from
    (``run`` is the run's folder, as ``analytics.results.latest_run`` gives it)."""
    return Path(run) / MANIFEST


def app_events_dir(root: Root) -> Path:
    """``DIR/app_events``: every ``*.parquet`` in it is read by the indicators."""
    return Path(root) / APP_EVENTS_DIR


def app_events(root: Root) -> Path:
    """``DIR/app_events/app_events.parquet``: the app's export (``app export-events``)."""
    return app_events_dir(root) / APP_EVENTS_FILE


def app_appointments(root: Root) -> Path:
    """``DIR/app_appointments/appointments.parquet``: the app's hub appointments, one row
    each, for the access indicators (``app export-events``). Not in ``app_events_dir``, whose
    every ``*.parquet`` holds patient, kind and date rows."""
    return Path(root) / APP_APPOINTMENTS_DIR / APP_APPOINTMENTS_FILE


def timeline_index_dir(root: Root) -> Path:
    return Path(root) / TIMELINE_INDEX_DIR


def timeline_index(root: Root, number: int) -> Path:
    """``DIR/app_index/encounters-NNNNNN``: the app's timeline index for snapshot ``number``
    (written by ``app refresh``): a folder of patient-bucket parts and a delta
    (``apps/care/index_store.py``)."""
    return timeline_index_dir(root) / f"encounters-{number:06d}"


def record_index(root: Root, number: int) -> Path:
    """``DIR/app_index/record-NNNNNN``: current medicines and recent results of every
    patient, for the patient page, for snapshot ``number`` (written by ``app refresh``; a
    folder like the timeline index's)."""
    return timeline_index_dir(root) / f"record-{number:06d}"


def overnight_runs(root: Root) -> Path:
    """``DIR/runs/overnight``: the run reports of ``wraparound refresh``, one
    ``<UTC timestamp>.json`` per night (``overnight.py``)."""
    return Path(root) / "runs" / "overnight"
