"""A patient's contacts across providers, newest first.

Patients on the register or a caseload have their encounters copied into the app on every
refresh (``contacts.py``), so their timeline is one indexed query. Anyone else's timeline
(a GP opening a patient who is on no register) comes from the **timeline index**: a copy of
the warehouse's encounters sorted by patient, in small Parquet row groups, partitioned by
patient bucket with a delta of recent changes (``index_store.py``), written by
``wraparound app refresh`` (``write_index``). Parquet keeps each row group's smallest and
largest patient, so reading one patient touches one row group or two, not the whole table:
the request path never scans the population. Each index is named after the warehouse
snapshot it was built from, so a stale one is never read; until a refresh has written one
for the current snapshot, the timeline falls back to a filtered query through the engine.
``benchmarks/bench_app.py`` measures the paths.

Apps above care add their own entries (the access app's hub appointments) through
:func:`register_timeline_source`, called from their ``AppConfig.ready()``: care never imports
them. A source is ``fn(patient) -> iterable of TimelineEntry``; :func:`timeline` merges every
source's entries with the warehouse contacts in date order.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
from django.conf import settings

from wraparound.apps.care import index_store
from wraparound.apps.care.contacts import CONTACT_COLUMNS, contact_rows, to_contact
from wraparound.apps.care.models import Contact
from wraparound.apps.records.models import Organisation
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

INDEX_ROW_GROUP = 512
"""Rows per row group: a patient's few dozen encounters sit in one or two groups, and a page
decodes only those. In a 300k locality one patient's read took 3.35 ms (median) at 8,192 rows
with zstd and 0.68 ms at 512 with lz4, for some 2,000 groups' statistics per million
encounters (each file's are read once per process, ``index_store.row_groups``) and a 38%
larger index (129 to 178 MiB)."""


@dataclass(frozen=True)
class TimelineEntry:
    """One timeline row from an app (not the warehouse): shaped like a ``Contact`` for the
    template (start, end, kind, its label, where, detail, status)."""

    start: object
    kind: str
    label: str
    org_name: str
    detail: str
    status: str
    end: object = None

    def get_kind_display(self) -> str:
        return self.label


_SOURCES: dict[str, Callable[[object], Iterable[TimelineEntry]]] = {}


def register_timeline_source(name: str, fn: Callable[[object], Iterable[TimelineEntry]]):
    """Add an app's entries to every patient's timeline (``fn(patient)``); registering a
    name again replaces it (``ready()`` may run more than once in tests)."""
    _SOURCES[name] = fn


def timeline_sources() -> dict[str, Callable]:
    return dict(_SOURCES)


def index_file(warehouse: Warehouse) -> Path:
    """The timeline index folder of the warehouse's current snapshot (``index_store.py``)."""
    return paths.timeline_index(warehouse.root, warehouse.manifest.snapshot)


def write_index(engine, warehouse: Warehouse, changes=None, report: dict | None = None) -> int:
    """Write the timeline index for the warehouse's current snapshot (if not there yet) and
    remove older ones; returns the rows written. With ``changes``
    (``apps/refresh_changes.py``) and the index of the snapshot last loaded, only the touched
    patients' rows are read from the warehouse and patched in (``index_store.patch``: the
    previous partitions hard-linked, the touched patients in the delta, the partitions that
    changed enough rewritten); ``report`` receives what the patch wrote."""
    path = index_file(warehouse)
    enc = engine.table("encounters").select(*CONTACT_COLUMNS)
    order = ["patient_id", "start"]
    old = paths.timeline_index(warehouse.root, changes.previous_snapshot) if changes else None
    usable = old is not None and (old / index_store.MANIFEST).exists()
    if usable and not path.exists():
        if "encounters" not in changes.tables:
            os.replace(old, path)  # same rows: the encounters did not change
            return 0
        fresh = engine.to_arrow(
            engine.rows_of("encounters", changes.patients).select(*CONTACT_COLUMNS)
        )
        done = index_store.patch(
            old, path, fresh, changes.patients, order, "encounters-*", INDEX_ROW_GROUP
        )
        if report is not None:
            report.update(done)
        return done["delta_rows"] + done["folded_rows"]
    return write_sorted(engine, enc, path, order, "encounters-*")


def write_sorted(
    engine,
    expr,
    path: Path,
    order: list[str],
    old_files: str,
    metadata=None,
    row_group: int = INDEX_ROW_GROUP,
) -> int:
    """Write ``expr`` to the index folder ``path`` (``index_store.write_parts``: one part per
    patient bucket, each sorted by ``order``, ``patient_id`` first, in ``row_group``-row
    groups), unless it is there already, then remove the other entries of the folder's parent
    matching ``old_files``. Computed a first character of the pseudonym at a time, so the
    table is never held in memory whole; renamed into place when complete, so a reader never
    sees part of one. ``metadata`` goes into every part's schema and the folder's manifest."""
    if path.exists():
        return index_store.manifest(path).get("rows") or 0
    path.parent.mkdir(exist_ok=True)
    first = expr.patient_id.substr(0, 1)
    prefixes = sorted(engine.to_arrow(expr.select(p=first).distinct())["p"].to_pylist())
    parts = (engine.to_arrow(expr.filter(first == prefix).order_by(order)) for prefix in prefixes)
    return index_store.write_parts(parts, path, old_files, row_group, metadata)


def patient_groups(path: Path, pseudonym: str) -> range:
    """The row groups of the index file holding ``pseudonym`` (its part, or the delta) that
    can hold the patient's rows: one or two, found from the groups' statistics without
    reading any data."""
    file = index_store.source(path, pseudonym) if path.is_dir() else path
    if not file.exists():
        return range(0)
    _, lows, highs = index_store.row_groups(file)
    # Groups are in patient order: the patient's rows are in groups first..last.
    first = bisect.bisect_left(highs, pseudonym)
    last = bisect.bisect_right(lows, pseudonym)
    return range(first, max(first, last))


def index_metadata(path: Path) -> dict[bytes, bytes]:
    """The key-value metadata an index was written with (from its manifest, read once)."""
    if path.is_dir():
        return index_store.metadata(path)
    return index_store.row_groups(path)[0].schema_arrow.metadata or {}


def patient_rows(path: Path, pseudonym: str) -> list[dict]:
    """One patient's rows of an index folder, reading only the one or two row groups of the
    file that holds them (``patient_groups``)."""
    if path.is_dir():
        table = index_store.patient_table(path, pseudonym)
        return [] if table is None else table.to_pylist()
    groups = patient_groups(path, pseudonym)
    if not groups:
        return []
    table = index_store.row_groups(path)[0].read_row_groups(groups)
    return table.filter(pc.equal(table["patient_id"], pseudonym)).to_pylist()


def timeline(patient) -> list:
    """The warehouse contacts and every registered source's entries, newest first."""
    contacts = _contacts(patient)
    extra = [entry for fn in _SOURCES.values() for entry in fn(patient)]
    if not extra:
        return contacts
    return sorted(contacts + extra, key=lambda c: c.start, reverse=True)


def _contacts(patient) -> list[Contact]:
    stored = list(Contact.objects.filter(patient=patient).order_by("-start"))
    if stored:
        return stored
    warehouse = Warehouse(settings.WAREHOUSE_DIR)
    if not warehouse.exists():
        return []
    names = dict(Organisation.objects.values_list("org_id", "name"))
    index = index_file(warehouse)
    if index.exists():
        rows = patient_rows(index, patient.pseudonym)
    else:
        with connect(warehouse) as engine:
            rows = contact_rows(engine, [patient.pseudonym])
    return sorted(
        (to_contact(r, patient.pk, names) for r in rows), key=lambda c: c.start, reverse=True
    )


_from_index = patient_rows  # the name benchmarks/bench_timeline.py measures
