"""The app's index folders (apps/care/index_store.py): patched night after night, with and
without folding the delta into the partitions, they read exactly as an index written whole
from the same rows."""

from __future__ import annotations

import random

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wraparound.apps.care import index_store

ORDER = ["patient_id", "n"]


def _rows(patients: list[str], rng: random.Random, night: int) -> pa.Table:
    ids, ns, values = [], [], []
    for p in patients:
        for n in range(rng.randrange(0, 4)):  # some touched patients end with no rows
            ids.append(p)
            ns.append(n)
            values.append(f"{p}-{night}-{n}")
    return pa.table(
        {
            "patient_id": pa.array(ids, pa.string()),
            "n": pa.array(ns, pa.int64()),
            "value": pa.array(values, pa.string()),
        }
    )


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(c, "ascending") for c in ORDER])


@pytest.mark.parametrize(
    ("share", "per_refresh"), [(1000.0, 32), (0.0, 3), (0.02, 32)], ids=["delta", "capped", "fold"]
)
def test_patched_nights_read_as_a_whole_write(tmp_path, monkeypatch, share, per_refresh):
    monkeypatch.setattr(index_store, "FOLD_SHARE", share)
    monkeypatch.setattr(index_store, "FOLD_PER_REFRESH", per_refresh)
    rng = random.Random(7)
    everyone = [f"{rng.getrandbits(40):010x}" for _ in range(600)]
    truth = {p: _rows([p], rng, 0) for p in everyone}
    meta = {b"as_of": b"2026-04-01"}

    def whole() -> pa.Table:
        return _sorted(pa.concat_tables(truth.values()))

    folder = tmp_path / "idx-000001"
    index_store.write_parts([whole()], folder, "idx-*", row_group=64, metadata=meta)
    assert len(list(folder.glob("part-*.parquet"))) > 100
    first = {p.name: p.read_bytes() for p in folder.glob("part-*.parquet")}
    folded = 0
    for night in range(1, 6):
        touched = set(rng.sample(everyone, 40))
        touched.add(f"ff{night:08x}")  # a new patient, maybe in a bucket with no part yet
        fresh = _rows(sorted(touched), rng, night)
        for p in touched:
            truth[p] = fresh.filter(pa.compute.equal(fresh["patient_id"], p))
        everyone.extend(p for p in touched if p not in everyone)
        new = tmp_path / f"idx-{night + 1:06d}"
        done = index_store.patch(
            folder, new, fresh, frozenset(touched), ORDER, "idx-*", row_group=64
        )
        assert not folder.exists() and new.exists(), "the old folder is removed"
        folder = new
        folded += done["parts_folded"]
        assert done["parts_folded"] <= per_refresh
        assert (
            index_store.read_all(folder).sort_by([(c, "ascending") for c in ORDER]).equals(whole())
        )
        for p in sorted(touched) + rng.sample(everyone, 40):
            got = index_store.patient_table(folder, p)
            expected = truth[p].to_pylist()
            assert (got.to_pylist() if got is not None else []) == expected, p
        assert index_store.metadata(folder) == meta
    if share > 1:
        # Only a bucket with no part yet gets one; every part written first is as it was.
        assert (folder / index_store.DELTA).exists()
        assert all((folder / name).read_bytes() == data for name, data in first.items())
    else:
        assert folded > 0
        # Folded parts hold whole, sorted buckets.
        for part in folder.glob("part-*.parquet"):
            ids = pq.read_table(part)["patient_id"].to_pylist()
            assert ids == sorted(ids) and len({i[:2] for i in ids}) == 1


def test_a_published_folder_is_never_rebuilt_so_pages_may_keep_what_they_read(tmp_path):
    """Pages keep each file's row groups and each delta's patient list in memory for the
    life of the process. That is sound only because a folder, once published, never
    changes: a second build of the same snapshot is discarded, and every read after it,
    in this process or a new one, is what it was."""
    rng = random.Random(3)
    everyone = [f"{rng.getrandbits(40):010x}" for _ in range(200)]
    base = tmp_path / "idx-000001"
    index_store.write_parts(
        [_sorted(pa.concat_tables(_rows([p], rng, 0) for p in everyone))], base, "idx-*", 64
    )
    target = tmp_path / "idx-000002"
    one, other = everyone[5], everyone[9]
    night1 = _rows([one, other], random.Random(1), 1)
    index_store.patch(base, target, night1, frozenset({one}), ORDER, "idx-*", row_group=64)
    files = {p.name: p.read_bytes() for p in target.iterdir()}
    seen = {p: index_store.patient_table(target, p) for p in (one, other)}
    assert (seen[one].to_pylist() if seen[one] is not None else []) == [
        r for r in night1.to_pylist() if r["patient_id"] == one
    ]

    night2 = _rows([one, other], random.Random(2), 2)
    index_store.write_parts([_sorted(night2)], target, "idx-*", 64)  # the same snapshot again
    assert {p.name: p.read_bytes() for p in target.iterdir()} == files
    index_store._delta_patients.cache_clear()
    index_store.row_groups.cache_clear()
    for p in (one, other):
        again = index_store.patient_table(target, p)
        assert (again.to_pylist() if again is not None else None) == (
            seen[p].to_pylist() if seen[p] is not None else None
        )
