"""What changed in the warehouse since the app last loaded it, for an incremental refresh.

The app records the warehouse batch each refresh loaded (``WarehouseLoad``); the manifest
lists, for every later batch, the tables it wrote and how many rows it deleted
(``store.Transaction.publish``). Every warehouse row carries the ``batch`` that last wrote it,
so the patients a batch touched are the ``patient_id`` of the rows whose ``batch`` is one of
the new batches, read from the touched tables only.

An incremental refresh is only safe when that set says everything, so :func:`changes_since`
answers ``None`` (refresh everything) when it cannot: no earlier refresh, a warehouse that went
backwards (rebuilt), a batch that deleted rows (a deleted row's patient is no longer in the
table), a batch that wrote a table with no ``patient_id`` (organisations, areas,
practitioners: names and parents shown for everyone), a table the app does not know, or an
earlier refresh that recorded no snapshot (written before incremental refreshes).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from wraparound.warehouse.identity import read_identity
from wraparound.warehouse.schema import DIRECT_CARE
from wraparound.warehouse.store import Manifest

PATIENT_TABLES = frozenset(
    {
        "patients",
        "registrations",
        "conditions",
        "observations",
        "medications",
        "procedures",
        "encounters",
        "identity",
        "allergies",
        "letters",
    }
)
"""Tables whose every row belongs to one patient (``patient_id``)."""


@dataclass(frozen=True)
class Changes:
    """The batches loaded since the last refresh, the tables they wrote and the pseudonyms of
    the patients whose rows they wrote."""

    previous_snapshot: int
    batches: tuple[int, ...]
    tables: frozenset[str]
    patients: frozenset[str]


def changes_since(
    engine, manifest: Manifest, previous_batch: int | None, previous_snapshot: int | None
) -> Changes | None:
    """The changes since ``previous_batch``, or ``None`` when only a full refresh is right."""
    if previous_batch is None or previous_snapshot is None or previous_batch > manifest.batch:
        return None
    later = [b for b in manifest.batches if b.get("batch", 0) > previous_batch]
    if len(later) != manifest.batch - previous_batch:
        return None  # the manifest does not account for every batch since
    tables: set[str] = set()
    for entry in later:
        if any(entry.get("deleted", {}).values()):
            return None
        tables |= set(entry.get("tables", {}))
    if not tables <= PATIENT_TABLES:
        return None
    batches = tuple(b["batch"] for b in later)
    patients: set[str] = set()
    for name in sorted(tables):
        patients |= _touched(engine, name, batches)
    return Changes(previous_snapshot, batches, frozenset(tables), frozenset(patients))


def _touched(engine, name: str, batches: tuple[int, ...]) -> set[str]:
    """Pseudonyms of a table's rows written by ``batches``."""
    if name in DIRECT_CARE:  # read as files, never through the analytics engine
        rows = read_identity(engine.warehouse, columns=["patient_id", "batch"])
        hit = rows.filter(pc.is_in(rows["batch"], value_set=pa.array(batches, pa.int64())))
        return set(hit["patient_id"].to_pylist())
    table = engine.table(name)
    expr = table.filter(table.batch.isin(list(batches))).select("patient_id").distinct()
    return set(engine.to_arrow(expr)["patient_id"].to_pylist())
