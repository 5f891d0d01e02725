"""Synthetic letters back to the GP: for most contacts that need one (outpatient and A&E
attendances, discharges from admissions; ``data/letters.toml`` decides which the app
expects), a letter from the provider. About 80% arrive within two days of the contact, about
12% late (4 to 15 days), the rest never: so the letters dashboard and the indicator
``letters_within_2_operational_days`` show a realistic spread. Drawn from their own random
stream, so no other table changes, and each contact's draws come from the contact itself, so a
contact's letter does not depend on which other contacts exist (a simulated intervention
that prevents admissions leaves every other letter as it was); letters dated after the
extract are left out (not yet written)."""

from __future__ import annotations

import zlib

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


def _uniforms(keys: list[str], rng: np.random.Generator, k: int) -> list[np.ndarray]:
    """``k`` uniforms in [0, 1) per contact, from a hash of what the contact is (patient,
    kind, start: encounter ids are positional) salted by the stream (SplitMix64), so the
    draws for one contact never shift when another is removed."""
    x = np.fromiter((zlib.crc32(c.encode()) for c in keys), dtype=np.uint64, count=len(keys))
    x ^= np.uint64(rng.integers(0, 2**63))
    out = []
    for _ in range(k):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
        out.append((z >> np.uint64(11)).astype(np.float64) * 2.0**-53)
    return out


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
    start = picked.column("start").cast(pa.int64()).to_numpy(zero_copy_only=False)
    end = pc.fill_null(picked.column("end"), picked.column("start"))
    end = end.cast(pa.int64()).to_numpy(zero_copy_only=False)
    discharge = np.isin(picked.column("kind").to_numpy(zero_copy_only=False), _AT_END)
    base = np.where(discharge, end, start)
    patients, kinds = picked.column("patient_id").to_pylist(), picked.column("kind").to_pylist()
    contact = zip(patients, kinds, start.tolist(), strict=True)
    u, hours, late_days = _uniforms([f"{p}|{k}|{t}" for p, k, t in contact], rng, 3)
    hours = 2 + 38 * hours
    late_days = 4 + 11 * late_days
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
