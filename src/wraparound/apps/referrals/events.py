"""Referral events flow back to the warehouse (``DIR/app_referrals/referral_events.parquet``),
one row per step of every referral and request: the patient's pseudonym, the kind
(``referral`` or ``request``), the transition and the states it left and entered, when, the
service (directory id and sector), the specialty and its treatment function
(``pathways.toml``), and the working days the step took from the one before (the advice and
triage times the indicators will count). Written by ``wraparound app export-events`` (so
also by ``app refresh`` and the demo) through ``apps/export_events.py``. Patients with the
national data opt-out are left out; sorted and written to a temporary file renamed over the
old one, as the other app events are.

Not yet read by ``analytics/indicators``: the referral indicators still count outpatient
attendances (docs/clinical-content.md says what is left).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from wraparound.apps.referrals import rules, timers
from wraparound.apps.referrals.models import ReferralEvent

DIR_NAME = "app_referrals"
FILE_NAME = "referral_events.parquet"
SCHEMA = pa.schema(
    [
        ("referral_id", pa.string()),
        ("patient_id", pa.string()),
        ("machine", pa.string()),
        ("transition", pa.string()),
        ("from_state", pa.string()),
        ("to_state", pa.string()),
        ("at", pa.timestamp("us", tz="UTC")),
        ("service_id", pa.string()),
        ("sector", pa.string()),
        ("specialty", pa.string()),
        ("treatment_function", pa.string()),
        ("working_days", pa.int32()),
        ("reason_code", pa.string()),
    ]
)


def path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / DIR_NAME / FILE_NAME


def rows() -> pa.Table:
    tf = {code: p.treatment_function or None for code, p in rules.pathways().items()}
    found = (
        ReferralEvent.objects.filter(referral__patient__opted_out=False)
        .order_by("referral_id", "at", "pk")
        .values_list(
            "referral__identifier",
            "referral__patient__pseudonym",
            "referral__machine",
            "transition",
            "from_state",
            "to_state",
            "at",
            "referral__service__service_id",
            "referral__service__sector",
            "referral__specialty",
            "reason_code",
            "referral_id",
        )
    )
    cols: dict[str, list] = {name: [] for name in SCHEMA.names}
    last: dict[int, object] = {}
    for (
        ident,
        pseud,
        mach,
        code,
        before,
        after,
        at,
        sid,
        sector,
        spec,
        reason,
        rid,
    ) in found.iterator(chunk_size=5000):
        prev = last.get(rid)
        last[rid] = at
        for key, value in (
            ("referral_id", ident),
            ("patient_id", pseud),
            ("machine", mach),
            ("transition", code),
            ("from_state", before or None),
            ("to_state", after),
            ("at", at),
            ("service_id", sid),
            ("sector", sector),
            ("specialty", spec or None),
            ("treatment_function", tf.get(spec)),
            ("working_days", timers.working_days_between(prev.date(), at.date()) if prev else None),
            ("reason_code", reason or None),
        ):
            cols[key].append(value)
    return pa.table(cols, schema=SCHEMA)


def export(warehouse_dir: Path) -> int:
    table = rows()
    target = path(warehouse_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as sink:
            pq.write_table(table, sink)
            sink.flush()
            os.fsync(sink.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return table.num_rows
