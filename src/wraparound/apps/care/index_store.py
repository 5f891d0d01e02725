"""The app's per-snapshot indexes (timeline, record) as a folder of partitions by patient
bucket plus a small delta, so a refresh after a daily feed rewrites what the feed touched and
not the whole index.

A folder ``DIR/app_index/<name>-NNNNNN/`` holds:

- ``part-<hex>.parquet``: the base partitions. A patient's bucket is the first
  ``PREFIX`` characters of the pseudonym (256 buckets for hex pseudonyms); each part is
  sorted by patient in small row groups, so one patient's rows are one or two row groups.
- ``delta.parquet`` and ``delta-patients.parquet`` (optional): the rows of every patient
  changed since their bucket was last written, and the list of those patients (a patient
  with no rows left is in the list, not in the rows). A patient in the list is read from
  the delta only; anyone else from their part.
- ``index.json``: the key-value metadata (the record index's as-of date) and each part's
  rows and patients.

A first load writes every part (:func:`write_parts`). After a batch, :func:`patch` builds the
new snapshot's folder from the previous one: the parts are hard links to the previous files
(no copy), the touched patients' fresh rows go into a rewritten delta, and a part is
**rewritten only when it changed enough**: once its delta patients reach ``FOLD_SHARE`` of its
patients, at most ``FOLD_PER_REFRESH`` parts per refresh (the most changed first), so one
refresh's work is bounded by the batch and a fixed number of parts, and over the nights every
part is folded in proportion to how much of it changed. Folders are built beside the target
and renamed into place whole, so a reader sees the old folder or the new one, never a part
of one.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from bisect import bisect_left as _bisect_left
from bisect import bisect_right as _bisect_right
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

PREFIX = 2
"""Characters of the pseudonym naming its bucket."""

FOLD_SHARE = 0.02
"""A part is rewritten once this share of its patients sit in the delta."""

FOLD_PER_REFRESH = 32
"""At most this many parts are rewritten by one incremental refresh."""

DELTA = "delta.parquet"
DELTA_PATIENTS = "delta-patients.parquet"
MANIFEST = "index.json"


def bucket(pseudonym: str) -> str:
    return pseudonym[:PREFIX]


def part_name(prefix: str) -> str:
    return f"part-{prefix.encode().hex()}.parquet"


def manifest(folder: Path) -> dict:
    return json.loads((Path(folder) / MANIFEST).read_text())


def _prefixes(table: pa.Table) -> pa.Array:
    return pc.utf8_slice_codeunits(table["patient_id"], 0, PREFIX)


def _split_sorted(table: pa.Table):
    """(prefix, slice) for each bucket of a table sorted by patient."""
    if not table.num_rows:
        return
    counts = pc.value_counts(_prefixes(table))
    offset = 0
    for item in counts:
        n = item["counts"].as_py()
        yield item["values"].as_py(), table.slice(offset, n)
        offset += n


# Every page of a patient reads one or two row groups of two indexes, so it is their decoding
# that the page waits for, not the disk: a 512-row group decodes in about two thirds of the
# time with lz4 as with zstd, for files about a fifth larger (docs/app.md has the figures).
COMPRESSION = "lz4"


def _write(table: pa.Table, path: Path, row_group: int, metadata: dict | None) -> None:
    if metadata:
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    pq.write_table(table, path, compression=COMPRESSION, row_group_size=row_group)


def _part_stats(table: pa.Table) -> dict:
    return {"rows": table.num_rows, "patients": pc.count_distinct(table["patient_id"]).as_py()}


def _publish(tmp: Path, folder: Path, old_glob: str) -> None:
    if folder.exists():
        shutil.rmtree(tmp)
        return
    os.replace(tmp, folder)
    for other in folder.parent.glob(old_glob):
        if other == folder or other.suffix == ".tmp":
            continue
        if other.is_dir():
            shutil.rmtree(other, ignore_errors=True)
        else:
            other.unlink(missing_ok=True)


def _text_metadata(metadata: dict | None) -> dict:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in (metadata or {}).items()
    }


def write_parts(
    parts, folder: Path, old_glob: str, row_group: int, metadata: dict | None = None
) -> int:
    """Write ``folder`` from ``parts`` (Arrow tables sorted by patient, in patient order, each
    holding whole buckets), one file per bucket; then remove the other folders matching
    ``old_glob``. Returns the rows written."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stats: dict[str, dict] = {}
    rows = 0
    schema = None
    for part in parts:
        for prefix, piece in _split_sorted(part):
            _write(piece, tmp / part_name(prefix), row_group, metadata)
            stats[prefix] = _part_stats(piece)
            rows += piece.num_rows
            schema = piece.schema
    if schema is None:
        shutil.rmtree(tmp)
        return 0
    (tmp / MANIFEST).write_text(
        json.dumps(
            {
                "metadata": _text_metadata(metadata),
                "parts": stats,
                "delta_patients": 0,
                "rows": rows,
            }
        )
    )
    _publish(tmp, folder, old_glob)
    return rows


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def patch(
    old: Path,
    folder: Path,
    fresh: pa.Table,
    patients: frozenset[str],
    order: list[str],
    old_glob: str,
    row_group: int,
    metadata: dict | None = None,
) -> dict:
    """Write ``folder`` as ``old`` with ``patients``' rows replaced by ``fresh``: the parts
    linked, the delta rewritten, the parts that changed enough folded. Returns what was
    written (delta rows and patients, parts folded and their rows)."""
    info = manifest(old)
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    parts: dict[str, dict] = dict(info["parts"])
    for prefix in parts:
        _link(old / part_name(prefix), tmp / part_name(prefix))
    schema = pq.read_schema(old / part_name(next(iter(parts)))) if parts else fresh.schema
    schema = schema.remove_metadata()
    fresh = fresh.select(schema.names).cast(schema)
    wanted = pa.array(sorted(patients), pa.string())
    if (old / DELTA_PATIENTS).exists():
        before = pq.read_table(old / DELTA).replace_schema_metadata(None).cast(schema)
        before = before.filter(pc.invert(pc.is_in(before["patient_id"], value_set=wanted)))
        delta = pa.concat_tables([before, fresh])
        known = pq.read_table(old / DELTA_PATIENTS)["patient_id"].combine_chunks()
        ids = pc.unique(pa.concat_arrays([known, wanted]))
    else:
        delta, ids = fresh, wanted
    # Which parts changed enough to be rewritten this time.
    share: dict[str, int] = {}
    for item in pc.value_counts(pc.utf8_slice_codeunits(ids, 0, PREFIX)):
        share[item["values"].as_py()] = item["counts"].as_py()
    ranked = sorted(
        (
            (n / max(parts.get(p, {}).get("patients", 0), 1), p)
            for p, n in share.items()
            if n >= FOLD_SHARE * parts.get(p, {}).get("patients", 0)
        ),
        reverse=True,
    )
    fold = {p for _, p in ranked[:FOLD_PER_REFRESH]}
    folded_rows = 0
    if fold:
        delta_prefix = pc.utf8_slice_codeunits(delta["patient_id"], 0, PREFIX)
        ids_prefix = pc.utf8_slice_codeunits(ids, 0, PREFIX)
        fold_set = pa.array(sorted(fold), pa.string())
        for prefix in sorted(fold):
            mine = pc.equal(ids_prefix, prefix)
            gone = ids.filter(mine)
            base = (
                pq.read_table(old / part_name(prefix)).replace_schema_metadata(None).cast(schema)
                if prefix in parts
                else schema.empty_table()
            )
            base = base.filter(pc.invert(pc.is_in(base["patient_id"], value_set=gone)))
            table = pa.concat_tables([base, delta.filter(pc.equal(delta_prefix, prefix))])
            table = table.sort_by([(name, "ascending") for name in order])
            target = tmp / part_name(prefix)
            target.unlink(missing_ok=True)
            if table.num_rows:
                _write(table, target, row_group, metadata)
                parts[prefix] = _part_stats(table)
                folded_rows += table.num_rows
            else:
                parts.pop(prefix, None)
        keep = pc.invert(pc.is_in(delta_prefix, value_set=fold_set))
        delta = delta.filter(keep)
        ids = ids.filter(pc.invert(pc.is_in(ids_prefix, value_set=fold_set)))
    if len(ids):
        delta = delta.sort_by([(name, "ascending") for name in order])
        _write(delta, tmp / DELTA, row_group, metadata)
        listed = pa.table({"patient_id": ids}).sort_by("patient_id")
        pq.write_table(listed, tmp / DELTA_PATIENTS, compression=COMPRESSION)
    out = {
        "delta_rows": delta.num_rows if len(ids) else 0,
        "delta_patients": len(ids),
        "parts_folded": len(fold),
        "folded_rows": folded_rows,
    }
    (tmp / MANIFEST).write_text(
        json.dumps(
            {
                "metadata": _text_metadata(metadata) if metadata else info["metadata"],
                "parts": parts,
                "delta_patients": len(ids),
                "rows": None,
            }
        )
    )
    _publish(tmp, folder, old_glob)
    return out


