"""Synthetic letters back to the GP: for most contacts that need one (outpatient and A&E
attendances, discharges from admissions; ``data/letters.toml`` decides which the app
expects), a letter from the provider. About 80% arrive within two days of the contact, about
12% late (4 to 15 days), the rest never: so the letters dashboard and the indicator
``letters_within_2_operational_days`` show a realistic spread. Drawn from their own random
stream, so no other table changes; letters dated after the extract are left out (not yet
written)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from wraparound.sources.synthetic.clock import US_PER_DAY
from wraparound.warehouse.schema import TS

ON_TIME, LATE = 0.80, 0.12
REPORT = "371531000"  # SNOMED CT: report of clinical encounter
DISCHARGE = "373942005"  # SNOMED CT: discharge summary
_AT_START = ("outpatient", "ae_attendance")
_AT_END = ("emergency_admission", "elective_admission")


def letters(encounters: pa.Table, rng: np.random.Generator, extract_us: int) -> pa.Table:
    """The letters table (without bookkeeping columns) for ``encounters``."""
    kind = encounters.column("kind")
    attended = pc.equal(encounters.column("status"), "attended")
    at_start = pc.and_(pc.is_in(kind, pa.array(_AT_START)), attended)
    at_end = pc.and_(
        pc.and_(pc.is_in(kind, pa.array(_AT_END)), attended),
        pc.is_valid(encounters.column("end")),
    )
    picked = encounters.filter(pc.or_(at_start, at_end))
    n = picked.num_rows
    start = picked.column("start").cast(pa.int64()).to_numpy(zero_copy_only=False)
    end = pc.fill_null(picked.column("end"), picked.column("start"))
    end = end.cast(pa.int64()).to_numpy(zero_copy_only=False)
    discharge = np.isin(picked.column("kind").to_numpy(zero_copy_only=False), _AT_END)
    base = np.where(discharge, end, start)
    u = rng.uniform(0, 1, n)
    hours = rng.uniform(2, 40, n)
    late_days = rng.uniform(4, 15, n)
    delay = np.where(u < ON_TIME, hours * US_PER_DAY / 24, late_days * US_PER_DAY)
    minute = US_PER_DAY // 1440
    date = base + (delay.astype(np.int64) // minute) * minute  # whole minutes, as contacts
    keep = (u < ON_TIME + LATE) & (date <= extract_us)
    ids = picked.column("id").to_numpy(zero_copy_only=False)[keep]
    return pa.table(
        {
            "id": pa.array(["L" + i for i in ids], pa.string()),
            "patient_id": picked.column("patient_id").filter(pa.array(keep)),
            "org_id": picked.column("org_id").filter(pa.array(keep)),
            "encounter_id": pa.array(ids, pa.string()),
            "contact_start": pa.array(start[keep], TS),
            "date": pa.array(date[keep], TS),
            "type_code": pa.array(np.where(discharge[keep], DISCHARGE, REPORT), pa.string()),
        }
    )
