"""A day's feed for the indicators' month reuse: FHIR resources dated in the warehouse's last
week, written as ``<Type>.ndjson`` for ``wraparound ingest``.

Built from rows already in the warehouse (so every code, organisation and patient is real),
copied with new ids and moved into the last week: GP appointments (booked a few days before),
A&E attendances, blood pressure and HbA1c readings and new diagnoses; plus one discharge (a
newer version of an admission that had no end, so a replaced row) and a GP appointment
rebooked into the last week (a replaced row that moves month). Used by
``bench_indicators.py`` and ``tests/integration/test_indicators_reuse.py``.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from wraparound.sources.fhir import write_events
from wraparound.sources.fhir.write_common import References
from wraparound.warehouse.engine import connect

SHARES = {"gp": 0.5, "ae": 0.2, "obs": 0.25, "cond": 0.05}


def _sample(table: pa.Table, n: int, rng: random.Random) -> pa.Table:
    if table.num_rows == 0 or n <= 0:
        return table.slice(0, 0)
    return table.take([rng.randrange(table.num_rows) for _ in range(n)])


def _moved(table: pa.Table, prefix: str, last: dt.datetime, rng: random.Random, stamp) -> pa.Table:
    """Rows with new ids, each moved to a random minute of the week before ``last``."""
    n = table.num_rows
    ids = pa.array([f"{prefix}-{i}" for i in range(n)], pa.string())
    table = table.set_column(table.schema.get_field_index("id"), "id", ids)
    shifts = [last - dt.timedelta(minutes=rng.randrange(7 * 24 * 60)) for _ in range(n)]
    original = table
    for name in ("start", "end", "booked_at", "date", "onset_date"):
        if name not in table.column_names:
            continue
        col = table.column(name)
        kind = col.type
        if pa.types.is_timestamp(kind):
            delta = pc.subtract(col, original.column("start"))
            values = [
                None if d is None else s + d for s, d in zip(shifts, delta.to_pylist(), strict=True)
            ]
            if name == "booked_at":
                values = [
                    None if v is None else s - dt.timedelta(days=rng.randrange(0, 10))
                    for v, s in zip(col.to_pylist(), shifts, strict=True)
                ]
            new = pa.array(values, kind)
        else:
            new = pa.array([s.date() for s in shifts], kind)
        table = table.set_column(table.schema.get_field_index(name), name, new)
    if "abatement_date" in table.column_names:
        i = table.schema.get_field_index("abatement_date")
        table = table.set_column(i, "abatement_date", pa.nulls(n, pa.date32()))
    for name, value in (("updated_at", stamp), ("version_id", None)):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, name, pa.array([value] * n, table.schema.field(name).type))
    return table


def write_batch(warehouse: Path, out: Path, resources: int, seed: int) -> dict:
    """Write about ``resources`` FHIR resources into ``out``; returns what was written."""
    rng = random.Random(seed)
    with connect(warehouse, engine="duckdb") as engine:
        enc = engine.table("encounters")
        last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0].as_py()
        recent = enc.filter(enc.start >= last - dt.timedelta(days=365))
        gp = engine.to_arrow(recent.filter(recent.kind == "gp_appointment").limit(200_000))
        ae = engine.to_arrow(recent.filter(recent.kind == "ae_attendance").limit(50_000))
        admissions = recent.filter((recent.kind == "emergency_admission") & recent.end.isnull())
        open_admission = engine.to_arrow(admissions.order_by("id").limit(1))
        rebook = engine.to_arrow(
            recent.filter(
                (recent.kind == "gp_appointment")
                & (recent.start < last - dt.timedelta(days=40))
                & (recent.status == "booked")
            )
            .order_by("id")
            .limit(1)
        )
        obs_t = engine.table("observations")
        obs = engine.to_arrow(
            obs_t.filter(obs_t.date >= (last - dt.timedelta(days=365)).date()).limit(200_000)
        )
        conds = engine.to_arrow(engine.table("conditions").limit(50_000))
        orgs = engine.to_arrow(engine.table("organisations").select("id", "org_id"))
        pats = engine.table("patients")
        stamp = last + dt.timedelta(days=1)
        tables = {
            kind: _moved(_sample(rows, int(resources * SHARES[kind]), rng), f"feed{seed}-{kind}",
                         last, rng, stamp)
            for kind, rows in (("gp", gp), ("ae", ae), ("obs", obs), ("cond", conds))
        }  # fmt: skip
        changed = []
        if open_admission.num_rows:  # discharged: the same id, an end, a newer version
            start = open_admission.column("start")[0].as_py()
            end = min(start + dt.timedelta(days=3), last)
            row = open_admission.set_column(
                open_admission.schema.get_field_index("end"),
                "end",
                pa.array([end], open_admission.schema.field("end").type),
            )
            changed.append(("hospital", _newer(row, stamp)))
        if rebook.num_rows:  # rebooked into the last week: the same id, a new month
            start = last - dt.timedelta(days=2)
            row = rebook
            length = row.column("end")[0].as_py() - row.column("start")[0].as_py()
            for name, value in (("start", start), ("end", start + length)):
                i = row.schema.get_field_index(name)
                row = row.set_column(i, name, pa.array([value], row.schema.field(name).type))
            changed.append(("appointments", _newer(row, stamp)))
        every = [t for t in tables.values()] + [t for _, t in changed]
        wanted = sorted({p for t in every for p in t.column("patient_id").to_pylist()})
        ids = engine.memtable(pa.table({"patient_id": pa.array(wanted, pa.string())}))
        owners = engine.to_arrow(pats.semi_join(ids, "patient_id").select("patient_id", "id"))
    refs = References()
    for ods, fid in zip(
        orgs.column("org_id").to_pylist(), orgs.column("id").to_pylist(), strict=True
    ):
        refs.add_organisation(ods, fid)
    refs.set_patients(owners.column("patient_id").to_pylist(), owners.column("id").to_pylist())
    built = [
        write_events.appointments(tables["gp"], refs),
        write_events.hospital(tables["ae"], refs),
        *write_events.observations(tables["obs"], refs),
        *write_events.conditions(tables["cond"], refs),
    ]
    for kind, row in changed:
        built.append(getattr(write_events, kind)(row, refs))
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[bytes]] = {}
    for b in built:
        files.setdefault(b.resource_type, []).extend(orjson.dumps(r) + b"\n" for r in b.resources)
    for resource_type, lines in files.items():
        (out / f"{resource_type}.ndjson").write_bytes(b"".join(lines))
    return {
        "resources": sum(len(v) for v in files.values()),
        "by_type": {k: len(v) for k, v in files.items()},
        "last_day": last.date().isoformat(),
        "replaced": [kind for kind, _ in changed],
    }


def _newer(row: pa.Table, stamp) -> pa.Table:
    i = row.schema.get_field_index("updated_at")
    return row.set_column(i, "updated_at", pa.array([stamp], row.schema.field("updated_at").type))


APP_EVENTS_EVERY = 7


def write_app_events(warehouse: Path, every: int = APP_EVENTS_EVERY, extra: int = 0) -> int:
    """The app's export (``DIR/app_events/app_events.parquet``), deterministic: every kind
    for every ``every``-th patient, dated through the two years before the data's end, so
    that the indicators built on what the app records compute too. ``extra``: that many more
    events dated in the data's last week (what a night's export adds). Returns the rows."""
    import polars as pl

    from wraparound.analytics.indicators.definition import APP_EVENT_KINDS
    from wraparound.warehouse import paths
    from wraparound.warehouse.store import Warehouse

    wh = Warehouse(warehouse)
    patients = pl.from_arrow(wh.read("patients", ["patient_id"]))["patient_id"].sort()
    with connect(warehouse, engine="duckdb") as engine:
        enc = engine.table("encounters")
        last = engine.to_arrow(enc.aggregate(last=enc.start.max())).column("last")[0].as_py()
    end = last.date()
    chosen = patients.gather_every(every)
    n = chosen.len()
    frames = [
        pl.DataFrame(
            {
                "patient_id": chosen,
                "kind": [kind] * n,
                "date": [end - dt.timedelta(days=1 + (i * 7 + k) % 730) for i in range(n)],
            }
        )
        for k, kind in enumerate(APP_EVENT_KINDS)
    ]
    if extra:
        rng = random.Random(extra)
        picks = [rng.randrange(patients.len()) for _ in range(extra)]
        frames.append(
            pl.DataFrame(
                {
                    "patient_id": patients.gather(picks),
                    "kind": [APP_EVENT_KINDS[i % len(APP_EVENT_KINDS)] for i in range(extra)],
                    "date": [end - dt.timedelta(days=rng.randrange(7)) for _ in range(extra)],
                }
            )
        )
    rows = pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))
    folder = paths.app_events_dir(warehouse)
    folder.mkdir(parents=True, exist_ok=True)
    rows.write_parquet(folder / paths.APP_EVENTS_FILE)
    return rows.height