@functools.lru_cache(maxsize=2048)
def row_groups(path: Path) -> tuple[pq.ParquetFile, list[str], list[str]]:
    """A file of the index, opened once per process, with each row group's smallest and
    largest patient (a file never changes: a new snapshot gets a new folder)."""
    file = pq.ParquetFile(path)
    column = file.schema_arrow.get_field_index("patient_id")
    lows, highs = [], []
    for i in range(file.metadata.num_row_groups):
        stats = file.metadata.row_group(i).column(column).statistics
        lows.append(stats.min)
        highs.append(stats.max)
    return file, lows, highs


def _groups(path: Path, pseudonym: str) -> range:
    _, lows, highs = row_groups(path)
    first = _bisect_left(highs, pseudonym)
    last = _bisect_right(lows, pseudonym)
    return range(first, max(first, last))


def _read(path: Path, pseudonym: str) -> pa.Table | None:
    groups = _groups(path, pseudonym)
    if not groups:
        return None
    # One or two small groups: handing their columns to Arrow's thread pool costs more than
    # decoding them here (and a page's request already has its own thread).
    table = row_groups(path)[0].read_row_groups(groups, use_threads=False)
    return table.filter(pc.equal(table["patient_id"], pseudonym))


@functools.lru_cache(maxsize=16)
def _delta_patients(folder: Path) -> frozenset[str]:
    """The patients a folder's delta holds, read once per process: a published folder never
    changes (``_publish`` keeps it and discards a second build of the same snapshot), and
    the list is bounded by ``FOLD_SHARE``. Before, every page read it as a row group."""
    listed = folder / DELTA_PATIENTS
    if not listed.exists():
        return frozenset()
    return frozenset(pq.read_table(listed, columns=["patient_id"])["patient_id"].to_pylist())


