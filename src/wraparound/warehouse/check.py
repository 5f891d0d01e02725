"""Is this directory a warehouse that can be read? One clear answer before any work starts.

Every command that reads a warehouse calls :func:`readable` first, so a wrong path, a
manifest that is not JSON, a snapshot missing a table, or a table file cut short is reported
as one sentence naming the file (``WarehouseError``), rather than failing deep inside DuckDB
or PyArrow half-way through a run. It reads only the manifest and each table's Parquet footer,
which costs milliseconds whatever the warehouse's size.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.warehouse import paths
from wraparound.warehouse.schema import ADDED_TABLES, SCHEMA_VERSION, TABLES
from wraparound.warehouse.store import Manifest, Warehouse, WarehouseError

_MANIFEST_KEYS = set(Manifest.__dataclass_fields__)


def readable(root: str | os.PathLike) -> Warehouse:
    """The warehouse at ``root``, or :class:`WarehouseError` saying what is wrong with it."""
    root = Path(root)
    if not root.exists():
        raise WarehouseError(f"{root} is not a warehouse (no such warehouse directory)")
    if not root.is_dir():
        raise WarehouseError(f"{root} is a file, not a warehouse directory")
    manifest = paths.manifest(root)
    if not manifest.exists():
        raise WarehouseError(f"{root} is not a warehouse (no {paths.MANIFEST})")
    snapshot = _snapshot_number(manifest)
    for name in TABLES:
        path = paths.table_file(root, snapshot, name)
        folder = paths.table_dir(root, snapshot, name)
        if not path.exists() and folder.is_dir():  # partitioned (store.PARTITIONS)
            for part in sorted(folder.glob("*.parquet")):
                try:
                    pq.read_metadata(part)
                except (OSError, pa.ArrowException) as exc:
                    raise WarehouseError(
                        f"{part} is not a readable Parquet file ({one_line(exc)}); the "
                        "warehouse is damaged"
                    ) from None
            continue
        if not path.exists():
            if name in ADDED_TABLES:
                continue  # written before the table existed: reads as empty
            raise WarehouseError(
                f"{root} is damaged: snapshot {snapshot:06d} named by {paths.MANIFEST} has no "
                f"{path.name}"
            )
        try:
            pq.read_metadata(path)
        except (OSError, pa.ArrowException) as exc:
            raise WarehouseError(
                f"{path} is not a readable Parquet file ({one_line(exc)}); the warehouse is damaged"
            ) from None
    return Warehouse(root)


def _snapshot_number(manifest: Path) -> int:
    try:
        data = json.loads(manifest.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WarehouseError(f"{manifest} is not a readable manifest ({one_line(exc)})") from None
    if not isinstance(data, dict) or not set(data) <= _MANIFEST_KEYS:
        raise WarehouseError(f"{manifest} is not a Wraparound manifest")
    if data.get("schema_version") != SCHEMA_VERSION:
        raise WarehouseError(
            f"{manifest.parent} has schema version {data.get('schema_version')}, "
            f"this Wraparound reads version {SCHEMA_VERSION}"
        )
    snapshot = data.get("snapshot")
    if not isinstance(snapshot, int) or snapshot < 1:
        raise WarehouseError(f"{manifest} names no snapshot (snapshot: {snapshot!r})")
    return snapshot


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (DuckDB's and Arrow's span several)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
