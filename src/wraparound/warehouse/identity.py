"""The direct-care reader of the ``identity`` table (NHS number, name, contact details).

The identity table sits in the warehouse's snapshots like every other table, so it is loaded
and published by the same transactions, but the engine interface refuses it
(``schema.DIRECT_CARE``): analytics never see who a patient is. The care app, which must,
reads it here, straight from the current snapshot's Parquet file with PyArrow. A warehouse
written before the table existed (``schema.ADDED_TABLES``) has no file for it and reads as
the empty table: its patients have no identity until the next load writes one.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.warehouse.schema import empty
from wraparound.warehouse.store import Warehouse

TABLE = "identity"


def read_identity(
    warehouse: Warehouse | str | os.PathLike, columns: list[str] | None = None
) -> pa.Table:
    """The current identity table (all of it, or ``columns``) as an Arrow table."""
    if not isinstance(warehouse, Warehouse):
        warehouse = Warehouse(warehouse)
    files = warehouse.table_files(TABLE)
    if not files:
        table = empty(TABLE)
        return table.select(columns) if columns is not None else table
    return pa.concat_tables(pq.read_table(f, columns=columns) for f in files)