def source(folder: Path, pseudonym: str) -> Path:
    """The file holding ``pseudonym``'s rows: the delta if the patient is listed in it,
    else the patient's part."""
    folder = Path(folder)
    if pseudonym in _delta_patients(folder):
        return folder / DELTA
    return folder / part_name(bucket(pseudonym))


def patient_table(folder: Path, pseudonym: str) -> pa.Table | None:
    path = source(folder, pseudonym)
    if not path.exists():
        return None
    return _read(path, pseudonym)


def read_all(folder: Path) -> pa.Table:
    """The whole index as one table (tests and benchmarks; never on a request)."""
    folder = Path(folder)
    info = manifest(folder)
    tables = [
        pq.read_table(folder / part_name(p)).replace_schema_metadata(None) for p in info["parts"]
    ]
    if (folder / DELTA_PATIENTS).exists():
        listed = pq.read_table(folder / DELTA_PATIENTS)["patient_id"]
        tables = [t.filter(pc.invert(pc.is_in(t["patient_id"], value_set=listed))) for t in tables]
        tables.append(pq.read_table(folder / DELTA).replace_schema_metadata(None))
    if not tables:
        return pa.table({})
    schema = tables[0].schema
    return pa.concat_tables([t.cast(schema) for t in tables])


def metadata(folder: Path) -> dict[bytes, bytes]:
    return {k.encode(): v.encode() for k, v in _manifest_cached(Path(folder)).items()}


@functools.lru_cache(maxsize=64)
def _manifest_cached(folder: Path) -> dict:
    return manifest(folder)["metadata"]
