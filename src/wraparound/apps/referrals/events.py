"""Referral events flow back to the warehouse (``DIR/app_referrals/referral_events.parquet``),
one row per step of every referral and request: the patient's pseudonym, the kind
(``referral`` or ``request``), the transition and the states it left and entered, when, the
service (directory id and sector), the specialty and its treatment function
(``pathways.toml``), and the working days the step took from the one before (the advice and
triage times the indicators will count). Written by ``wraparound app export-events`` (so
also by ``app refresh`` and the demo) through ``apps/export_events.py``. Patients with the
national data opt-out are left out; sorted and written to a temporary file renamed over the
old one, as the other app events are.

The same export writes app events the indicators count (``DIR/app_events/
referral_events.parquet``, ``inputs.APP_EVENT_SCHEMA``; one row per patient, kind and day),
each dated the day its clock started so both halves of a pair fall in the same month:

- ``advice_requested`` and, when the service answered by the end of its stated advice days
  (working days), ``advice_answered_in_time``;
- ``advice_avoided_referral``: advice accepted with no referral, dated when it was asked;
- ``referral_received`` (a referral entering triage) and, when it was accepted, redirected
  or rejected within the service's triage days, ``triage_in_time``.

The step file is read back by ``analytics/indicators/inputs.py``: each referral's first step
into ``referred`` is a referral sent, counted by ``referrals_by_specialty`` (per 1,000
person-years by treatment function, high and low outliers).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from django.utils import timezone

from wraparound.analytics.indicators.inputs import APP_EVENT_SCHEMA, APP_REFERRALS
from wraparound.apps.referrals import rules, timers
from wraparound.apps.referrals.models import ReferralEvent
from wraparound.warehouse import paths

DIR_NAME, FILE_NAME = APP_REFERRALS  # read back by analytics/indicators/inputs.py
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


APP_EVENTS_FILE = "referral_events.parquet"  # under DIR/app_events/
TRIAGED = ("accept", "redirect", "reject")


def path(warehouse_dir: Path) -> Path:
    return Path(warehouse_dir) / DIR_NAME / FILE_NAME


def app_events_path(warehouse_dir: Path) -> Path:
    return paths.app_events_dir(warehouse_dir) / APP_EVENTS_FILE


def collect_app_events() -> list[tuple[str, str, object]]:
    """``(pseudonym, kind, date)`` for the indicators, one per patient, kind and day."""
    out: set[tuple[str, str, object]] = set()
    found = (
        ReferralEvent.objects.filter(referral__patient__opted_out=False)
        .order_by("referral_id", "at", "pk")
        .values_list(
            "referral_id",
            "referral__patient__pseudonym",
            "transition",
            "at",
            "referral__service__advice_days",
            "referral__service__triage_days",
        )
    )
    defaults = rules.limits()["timers"]
    asked: dict[int, object] = {}
    received: dict[int, object] = {}
    for rid, pseud, code, at, advice_days, triage_days in found.iterator(chunk_size=5000):
        day = timezone.localdate(at)
        if code == "request_advice":
            asked.setdefault(rid, day)
            out.add((pseud, "advice_requested", day))
        elif code == "give_advice" and rid in asked:
            days = advice_days if advice_days is not None else defaults["advice_days"]
            if day <= timers.add_working_days(asked[rid], days):
                out.add((pseud, "advice_answered_in_time", asked[rid]))
        elif code == "accept_advice" and rid in asked:
            out.add((pseud, "advice_avoided_referral", asked[rid]))
        elif code == "receive":
            received.setdefault(rid, day)
            out.add((pseud, "referral_received", day))
        elif code in TRIAGED and rid in received:
            days = triage_days if triage_days is not None else defaults["triage_days"]
            if day <= timers.add_working_days(received[rid], days):
                out.add((pseud, "triage_in_time", received[rid]))
    return sorted(out, key=lambda e: (e[0], e[1], e[2]))


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
    """Write both files; returns the number of step rows."""
    events = collect_app_events()
    _write(
        pa.table(
            {
                "patient_id": [e[0] for e in events],
                "kind": [e[1] for e in events],
                "date": [e[2] for e in events],
            },
            schema=APP_EVENT_SCHEMA,
        ),
        app_events_path(warehouse_dir),
    )
    table = rows()
    _write(table, path(warehouse_dir))
    return table.num_rows


def _write(table: pa.Table, target: Path) -> None:
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
