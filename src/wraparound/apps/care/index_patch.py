"""Patch a per-snapshot index file (timeline or record index) for a few patients.

After a small warehouse batch only the patients it touched have different index rows. Rather
than recompute every patient's rows through the engine, :func:`patch_sorted` takes the index of
the snapshot the app last loaded, drops the touched patients' rows, adds their freshly computed
rows and writes the result, sorted by patient in the same row groups, as the new snapshot's
index. The engine work is proportional to the batch; what remains is reading and writing one
Parquet file in Arrow, with no query over the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq


def patch_sorted(
    old: Path,
    path: Path,
    fresh: pa.Table,
    patients: frozenset[str],
    order: list[str],
    old_files: str,
    row_group: int,
    metadata: dict | None = None,
) -> int:
    """Write ``path``: ``old``'s rows of patients not in ``patients``, plus ``fresh`` (those
    patients' new rows), sorted by ``order``; then remove the folder's other ``old_files``.
    Returns the rows written. ``metadata`` replaces the schema metadata (else ``old``'s)."""
    kept = pq.read_table(old)
    schema = kept.schema
    if metadata is not None:
        schema = schema.with_metadata(metadata)
    if patients:
        wanted = pa.array(sorted(patients), pa.string())
        kept = kept.filter(pc.invert(pc.is_in(kept["patient_id"], value_set=wanted)))
    table = pa.concat_tables(
        [kept.replace_schema_metadata(schema.metadata), fresh.select(schema.names).cast(schema)]
    )
    table = table.sort_by([(name, "ascending") for name in order])
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, compression="zstd", row_group_size=row_group)
    os.replace(tmp, path)
    for other in path.parent.glob(old_files):
        if other != path:
            other.unlink()
    return table.num_rows
