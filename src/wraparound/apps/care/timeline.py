"""A patient's contacts across providers, newest first.

Patients on the register or a caseload have their encounters copied into the app on every
refresh (``contacts.py``), so their timeline is one indexed query. Anyone else's timeline
(a GP opening a patient who is on no register) comes from the **timeline index**: a copy of
the warehouse's encounters sorted by patient, in small Parquet row groups, written by
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
import functools
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.conf import settings

from wraparound.apps.care.contacts import CONTACT_COLUMNS, contact_rows, to_contact
from wraparound.apps.care.index_patch import patch_sorted
from wraparound.apps.care.models import Contact
from wraparound.apps.records.models import Organisation
from wraparound.warehouse import paths
from wraparound.warehouse.engine import connect
from wraparound.warehouse.store import Warehouse

INDEX_ROW_GROUP = 8_192
"""Rows per row group: a patient's few dozen encounters sit in one or two groups, and the
groups' statistics stay small (about 130 groups per million encounters)."""


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
    return paths.timeline_index(warehouse.root, warehouse.manifest.snapshot)


def write_index(engine, warehouse: Warehouse, changes=None) -> int:
    """Write the timeline index for the warehouse's current snapshot (if not there yet) and
    remove older ones. Written a first character of the pseudonym at a time, each part sorted,
    so the file is sorted by patient without holding the whole table in memory. With
    ``changes`` (``apps/refresh_changes.py``) and the index of the snapshot last loaded, only
    the touched patients' rows are read from the warehouse and patched in
    (``index_patch.py``)."""
    path = index_file(warehouse)
    enc = engine.table("encounters").select(*CONTACT_COLUMNS)
    order = ["patient_id", "start"]
    old = paths.timeline_index(warehouse.root, changes.previous_snapshot) if changes else None
    if old is not None and old.exists() and not path.exists():
        if "encounters" not in changes.tables:
            os.replace(old, path)  # same rows: the encounters did not change
            return pq.ParquetFile(path).metadata.num_rows
        fresh = engine.to_arrow(enc.filter(enc.patient_id.isin(sorted(changes.patients))))
        return patch_sorted(
            old, path, fresh, changes.patients, order, "encounters-*.parquet", INDEX_ROW_GROUP
        )
    return write_sorted(engine, enc, path, order, "encounters-*.parquet")


def write_sorted(
    engine,
    expr,
    path: Path,
    order: list[str],
    old_files: str,
    metadata=None,
    row_group: int = INDEX_ROW_GROUP,
) -> int:
    """Write ``expr`` to ``path`` sorted by ``order`` (``patient_id`` first) in
    ``row_group``-row groups, unless it is there already, then remove the other files
    of the folder matching ``old_files``. Written a first character of the pseudonym at a
    time, so the table is never held in memory whole; renamed into place when complete, so a
    reader never sees part of one. ``metadata`` goes into the file's schema."""
    if path.exists():
        return pq.ParquetFile(path).metadata.num_rows
    path.parent.mkdir(exist_ok=True)
    first = expr.patient_id.substr(0, 1)
    prefixes = sorted(engine.to_arrow(expr.select(p=first).distinct())["p"].to_pylist())
    tmp = path.with_suffix(".tmp")
    rows = 0
    writer = None
    try:
        for prefix in prefixes:
            part = engine.to_arrow(expr.filter(first == prefix).order_by(order))
            if metadata:
                part = part.replace_schema_metadata(metadata)
            if writer is None:
                writer = pq.ParquetWriter(tmp, part.schema, compression="zstd")
            writer.write_table(part, row_group_size=row_group)
            rows += part.num_rows
    finally:
        if writer is not None:
            writer.close()
    if writer is None:  # nothing to index
        return 0
    os.replace(tmp, path)
    for old in path.parent.glob(old_files):
        if old != path:
            old.unlink()
    return rows


@functools.lru_cache(maxsize=4)
def _row_groups(path: Path) -> tuple[pq.ParquetFile, list[str], list[str]]:
    """The index file, opened once per process, with each row group's smallest and largest
    patient (the file never changes: a new snapshot gets a new file)."""
    file = pq.ParquetFile(path)
    column = file.schema_arrow.get_field_index("patient_id")
    lows, highs = [], []
    for i in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(i).column(column).statistics
        lows.append(stats.min)
        highs.append(stats.max)
    return file, lows, highs


def patient_groups(path: Path, pseudonym: str) -> range:
    """The row groups of an index file (sorted by patient) that can hold ``pseudonym``'s
    rows: one or two, found from the groups' statistics without reading any data."""
    _, lows, highs = _row_groups(path)
    # Groups are in patient order: the patient's rows are in groups first..last.
    first = bisect.bisect_left(highs, pseudonym)
    last = bisect.bisect_right(lows, pseudonym)
    return range(first, max(first, last))


def index_metadata(path: Path) -> dict[bytes, bytes]:
    """The key-value metadata an index file was written with (from the file opened once)."""
    return _row_groups(path)[0].schema_arrow.metadata or {}


def patient_rows(path: Path, pseudonym: str) -> list[dict]:
    """One patient's rows of an index file, reading only ``patient_groups``."""
    groups = patient_groups(path, pseudonym)
    if not groups:
        return []
    table = _row_groups(path)[0].read_row_groups(groups)
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
